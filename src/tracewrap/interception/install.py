"""``wrap(client)``: installing and removing the wrappers on one client.

(``wrap(openai)`` patches the SDK's classes instead, process-wide: :mod:`.sdk_patch`.) A client
is traced by replacing, on its resource objects (``client.chat.completions``, ...), each method
named by a traced path with a ``wrapt.FunctionWrapper`` around the bound original. The client
object itself is untouched, so ``isinstance`` and everything else hold. The SDK caches its
``with_raw_response`` / ``with_streaming_response`` wrappers per resource and builds them around the
method it finds; dropping those caches makes them rebuild around ours. The client's own ``request``
is wrapped too, for calls that reach it without a traced resource object (:mod:`.request_layer`),
and its ``copy`` / ``with_options``, so the clients they derive are traced too.

Those three are methods of the client itself, bound to it, so they are not stored on the client:
a shallow copy of it (``copy.copy(client)``) copies its ``__dict__``, and a bound method found there
would send the copy's requests with the original's API key, headers and ``base_url``, and derive
clients from the original. Instead the client class's method is replaced, once, by a
:class:`ClientMethod`: the SDK's own bound method for any client ``wrap`` did not trace (and on the
class), the traced one for a client it did, built for the client it is looked up on. A copy
(which carries the original's mark) is traced as the original was, as itself, when first used.

A resource the client has not built yet is not built by ``wrap``: the SDK builds each one on first
use (``client.responses``, a ``functools.cached_property`` of the client class) and openai 3.x only
then imports its modules (the Responses API and its streaming helpers ~50 ms), so walking every
traced path at once cost ~90 ms of imports before the first call. Such a path is wrapped when the
client builds its resource: the client class's property is replaced by one that hands a wrapped
client's new resource to its :class:`Installation` before the client stores it
(:class:`TracedResourceProperty`; for any other client it only builds). Calls pay nothing for it.

Where a client sends (``server.address``, ``server.port``, the provider its host means) is read
into its :class:`ClientSites`, kept while the client's ``base_url`` is the URL object they were read
from: the SDK's setter (``client.base_url = ...``) stores a new one, and the next call reads the new
host. A call pays one dictionary look-up and an identity test for it.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import wrapt

from tracewrap.endpoints import CONNECT_PATHS, KNOWN_PATHS, SDK_DEPENDENT_PATHS, Endpoint, resolve
from tracewrap.fork_safe import module_lock
from tracewrap.interception import websocket
from tracewrap.interception.calls import WrapperFunction, async_wrapper, sync_wrapper
from tracewrap.interception.coroutine_methods import ReportsCoroutine
from tracewrap.interception.deprecation import deprecation_of
from tracewrap.interception.in_place import RebuiltAsMethod, SeenAsWrapped
from tracewrap.interception.request_layer import async_request_wrapper, sync_request_wrapper, traced_endpoints
from tracewrap.options import TraceOptions
from tracewrap.telemetry.lifecycle import CallSite, ClientInfo, internal_error

_MARK = "_tracewrap_installation"
_UNWRAPPED = object()  # an unwrapped client's sites' url: no client's base_url is it
_RAW_CACHES = ("with_raw_response", "with_streaming_response")
CLIENT_CLASSES = ("OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI")

# OpenAI-compatible hosts whose provider is known (gen_ai.provider.name); documented in the README
KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.together.xyz": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
UNKNOWN_PROVIDER = "openai_compatible"


class TracedMethod(RebuiltAsMethod, SeenAsWrapped, wrapt.FunctionWrapper):
    """Marks a method tracewrap installed, so wrapping again never stacks a second span. Built as
    ``TracedMethod(method, wrapper=...)``: two arguments alone rebuild a method (:class:`RebuiltAsMethod`)."""


class AsyncTracedMethod(ReportsCoroutine, TracedMethod):
    """An async one: seen as a coroutine function (:mod:`.coroutine_methods`)."""


# Where the SDK keeps the URL its ``base_url`` property returns and its setter replaces (openai 3.x,
# then 1.x / 2.x), and the modules of the SDK's own getters, which return that object as it is.
_URL_ATTRIBUTES = ("_configured_base_url", "_base_url")
_SDK_URL_GETTERS = ("openai._base_client", "openai._client")
_PROBED = object()  # the ``url`` of sites whose client's base_url is probed: no stored URL is it
UrlProbe = Callable[[Any], Any]


class ClientSites(dict):  # type: ignore[type-arg]
    """One client's call sites per endpoint, for ``options``, and where it sends (``info``), read
    from its ``base_url`` when ``url`` was the object that says where it points.

    For a client of the SDK's own classes ``url`` is the URL object ``base_url`` returns, stored at
    ``client.__dict__[url_key]``, which the SDK's setter replaces: the sites hold while
    ``client.__dict__.get(url_key) is url`` (a call's one look-up). A client whose ``base_url`` is
    computed on each read has ``url`` :data:`_PROBED`, so that test always fails, and a ``probe``
    that reads it again, on every call, to compare with what it read before (``seen``:
    :func:`current_sites`): the module-level client (``openai.chat...``) follows ``openai.base_url``
    when set, else its own URL, so its probe reads just those two; a subclass with a property of its
    own is read through that property and compared by value."""

    __slots__ = ("info", "options", "probe", "seen", "url", "url_key")
    info: ClientInfo
    options: TraceOptions
    probe: UrlProbe | None
    seen: Any
    url: Any
    url_key: str | None

    def site(self, endpoint: Endpoint) -> CallSite:
        site = self.get(endpoint)
        if site is None:
            site = self[endpoint] = CallSite(endpoint, self.options, self.info)
        return site


def _read_base_url(client: Any) -> Any:
    return getattr(client, "base_url", None)


def _module_client_probe(module: Any, key: str) -> UrlProbe:
    """What the SDK's module-level client reads its ``base_url`` from: ``openai.base_url`` when set,
    else its own URL object (``openai/__init__.py``: ``_ModuleClient.base_url``)."""

    def probe(client: Any) -> Any:
        value = module.base_url
        return value if value is not None else client.__dict__.get(key)

    return probe


def _url_source(client: Any) -> tuple[str | None, UrlProbe | None]:
    """``(url_key, None)`` when ``client.base_url`` returns ``client.__dict__[url_key]`` itself (the
    SDK's own getter), else ``(None, probe)``."""
    getter = getattr(inspect.getattr_static(type(client), "base_url", None), "fget", None)
    attributes = getattr(client, "__dict__", {})
    key = next((name for name in _URL_ATTRIBUTES if name in attributes), None)
    if key is not None and getattr(getter, "__module__", None) in _SDK_URL_GETTERS:
        try:
            if client.base_url is attributes[key]:
                return key, None
        except Exception:
            return None, _read_base_url
    module = sys.modules.get(type(client).__module__.partition(".")[0])
    module_client = getattr(module, "_ModuleClient", None)
    if (
        key is not None
        and isinstance(module_client, type)
        and isinstance(client, module_client)
        and inspect.getattr_static(type(client), "base_url", None) is vars(module_client).get("base_url")
        and hasattr(module, "base_url")
    ):
        return None, _module_client_probe(module, key)
    return None, _read_base_url


def new_sites(client: Any, options: TraceOptions) -> ClientSites:
    sites = ClientSites()
    sites.options = options
    sites.url_key, sites.probe = key, probe = _url_source(client)
    # the URL before the info read from it: a setter in between leaves a stale ``url`` (the next
    # call reads again), never stale info kept
    if probe is None:
        sites.url, sites.seen = client.__dict__.get(key), None
    else:
        sites.url, sites.seen = _PROBED, probe(client)
    sites.info = client_info(client, options)
    return sites


def current_sites(client: Any, options: TraceOptions, known: ClientSites | None) -> ClientSites:
    """``known`` while it still holds for ``client`` (its options, where its ``base_url`` points),
    else new sites. The slow path: a call takes it when ``known`` is missing or its URL object is
    not the client's any more, and on every call of a client whose ``base_url`` is computed."""
    if known is not None and known.options is options and known.probe is not None:
        try:
            now = known.probe(client)
            if now is known.seen or (known.probe is _read_base_url and now == known.seen):
                return known
        except Exception as exc:
            internal_error("base_url", exc)
            return known
    return new_sites(client, options)


# a traced form of a client method, from the SDK's method bound to the client (ClientMethod)
ClientMethodFactory = Callable[[Any], Any]


@dataclass
class Installation:
    paths: tuple[str, ...]
    options: TraceOptions
    client: Any
    sites: ClientSites
    # (resource, method name, tracewrap's proxy set there): what unwrap takes off again
    patched: list[tuple[Any, str, Any]] = field(default_factory=list)
    active: bool = True  # False once unwrapped: a proxy someone else's patch still holds passes through
    # per resource the client had not built at wrap time (``"responses"``): the paths under it,
    # wrapped on every object built for it (two threads may both build one: either may be stored)
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the client's own methods traced (``request``, ``copy``, ``with_options``): how, by name, and
    # those built, per ClientMethod (one per class of the MRO defining the name: a subclass's
    # ``request`` calling ``super().request`` reaches the SDK's, traced as its own)
    method_factories: dict[str, ClientMethodFactory] = field(default_factory=dict)
    methods: dict[Any, Any] = field(default_factory=dict)

    def current(self) -> ClientSites:
        """The client's call sites, for where its ``base_url`` points now."""
        sites = self.sites
        if self.client.__dict__.get(sites.url_key) is not sites.url:
            sites = self.sites = current_sites(self.client, self.options, sites)
        return sites

    def site(self, endpoint: Endpoint) -> CallSite:
        return self.current().site(endpoint)

    def site_of(self, endpoint: Endpoint) -> Callable[[Any], CallSite]:
        """A traced method's ``site_of``: :meth:`site`, its last answer kept with the sites it came
        from, valid while their URL object is the client's (per call: no look-up by endpoint, whose
        hash is a dataclass's over every field)."""
        attributes = self.client.__dict__
        sites = self.current()
        last = (sites, sites.site(endpoint))  # one tuple: threads see a site with its own sites

        def site_of(_resource: Any) -> CallSite | None:
            nonlocal last
            sites, site = last
            if attributes.get(sites.url_key) is sites.url:
                return site
            if not self.active:  # (unwrap makes the test above fail)
                return None
            sites = self.current()
            site = sites.site(endpoint)
            last = (sites, site)
            return site

        return site_of

    def wrap_methods(self, plan: list[tuple[Any, str, Endpoint]]) -> None:
        for resource, method, endpoint in plan:
            original = getattr(resource, method)
            if isinstance(original, TracedMethod):
                continue
            if method in vars(resource):
                # someone else's patch on this very resource (instructor.patch(client), a test's
                # stub): what it returns is its own, not the SDK's answer, so it is left as it is and
                # the SDK calls it makes are traced one by one at the client's request layer
                continue
            site_of, deprecation = self.site_of(endpoint), deprecation_of(original)
            if inspect.iscoroutinefunction(inspect.unwrap(original)):
                wrapper = async_wrapper(site_of, deprecation)
                proxy: type[TracedMethod] = AsyncTracedMethod
            else:
                wrapper, proxy = sync_wrapper(site_of, deprecation), TracedMethod
            # the class's method: followed if the class changes it (not a deprecated one, which calls
            # its undecorated function, its warning's stacklevel counting the frames to the caller)
            if deprecation is None:
                wrapper = _following_the_class(type(resource), method, wrapper)
            traced = proxy(original, wrapper=wrapper)
            setattr(resource, method, traced)
            for cache in _RAW_CACHES:
                resource.__dict__.pop(cache, None)
            self.patched.append((resource, method, traced))

    def resource_built(self, client: Any, name: str, resource: Any) -> None:
        """``client`` built its resource ``name``: wrap the paths under it (never raises)."""
        paths = self.pending.get(name)
        if not paths:
            return
        root = SimpleNamespace(**{name: resource})  # not ``client``: it has not stored the resource yet
        try:
            try:
                plan = plan_paths(root, paths)
            except ValueError:  # a known path this SDK version lacks: the others, one by one
                plan = []
                for path in paths:
                    try:
                        plan += plan_paths(root, (path,))
                    except ValueError as exc:
                        internal_error(f"tracing {path}", exc)
            self.wrap_methods(plan)
        except Exception as exc:  # the user's first use of the resource must not fail for it
            internal_error(f"tracing client.{name}", exc)


class ClientMethod:
    """A client class's method (``request``, ``copy``, ``with_options``) as ``wrap(client)`` leaves
    it: looked up on a client ``wrap`` traced, that client's traced method; on any other client and
    on the class, what the SDK's gives (the function, a plain bound method). Other attributes are
    the SDK's function's (``inspect``, and ``wrap(openai)``, which wraps ``request`` over this)."""

    def __init__(self, original: Any, name: str) -> None:
        self.original = original
        self.name = name
        self.__wrapped__ = original

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        original = self.original
        if instance is None:
            return original.__get__(None, owner)
        installation = instance.__dict__.get(_MARK)
        if installation is None:
            return original.__get__(instance, owner)
        if installation.client is not instance:  # a copy of a traced client: traced as itself
            installation = own_installation(instance)
            if installation is None:
                return original.__get__(instance, owner)
        traced = installation.methods.get(self)
        if traced is None:
            factory = installation.method_factories.get(self.name)
            if factory is None:
                return original.__get__(instance, owner)
            traced = installation.methods[self] = factory(original.__get__(instance, owner))
        return traced

    def __getattr__(self, name: str) -> Any:
        if name == "original":  # (not set yet: never forward it)
            raise AttributeError(name)
        return getattr(self.original, name)


def _hook_client_method(cls: type, name: str) -> bool:
    """Replace the client class's method ``name`` (where the MRO defines it) by a ClientMethod."""
    with _hooking:
        klass = _defining_class(cls, name)
        if klass is None:
            return False
        original = vars(klass)[name]
        if not isinstance(original, ClientMethod):
            if not hasattr(original, "__get__"):
                return False
            setattr(klass, name, ClientMethod(original, name))
        return True


_adopting = module_lock(globals(), "_adopting")


def own_installation(client: Any) -> Installation | None:
    """``client``'s installation; a client that carries another's (a ``copy.copy`` of a traced
    client) is traced anew as itself, with that client's paths and options (never raises)."""
    installation = installation_of(client)
    if installation is None or installation.client is client:
        return installation
    with _adopting:
        installation = installation_of(client)
        if installation is None or installation.client is client:
            return installation
        attributes = client.__dict__
        try:
            del attributes[_MARK]
            # what the copy's __dict__ took from the original's: its sites (where the original sent)
            return installation_of(wrap_client(client, installation.paths, installation.options))
        except Exception as exc:
            internal_error("tracing a copied client", exc)
            return None


def _defining_class(owner: type, name: str) -> type | None:
    """The first class of ``owner``'s MRO whose own dictionary holds ``name`` (not None), else None."""
    for klass in owner.__mro__:
        if vars(klass).get(name) is not None:
            return klass
    return None


def _class_attribute(owner: type, name: str) -> Any:
    """``name`` as the first class of ``owner``'s MRO holds it (no descriptor called), else None."""
    klass = _defining_class(owner, name)
    return None if klass is None else vars(klass)[name]


def _following_the_class(owner: type, name: str, wrapper: WrapperFunction) -> WrapperFunction:
    """``wrapper`` around the method the resource's class has at the call, where that is not the
    one it had when the resource was wrapped. Bare, an instance finds its class's method as it is
    now: a ``mock.patch.object(Completions, "create")`` made after the client was wrapped is called,
    and one that ended is not (a resource built during such a patch kept the mock for good); a
    class-level wrapper installed later runs (one span: it passes a traced call through). Per call:
    a look-up in the dictionary of the class defining the method (and of any class above it)."""
    defining = _defining_class(owner, name) or owner
    then = vars(defining).get(name)
    mro = owner.__mro__
    above = tuple(vars(klass) for klass in mro[: mro.index(defining)])
    holder = vars(defining)

    def traced(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is not None:
            cls = type(instance)
            if (
                cls is not owner
                or holder.get(name) is not then
                or (above and any(name in held for held in above))  # (usually none above)
            ):
                now = _class_attribute(cls, name)  # changed: bound as an instance's look-up binds it
                bind = getattr(type(now), "__get__", None)
                wrapped = bind(now, instance, cls) if bind is not None else now
        return wrapper(wrapped, instance, args, kwargs)

    return traced


class TracedResourceProperty(functools.cached_property):  # type: ignore[type-arg]
    """A client class's resource property (``OpenAI.chat``) as ``wrap(client)`` leaves it: builds
    the resource as the SDK's did and, for a wrapped client, has it wrapped before it is stored."""

    def __init__(self, original: functools.cached_property) -> None:  # type: ignore[type-arg]
        build, name = original.func, str(original.attrname)

        @functools.wraps(build)
        def build_traced(client: Any) -> Any:
            resource = build(client)
            installation = own_installation(client)
            if installation is not None:
                installation.resource_built(client, name, resource)
            return resource

        super().__init__(build_traced)
        self.attrname = name


def provider_for(host: str | None, client: Any) -> str:
    if "azure" in type(client).__name__.lower() or (host or "").endswith(".openai.azure.com"):
        return "azure.ai.openai"
    if host is None:
        return UNKNOWN_PROVIDER
    return KNOWN_HOSTS.get(host, UNKNOWN_PROVIDER)


def client_info(client: Any, options: TraceOptions) -> ClientInfo:
    base_url = str(getattr(client, "base_url", "") or "")
    parts = urlsplit(base_url)
    host = parts.hostname
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        port = None
    try:
        reference: weakref.ref[Any] | None = weakref.ref(client)
    except TypeError:  # (a client class without weak references)
        reference = None
    return ClientInfo(options.provider or provider_for(host, client), host, port, reference)


def is_client(obj: Any) -> bool:
    try:
        from openai._base_client import AsyncAPIClient, SyncAPIClient
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, (SyncAPIClient, AsyncAPIClient))


def installation_of(client: Any) -> Installation | None:
    return getattr(client, "__dict__", {}).get(_MARK)


def _resource(client: Any, path: str, full_path: str) -> Any:
    obj = client
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"tracewrap: path {full_path!r} does not exist on {type(client).__name__} "
                f"(no attribute {part!r}); check the path or the openai version"
            ) from None
    return obj


def _split_unbuilt(client: Any, paths: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The paths to wrap now, and per resource ``client`` has not built yet the known paths under it
    (a path named by the user, not known, is walked now: that checks it exists)."""
    now: list[str] = []
    later: dict[str, list[str]] = {}
    for path in paths:
        name = path.partition(".")[0]
        if path in KNOWN_PATHS and not _built(client, name):
            later.setdefault(name, []).append(path)
        else:
            now.append(path)
    return tuple(now), {name: tuple(deferred) for name, deferred in later.items()}


def _built(client: Any, name: str) -> bool:
    """Whether looking up ``client.<name>`` builds nothing: built already, or no lazy resource."""
    lazy = isinstance(inspect.getattr_static(type(client), name, None), functools.cached_property)
    return not lazy or name in vars(client)


_hooking = module_lock(globals(), "_hooking")


def _hook_resource(cls: type, name: str) -> None:
    """Replace the class's property ``name`` (where the MRO defines it) by a TracedResourceProperty."""
    with _hooking:
        klass = _defining_class(cls, name)
        original = None if klass is None else vars(klass)[name]
        if isinstance(original, functools.cached_property) and not isinstance(
            original, TracedResourceProperty
        ):
            setattr(klass, name, TracedResourceProperty(original))


def _has_path(client: Any, path: str) -> bool:
    obj = client
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return callable(obj)


def plan_paths(client: Any, paths: tuple[str, ...]) -> list[tuple[Any, str, Endpoint]]:
    """``(resource, method, endpoint)`` to wrap on ``client``; ``ValueError`` names a path it lacks
    (a path of :data:`SDK_DEPENDENT_PATHS` that this SDK version lacks is skipped instead)."""
    plan: dict[tuple[int, str], tuple[Any, str, Endpoint]] = {}
    for path in paths:
        if path in CONNECT_PATHS:  # WebSocket connections: traced per connection (interception.websocket)
            continue
        if path in SDK_DEPENDENT_PATHS and not _has_path(client, path):
            continue
        for resource_path, method, endpoint in resolve(path):
            resource = _resource(client, resource_path, path)
            if not callable(getattr(resource, method, None)):
                raise ValueError(f"tracewrap: path {path!r}: {resource_path}.{method} is not a method")
            plan.setdefault((id(resource), method), (resource, method, endpoint))
    return list(plan.values())


def wrap_client(client: Any, paths: Iterable[str], options: TraceOptions) -> Any:
    if installation_of(client) is not None:
        return client  # idempotent: one span per call however often it is wrapped
    paths = tuple(paths)
    now, later = _split_unbuilt(client, paths)
    plan = plan_paths(client, now)  # validate everything before changing anything

    installation = Installation(paths, options, client, new_sites(client, options), pending=later)
    installation.wrap_methods(plan)
    _drop_cached_wrappers(client, now)
    _trace_request_layer(client, installation)
    _trace_copies(installation)
    websocket.install()  # Responses WebSocket mode: traced per connection, for this client's options
    for name in later:
        _hook_resource(type(client), name)
    client.__dict__[_MARK] = installation
    for name in tuple(later):  # built before the mark (walking a path named by the user, another
        resource = client.__dict__.get(name)  # thread): wrapped now
        if resource is not None:
            installation.resource_built(client, name, resource)
    return client


def _drop_cached_wrappers(client: Any, paths: Iterable[str]) -> None:
    """``client.with_raw_response`` (and ``client.chat.with_raw_response``, ...) are cached on first
    use, and what they cache holds the bound methods of that moment: dropped from the client and
    every resource on a traced path, they rebuild around what is installed now."""
    owners = {id(client): client}
    for path in paths:
        if path in CONNECT_PATHS:  # nothing wrapped there (and ``client.realtime`` imports ~60 ms)
            continue
        if not _built(client, path.partition(".")[0]):  # no cache there yet (and no build, no import)
            continue
        for resource_path, _method, _endpoint in resolve(path):
            obj = client
            for part in resource_path.split("."):
                obj = getattr(obj, part, None)
                if obj is None:
                    break
                owners.setdefault(id(obj), obj)
    for owner in owners.values():
        for cache in _RAW_CACHES:
            if isinstance(inspect.getattr_static(type(owner), cache, None), functools.cached_property):
                owner.__dict__.pop(cache, None)


def _trace_request_layer(client: Any, installation: Installation) -> None:
    """This client's ``request``: calls that bypass its traced resource objects (``client.post(...)``,
    ``client.beta.chat.completions`` / ``client.beta.responses``, whose resource objects are others)."""
    if not _hook_client_method(type(client), "request"):
        return
    enabled = traced_endpoints(installation.paths)

    def site_of(_client: Any, endpoint: Endpoint) -> CallSite:
        return installation.site(endpoint)

    def traced(original: Any) -> TracedMethod:
        if inspect.iscoroutinefunction(inspect.unwrap(original)):
            return AsyncTracedMethod(original, wrapper=async_request_wrapper(lambda: enabled, site_of))
        return TracedMethod(original, wrapper=sync_request_wrapper(lambda: enabled, site_of))

    installation.method_factories["request"] = traced


def _trace_copies(installation: Installation) -> None:
    """``client.with_options(...)`` / ``client.copy(...)`` build new clients: trace those too."""

    def derived(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        new_client = wrapped(*args, **kwargs)
        if new_client is not instance and is_client(new_client):
            wrap_client(new_client, installation.paths, installation.options)
        return new_client

    def traced(original: Any) -> Any:
        return TracedMethod(original, wrapper=derived)

    for name in ("copy", "with_options"):
        if _hook_client_method(type(installation.client), name):
            installation.method_factories[name] = traced


def unwrap_client(client: Any) -> Any:
    installation = installation_of(client)
    if installation is None:
        return client
    installation.active = False
    installation.sites.url = _UNWRAPPED  # every traced method's next call asks site_of again
    for owner, name, traced in installation.patched:
        if owner.__dict__.get(name) is traced:  # a patch set over ours since stays, ours inert in it
            del owner.__dict__[name]
        for cache in _RAW_CACHES:
            owner.__dict__.pop(cache, None)
    _drop_cached_wrappers(client, installation.paths)
    installation.pending.clear()
    installation.methods.clear()
    del client.__dict__[_MARK]
    return client

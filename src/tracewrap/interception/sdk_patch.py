"""``wrap(openai)`` and auto-instrumentation: the SDK's resource classes traced in place, process-wide.

The traced methods (``Completions.create``, ``Responses.create``, ...) are replaced on the SDK's
own resource CLASSES by a ``wrapt.FunctionWrapper``, so every client of the process is traced,
whoever built it and whenever: clients made before the wrap, by a library that imported ``openai``
itself (the Agents SDK, LangChain, litellm's client...), subclasses, the module-level client, and
``with_raw_response`` / ``with_streaming_response`` / the ``.stream()`` helpers (they look the method
up on the resource when they are built). Classes and clients stay the SDK's own objects, so
``isinstance``, subclassing, pickling and ``match`` behave as without tracewrap.

Which classes: the class in each resource's MRO that defines the traced method, found by walking
the traced paths on a probe client of each kind (sync, async; no network). Walking a path builds
its resource, and openai 3.x imports a resource's modules only then (~55 ms for those a chat-only
program never touches): so a known path is walked when the SDK imports its resource's package
(``openai.resources.chat``: a client's first ``client.chat``, or another library importing it),
through a post-import hook, and at once when the package is already imported. The hook runs as the
import ends, before whoever imported it can use or wrap the classes, so the order of layers is the
one an eager patch gives. A path the user named is walked at once, which also checks it exists.

Per call the wrapper finds the client (``resource._client``) and its :class:`CallSite` (provider,
server, options), built once per client and kept in the client's ``__dict__`` (built anew after
the client's ``base_url`` changed: :class:`~tracewrap.interception.install.ClientSites`). A client also
wrapped with ``wrap(client, ...)`` has its own wrappers on its resource objects; they run first,
so that client's options win and the class wrapper passes the call through (one span).

The client's request layer (``SyncAPIClient.request`` / ``AsyncAPIClient.request``) is patched too:
a call for a known endpoint that reaches it without a traced resource method (litellm's
``client.post(...)``, ``client.beta.responses``...) gets its span there (:mod:`.request_layer`),
and so does any other request (a generic ``api_call`` span: files, batches...) while every
default path is traced.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import wrapt

from tracewrap.auto.import_hooks import when_imported
from tracewrap.endpoints import CONNECT_PATHS, KNOWN_PATHS, Endpoint
from tracewrap.fork_safe import module_lock
from tracewrap.interception import websocket
from tracewrap.interception.calls import async_wrapper, sync_wrapper
from tracewrap.interception.coroutine_methods import BoundAsyncMethod, ReportsCoroutine
from tracewrap.interception.deprecation import deprecation_of
from tracewrap.interception.in_place import RebuiltAsMethod, SeenAsWrapped
from tracewrap.interception.install import _MARK, current_sites, plan_paths
from tracewrap.interception.request_layer import async_request_wrapper, sync_request_wrapper, traced_endpoints
from tracewrap.options import TraceOptions
from tracewrap.telemetry.lifecycle import CallSite, internal_error

_SITES = "_tracewrap_sites"  # in a client's __dict__: its ClientSites, for the options in force
Plan = dict[tuple[type, str], Endpoint]  # (class, method name) -> endpoint
Deferred = dict[str, tuple[str, ...]]  # resource package -> the paths walked when it is imported


class BoundSyncMethod(RebuiltAsMethod, SeenAsWrapped, wrapt.BoundFunctionWrapper):
    """What a class's traced sync method gives when looked up on an instance."""


class SdkTracedMethod(SeenAsWrapped, wrapt.FunctionWrapper):
    """A resource class's method as tracewrap replaced it (kept inert if someone wraps over it)."""

    __bound_function_wrapper__ = BoundSyncMethod


class AsyncSdkTracedMethod(ReportsCoroutine, SdkTracedMethod):
    """An async one: seen as a coroutine function, on the class and bound (:mod:`.coroutine_methods`)."""

    __bound_function_wrapper__ = BoundAsyncMethod


@dataclass
class SdkInstallation:
    paths: tuple[str, ...]
    options: TraceOptions
    patched: list[tuple[type, str, Any]] = field(default_factory=list)  # (class, name, original)
    # the known endpoints of ``paths``: picked up at the request layer too (litellm's ``post()``...)
    endpoints: frozenset[Endpoint] = frozenset()
    # per resource package (``openai.resources.chat``...): the paths walked when it is imported
    deferred: Deferred = field(default_factory=dict)


def _enabled() -> frozenset[Endpoint]:
    installation = _installation
    return installation.endpoints if installation is not None else frozenset()


_installation: SdkInstallation | None = None
_lock = module_lock(globals(), "_lock", threading.RLock)


def current() -> SdkInstallation | None:
    return _installation


def _site_of(resource: Any, endpoint: Endpoint) -> CallSite | None:
    return client_site(getattr(resource, "_client", None), endpoint)


def client_site(client: Any, endpoint: Endpoint) -> CallSite | None:
    """The call site of ``client`` for ``endpoint`` under the installation in force."""
    installation = _installation
    if installation is None:  # unwrapped, but someone wrapped over our wrapper: inert
        return None
    attributes = getattr(client, "__dict__", None)
    if attributes is None:
        return None
    sites = attributes.get(_SITES)
    if (
        sites is None
        or sites.options is not installation.options
        or attributes.get(sites.url_key) is not sites.url  # base_url set anew since they were built
    ):
        sites = attributes[_SITES] = current_sites(client, installation.options, sites)
    site = sites.get(endpoint)
    if site is None:
        site = sites.site(endpoint)
    return site


def _request_site(client: Any, endpoint: Endpoint) -> CallSite | None:
    """:func:`client_site` at the request layer, except for a client ``wrap(client)`` traced: its
    own request layer traces it, with its options (when ``wrap(client)`` came first, that layer is
    inside this one: :class:`~tracewrap.interception.install.ClientMethod`)."""
    if _MARK in getattr(client, "__dict__", ()):
        return None
    return client_site(client, endpoint)


def _probe_clients(module: Any) -> list[Any]:
    """One sync and one async client that never send anything (an in-process transport)."""
    base = module._base_client
    http = getattr(base, "httpx2", None) or getattr(base, "httpx", None)

    def refuse(request: Any) -> Any:
        raise RuntimeError("tracewrap: the probe client never sends requests")

    common = {"api_key": "tracewrap-probe", "base_url": "http://tracewrap.invalid/v1", "max_retries": 0}
    return [
        module.OpenAI(**common, http_client=http.Client(transport=http.MockTransport(refuse))),
        module.AsyncOpenAI(**common, http_client=http.AsyncClient(transport=http.MockTransport(refuse))),
    ]


def _defining_class(cls: type, name: str) -> type:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    raise ValueError(f"tracewrap: no class of {cls.__name__} defines {name}")  # pragma: no cover


def _split_paths(module: Any, paths: tuple[str, ...]) -> tuple[tuple[str, ...], Deferred]:
    """The paths to walk now, and per resource package those walked when it is imported.

    Deferred: a known path whose resource package (``openai/resources/chat``) exists and is not
    imported yet, so no client can hold that resource already. Looked up on disk: asking the import
    system would import ``openai.resources``, which on openai 1.x / 2.x imports every resource."""
    now: list[str] = []
    later: dict[str, list[str]] = {}
    root = os.path.join(os.path.dirname(getattr(module, "__file__", None) or ""), "resources")
    for path in paths:
        resource = path.split(".", 1)[0]
        package = f"{module.__name__}.resources.{resource}"
        if (
            path in KNOWN_PATHS
            and package not in sys.modules
            and (
                os.path.isdir(os.path.join(root, resource))
                or os.path.isfile(os.path.join(root, resource + ".py"))
            )
        ):
            later.setdefault(package, []).append(path)
        else:
            now.append(path)
    return tuple(now), {package: tuple(deferred) for package, deferred in later.items()}


def class_plan(module: Any, paths: tuple[str, ...]) -> Plan:
    """``(class, method name) -> endpoint`` for ``paths``; raises ValueError for a path no client has."""
    plan: Plan = {}
    for probe in _probe_clients(module):
        try:
            for resource, method, endpoint in plan_paths(probe, paths):
                plan.setdefault((_defining_class(type(resource), method), method), endpoint)
        finally:
            close = getattr(probe, "close", None)
            if close is not None and not inspect.iscoroutinefunction(close):
                close()
    return plan


def _traced(endpoint: Endpoint, original: Any) -> SdkTracedMethod:
    def site_of(resource: Any) -> CallSite | None:
        return _site_of(resource, endpoint)

    if inspect.iscoroutinefunction(inspect.unwrap(original)):
        return AsyncSdkTracedMethod(original, async_wrapper(site_of, deprecation_of(original)))
    return SdkTracedMethod(original, sync_wrapper(site_of, deprecation_of(original)))


def instrument_sdk(module: Any, paths: tuple[str, ...], options: TraceOptions) -> SdkInstallation:
    """Patch the SDK's resource classes; a second call with other paths or options applies them."""
    global _installation
    installed = _installation
    walked = None
    if installed is None or installed.paths != paths:
        # walked before taking the lock: walking may import, and a resource package's import takes
        # the lock in its post-import hook (another thread's import waiting on us would deadlock)
        walked = _walk(module, paths)  # validates the paths walked now before changing anything
    with _lock:
        installed = _installation
        if installed is not None:
            if installed.paths == paths:
                if installed.options != options:
                    installed.options = options  # clients rebuild their sites on their next call
                return installed
            uninstrument_sdk()
        plan, later = walked or _walk(module, paths)  # (uninstalled by another thread since we looked)
        installation = SdkInstallation(paths, options, deferred=later)
        for (cls, name), endpoint in plan.items():
            _patch_method(installation, cls, name, endpoint)
        _patch_request_layer(module, installation)
        websocket.install()  # Responses WebSocket mode: its connection classes (openai 3.x)
        _installation = installation
    for package in later:  # (run at once if imported since we looked: outside the lock, it walks)
        when_imported(package, _package_imported)  # (not added twice if still waiting from before)
    return installation


def _walk(module: Any, paths: tuple[str, ...]) -> tuple[Plan, Deferred]:
    """The classes to patch now, and the paths deferred to their resource package's import."""
    now, later = _split_paths(module, paths)
    now = tuple(path for path in now if path not in CONNECT_PATHS)  # (no method: interception.websocket)
    return (class_plan(module, now) if now else {}), later


def _patch_method(installation: SdkInstallation, cls: type, name: str, endpoint: Endpoint) -> None:
    original = vars(cls)[name]
    if isinstance(original, SdkTracedMethod):  # left inert by an earlier unwrap: reuse its original
        original = original.__wrapped__
    setattr(cls, name, _traced(endpoint, original))
    installation.patched.append((cls, name, original))


def _package_imported(package: ModuleType) -> None:
    """The SDK imported a resource package: walk the paths deferred to it and patch what they reach.

    Runs at the end of that import, in whoever imported it (a client's first ``client.chat``): it
    must never raise; a path this SDK lacks leaves the others traced."""
    module = sys.modules[package.__name__.partition(".")[0]]  # the SDK (``openai``)
    try:
        for _attempt in range(3):  # again if another thread installs anew while this one walks
            installation = _installation
            paths = installation.deferred.get(package.__name__, ()) if installation is not None else ()
            if not paths:
                return
            plan = _walk_deferred(module, paths)  # outside the lock, as in instrument_sdk
            with _lock:
                if _installation is installation:
                    patched = {(cls, name) for cls, name, _ in installation.patched}
                    for (cls, name), endpoint in plan.items():
                        if (cls, name) not in patched:
                            _patch_method(installation, cls, name, endpoint)
                    return
    except Exception as exc:
        internal_error(f"tracing {package.__name__}", exc)


def _walk_deferred(module: Any, paths: tuple[str, ...]) -> Plan:
    try:
        return class_plan(module, paths)
    except ValueError:  # a path this SDK lacks: the others, one by one
        plan: Plan = {}
        for path in paths:
            try:
                plan.update(class_plan(module, (path,)))
            except ValueError as exc:
                internal_error(f"tracing {path}", exc)
        return plan


def _patch_request_layer(module: Any, installation: SdkInstallation) -> None:
    """``SyncAPIClient.request`` / ``AsyncAPIClient.request``: calls that bypass the resource methods."""
    installation.endpoints = traced_endpoints(installation.paths)
    base = module._base_client
    layers = (
        (base.SyncAPIClient, sync_request_wrapper, SdkTracedMethod),
        (base.AsyncAPIClient, async_request_wrapper, AsyncSdkTracedMethod),
    )
    for cls, make, traced in layers:
        original = vars(cls)["request"]
        if isinstance(original, SdkTracedMethod):
            original = original.__wrapped__
        cls.request = traced(original, make(_enabled, _request_site))
        installation.patched.append((cls, "request", original))


def uninstrument_sdk() -> None:
    """Put the SDK's methods back (a wrapper someone installed over ours stays, ours inert inside)."""
    global _installation
    with _lock:
        installation, _installation = _installation, None
        if installation is None:
            return
        for cls, name, original in installation.patched:
            if isinstance(vars(cls).get(name), SdkTracedMethod):
                setattr(cls, name, original)

"""``wrap(openai)`` and auto-instrumentation: the SDK's resource classes traced in place, process-wide.

The traced methods (``Completions.create``, ``Responses.create``, ...) are replaced on the SDK's
own resource CLASSES by a ``wrapt.FunctionWrapper``, so every client of the process is traced,
whoever built it and whenever: clients made before the wrap, by a library that imported ``openai``
itself (the Agents SDK, LangChain, litellm's client...), subclasses, the module-level client, and
``with_raw_response`` / ``with_streaming_response`` / the ``.stream()`` helpers (they look the method
up on the resource when they are built). Classes and clients stay the SDK's own objects, so
``isinstance``, subclassing, pickling and ``match`` behave as without tracewrap.

Which classes: a probe client of each kind (sync, async; no network) is walked along the traced
paths, and the class in each resource's MRO that defines the method is patched.

Per call the wrapper finds the client (``resource._client``) and its :class:`CallSite` (provider,
server, options), built once per client and kept in the client's ``__dict__``. A client also
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
import threading
from dataclasses import dataclass, field
from typing import Any

import wrapt

from tracewrap.endpoints import Endpoint
from tracewrap.interception import websocket
from tracewrap.interception.calls import async_wrapper, sync_wrapper
from tracewrap.interception.deprecation import deprecation_of
from tracewrap.interception.install import client_info, plan_paths
from tracewrap.interception.request_layer import async_request_wrapper, sync_request_wrapper, traced_endpoints
from tracewrap.options import TraceOptions
from tracewrap.telemetry.lifecycle import CallSite

_SITES = "_tracewrap_sites"  # in a client's __dict__: {endpoint: CallSite} for the options in force


class SdkTracedMethod(wrapt.FunctionWrapper):
    """A resource class's method as tracewrap replaced it (kept inert if someone wraps over it)."""


@dataclass
class SdkInstallation:
    paths: tuple[str, ...]
    options: TraceOptions
    patched: list[tuple[type, str, Any]] = field(default_factory=list)  # (class, name, original)
    # the known endpoints of ``paths``: picked up at the request layer too (litellm's ``post()``...)
    endpoints: frozenset[Endpoint] = frozenset()


def _enabled() -> frozenset[Endpoint]:
    installation = _installation
    return installation.endpoints if installation is not None else frozenset()


_installation: SdkInstallation | None = None
_lock = threading.RLock()


def current() -> SdkInstallation | None:
    return _installation


class _ClientSites(dict):  # type: ignore[type-arg]
    __slots__ = ("options",)


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
    if sites is None or sites.options is not installation.options:
        sites = _ClientSites()
        sites.options = installation.options
        attributes[_SITES] = sites
    site = sites.get(endpoint)
    if site is None:
        options = installation.options
        site = sites[endpoint] = CallSite(endpoint, options, client_info(client, options))
    return site


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


def class_plan(module: Any, paths: tuple[str, ...]) -> dict[tuple[type, str], Endpoint]:
    """``(class, method name) -> endpoint`` for ``paths``; raises ValueError for a path no client has."""
    plan: dict[tuple[type, str], Endpoint] = {}
    for probe in _probe_clients(module):
        try:
            for resource, method, endpoint in plan_paths(probe, paths):
                plan.setdefault((_defining_class(type(resource), method), method), endpoint)
        finally:
            close = getattr(probe, "close", None)
            if close is not None and not inspect.iscoroutinefunction(close):
                close()
    return plan


def _wrapper(endpoint: Endpoint, original: Any) -> Any:
    def site_of(resource: Any) -> CallSite | None:
        return _site_of(resource, endpoint)

    is_async = inspect.iscoroutinefunction(inspect.unwrap(original))
    return (async_wrapper if is_async else sync_wrapper)(site_of, deprecation_of(original))


def instrument_sdk(module: Any, paths: tuple[str, ...], options: TraceOptions) -> SdkInstallation:
    """Patch the SDK's resource classes; a second call with other paths or options applies them."""
    global _installation
    with _lock:
        installed = _installation
        if installed is not None:
            if installed.paths == paths:
                if installed.options != options:
                    installed.options = options  # clients rebuild their sites on their next call
                return installed
            uninstrument_sdk()
        plan = class_plan(module, paths)  # validates every path before changing anything
        installation = SdkInstallation(paths, options)
        for (cls, name), endpoint in plan.items():
            original = vars(cls)[name]
            if isinstance(original, SdkTracedMethod):  # left inert by an earlier unwrap: reuse its original
                original = original.__wrapped__
            setattr(cls, name, SdkTracedMethod(original, _wrapper(endpoint, original)))
            installation.patched.append((cls, name, original))
        _patch_request_layer(module, installation)
        websocket.install()  # Responses WebSocket mode: its connection classes (openai 3.x)
        _installation = installation
        return installation


def _patch_request_layer(module: Any, installation: SdkInstallation) -> None:
    """``SyncAPIClient.request`` / ``AsyncAPIClient.request``: calls that bypass the resource methods."""
    installation.endpoints = traced_endpoints(installation.paths)
    base = module._base_client
    layers = ((base.SyncAPIClient, sync_request_wrapper), (base.AsyncAPIClient, async_request_wrapper))
    for cls, make in layers:
        original = vars(cls)["request"]
        if isinstance(original, SdkTracedMethod):
            original = original.__wrapped__
        cls.request = SdkTracedMethod(original, make(_enabled, client_site))
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

"""Process-wide instrumentation: every OpenAI client the program builds is traced.

``wrap(client)`` needs the client object; zero-code instrumentation has none. So the SDK's client
classes get a wrapper on ``__init__``: once the OUTERMOST wrapped ``__init__`` of an instance has
returned (``AzureOpenAI.__init__`` runs ``OpenAI.__init__`` inside it), that instance goes through
``wrap_client`` exactly like ``wrap(client)``. That covers ``openai.OpenAI()``, ``from openai import
AsyncOpenAI``, Azure and Bedrock clients, subclasses, ``client.with_options()`` / ``copy()`` (they call
``self.__class__(...)``) and the module-level client behind ``openai.chat.completions.create``.
The classes themselves stay the real classes: ``isinstance``, pickling and subclassing are unaffected.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import wrapt

from tracewrap.endpoints import resolve
from tracewrap.integrations import install_agents_tracing
from tracewrap.interception.install import is_client, unwrap_client, wrap_client
from tracewrap.options import Redactor, TraceOptions, build_options, choose_paths
from tracewrap.settings import tracing_enabled

logger = logging.getLogger("tracewrap")

# set on an instance while one of its wrapped __init__s runs, so only the outermost one wraps
_CONSTRUCTING = "_tracewrap_constructing"


class _InitWrapper(wrapt.FunctionWrapper):
    """Marks an ``__init__`` tracewrap replaced, so instrumenting twice never stacks wrappers."""


@dataclass
class _State:
    paths: tuple[str, ...]
    options: TraceOptions
    patched: list[tuple[type, Any]] = field(default_factory=list)  # (class, original __init__)
    clients: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


_state: _State | None = None
_lock = threading.RLock()


def is_instrumented() -> bool:
    return _state is not None


def instrument(
    *,
    paths: Iterable[str] | None = None,
    extra_paths: Iterable[str] = (),
    tracer_provider: Any = None,
    meter_provider: Any = None,
    capture_content: str | None = None,
    content_max_length: int | None = None,
    redact: Redactor | None = None,
    provider: str | None = None,
    estimate_cost: bool = False,
) -> bool:
    """Trace every OpenAI client created from now on (and the module-level client); idempotent.

    Takes ``wrap()``'s options. Returns False (and changes nothing) when the kill switch
    ``TRACEWRAP_ENABLED=false`` / ``OTEL_SDK_DISABLED=true`` is set. Already instrumented: returns
    True and keeps the first call's options (``uninstrument()`` first to change them).
    Clients that already exist, other than the module-level one, are not touched: wrap those.
    """
    global _state
    chosen = _choose_paths(paths, extra_paths)
    options = build_options(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
        content_max_length=content_max_length,
        redact=redact,
        provider=provider,
        estimate_cost=estimate_cost,
    )
    if not tracing_enabled():
        return False
    with _lock:
        if _state is not None:
            return True
        client_classes = _client_classes()  # imports openai: raises ImportError if it is missing
        state = _State(chosen, options)
        for cls in client_classes:
            original = cls.__dict__["__init__"]
            if isinstance(original, _InitWrapper):
                continue
            cls.__init__ = _InitWrapper(original, _traced_init)  # type: ignore[misc]
            state.patched.append((cls, original))
        _state = state
        install_agents_tracing(options)  # OpenAI Agents SDK runs as one trace, once `agents` is imported
        module_client = _module_client()
        if module_client is not None:
            _trace(module_client, state)
    return True


def uninstrument() -> None:
    """Put the SDK's ``__init__``s back and remove tracing from every client ``instrument`` traced."""
    global _state
    with _lock:
        state, _state = _state, None
        if state is None:
            return
        for cls, original in state.patched:
            current = cls.__dict__.get("__init__")
            if isinstance(current, _InitWrapper):
                cls.__init__ = original  # type: ignore[misc]
            # else someone wrapped over ours: ours stays in the chain but is inert with _state None
        for client in list(state.clients):
            unwrap_client(client)


def _traced_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    attributes = getattr(instance, "__dict__", None)
    if attributes is None or attributes.get(_CONSTRUCTING):
        return wrapped(*args, **kwargs)  # an inner __init__ of the chain: the outermost one wraps
    attributes[_CONSTRUCTING] = True
    try:
        wrapped(*args, **kwargs)
    finally:
        attributes.pop(_CONSTRUCTING, None)
    state = _state
    if state is not None:
        _trace(instance, state)


def _trace(client: Any, state: _State) -> None:
    # never break the application's client construction because tracing could not be installed
    try:
        if is_client(client):
            wrap_client(client, state.paths, state.options)
            state.clients.add(client)
    except Exception:
        logger.warning(
            "tracewrap: could not trace a %s; it runs untraced", type(client).__name__, exc_info=True
        )


def _client_classes() -> list[type]:
    """The SDK's client classes that define ``__init__``: the bases and every subclass shipped in openai.

    Only the SDK's own classes: a user's subclass is reached through them, and its ``__init__``
    stays exactly as written.
    """
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    found: list[type] = []
    pending: list[type] = [SyncAPIClient, AsyncAPIClient]
    while pending:
        cls = pending.pop()
        if cls in found:
            continue
        if cls.__module__.split(".")[0] != "openai":
            continue
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if "__init__" in cls.__dict__]


def _module_client() -> Any:
    """The client behind ``openai.chat.completions.create(...)`` if it was already built."""
    import openai

    return getattr(openai, "_client", None)


def _choose_paths(paths: Iterable[str] | None, extra_paths: Iterable[str]) -> tuple[str, ...]:
    chosen = choose_paths(paths, extra_paths)  # wrap()'s checks: a string or a non-iterable is a TypeError
    for path in chosen:
        resolve(path)  # a malformed path is an error at instrument time, not inside a client's __init__
    return chosen

"""The wrapper around one SDK method: open a span, call the SDK, hand the result on.

While the SDK sends the request the span is current, so an instrumented HTTP client nests under
it, and a context variable holds the call in flight: a traced method reached from inside another
(``.stream()`` → ``create``, a second wrapper installed by someone else, ``parse`` → ``create`` in
some SDK versions) passes straight through, so one logical call is one span; the request layer it
reaches tells the call its request is being sent (:meth:`TracedCall.sending`).
The user always gets the SDK's own result or its very exception object.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context

from tracewrap.interception.deprecation import Deprecation
from tracewrap.interception.results import closed_unfinished, fail, finish_async, finish_sync
from tracewrap.telemetry.deferred import collecting
from tracewrap.telemetry.lifecycle import CallSite, TracedCall, internal_error, start

# the traced call in flight in this context (None: none): anything traced it reaches passes through.
# A weak reference: a context copied meanwhile (a task the SDK's HTTP client starts) must not keep
# the call, its span and its response alive.
_in_traced_call: ContextVar[weakref.ref[TracedCall] | None] = ContextVar(
    "tracewrap_in_traced_call", default=None
)

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
# the call site of a call, from the resource object it is made on (None: pass the call through)
SiteOf = Callable[[Any], "CallSite | None"]


def read_args(args: tuple[Any, ...], call: TracedCall) -> None:
    """Positional arguments some endpoints take (``responses.retrieve(response_id)``)."""
    read = call.site.endpoint.read_args
    if read is None:
        return
    try:
        read(args, call.record)
    except Exception as exc:
        internal_error("read_args", exc)


def run_traced(
    call: TracedCall, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The SDK call inside ``call``'s span (current while the SDK sends), marked as traced so any
    traced method or request layer it reaches passes through; the SDK's own result or exception."""
    flag = _in_traced_call.set(weakref.ref(call))
    token = otel_context.attach(call.context)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        fail(call, exc)
        raise
    finally:
        otel_context.detach(token)
        _in_traced_call.reset(flag)
    return finish_sync(call, result)


async def run_traced_async(
    call: TracedCall, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    flag = _in_traced_call.set(weakref.ref(call))
    token = otel_context.attach(call.context)
    restore = True
    try:
        result = await wrapped(*args, **kwargs)
    except GeneratorExit:
        # closed unfinished: its task destroyed while pending, then collected (or coro.close()).
        # Closed by the GC, in another context: resetting this one's tokens there would be a context
        # change inside the GC (docs/gc-safety.md), and fails ("created in a different Context")
        restore = not collecting() and otel_context.get_current() is call.context
        closed_unfinished(call)
        raise
    except BaseException as exc:  # CancelledError too: the span must still end
        fail(call, exc)
        raise
    finally:
        if restore:
            otel_context.detach(token)
            _in_traced_call.reset(flag)
    return await finish_async(call, result)


def sync_wrapper(site_of: SiteOf, deprecation: Deprecation | None = None) -> WrapperFunction:
    """``deprecation``: the method is one the SDK marked deprecated (:mod:`.deprecation`); only
    those few get the outer layer that warns, so no other call pays for the check."""

    def traced(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _in_traced_call.get() is not None:
            return wrapped(*args, **kwargs)
        site = site_of(instance)
        call = start(site, kwargs) if site is not None else None
        if call is None:
            return wrapped(*args, **kwargs)
        if args:
            read_args(args, call)
        return run_traced(call, wrapped, args, kwargs)

    return traced if deprecation is None else _warning_first(traced, deprecation)


def async_wrapper(site_of: SiteOf, deprecation: Deprecation | None = None) -> WrapperFunction:
    """As :func:`sync_wrapper`."""

    async def traced(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _in_traced_call.get() is not None:
            return await wrapped(*args, **kwargs)
        site = site_of(instance)
        call = start(site, kwargs, is_async=True) if site is not None else None
        if call is None:
            return await wrapped(*args, **kwargs)
        if args:
            read_args(args, call)
        return await run_traced_async(call, wrapped, args, kwargs)

    return traced if deprecation is None else _warning_first(traced, deprecation)


def _warning_first(traced: WrapperFunction, deprecation: Deprecation) -> WrapperFunction:
    """A deprecated method's wrapper: the SDK's warning, naming our caller's line as without
    tracewrap, then ``traced`` on the undecorated method. Not async for an async method either: the
    SDK's marker warns when the method is called, not when it is awaited."""

    def traced_deprecated(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return traced(deprecation.warn_and_bind(instance, depth=1), instance, args, kwargs)

    return traced_deprecated

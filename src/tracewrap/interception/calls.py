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
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from functools import partial
from inspect import CORO_CREATED, getcoroutinestate
from types import CoroutineType
from typing import Any

from opentelemetry import context as otel_context

from tracewrap.interception.deprecation import Deprecation
from tracewrap.interception.results import closed_unfinished, fail, finish_async, finish_sync
from tracewrap.telemetry.deferred import collecting, defer, forget, watch_until_end
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


async def run_traced_async(call: TracedCall, sdk_call: Awaitable[Any]) -> Any:
    """:func:`run_traced` for an async method: awaits the coroutine the SDK method returned."""
    flag = _in_traced_call.set(weakref.ref(call))
    token = otel_context.attach(call.context)
    restore = True
    try:
        result = await sdk_call
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
    """As :func:`sync_wrapper`, for a method that returns a coroutine. Not itself async: the SDK's
    method is called at once, so a wrong argument raises at the call, not at ``await``, as bare
    (the SDK's ``required_args`` check, a coroutine function's own binding). The span starts when
    the coroutine is awaited, as the SDK's request does; inside a traced call, or for a client
    that is not traced, the caller gets the SDK's very coroutine."""

    def traced(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        sdk_call = wrapped(*args, **kwargs)
        if _in_traced_call.get() is not None:
            return sdk_call
        site = site_of(instance)
        if site is None:
            return sdk_call
        if sdk_call.__class__ is not CoroutineType and not hasattr(sdk_call, "__await__"):
            return sdk_call  # nothing to await (a test's MagicMock over the method): as bare
        watch: list[weakref.ref[Any]] = []
        coroutine = _traced_coroutine(site, sdk_call, args, kwargs, watch)
        if sdk_call.__class__ is CoroutineType:  # (a stand-in's awaitable may be anything)
            # named as the SDK's (a task's repr, a never-awaited warning)
            coroutine.__name__ = sdk_call.__name__
            coroutine.__qualname__ = sdk_call.__qualname__
            # ours may end without ever running (closed, thrown into by a task cancelled before
            # its first step, dropped): the SDK's is then closed unstarted, as bare it would have
            # been (no "never awaited" warning of its own). Queued: the watch runs inside the GC
            try:
                close = partial(defer, partial(_close_unstarted, sdk_call, watch))
                watch.append(watch_until_end(coroutine, close))
            except Exception as exc:  # (no thread left to start at interpreter shutdown...)
                internal_error("async_wrapper", exc)
        return coroutine

    return traced if deprecation is None else _warning_first(traced, deprecation)


async def _traced_coroutine(
    site: CallSite,
    sdk_call: Awaitable[Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    watch: list[weakref.ref[Any]],
) -> Any:
    if watch:  # running: it awaits the SDK's coroutine (closing it if closed meanwhile)
        forget(watch[0])
    if _in_traced_call.get() is not None:
        # awaited inside another traced call: a second wrapper over this one (wrap(client) of an
        # AsyncOpenAI under wrap(openai)) made its coroutine around ours before either ran
        return await sdk_call
    call = start(site, kwargs, is_async=True)
    if call is None:
        return await sdk_call
    if args:
        read_args(args, call)
    return await run_traced_async(call, sdk_call)


def _close_unstarted(sdk_call: Coroutine[Any, Any, Any], watch: list[weakref.ref[Any]]) -> None:
    # (the watch also fires at exit for a coroutine still held, which may yet be awaited: not that one)
    if watch[0]() is None and getcoroutinestate(sdk_call) == CORO_CREATED:
        sdk_call.close()


def _warning_first(traced: WrapperFunction, deprecation: Deprecation) -> WrapperFunction:
    """A deprecated method's wrapper: the SDK's warning, naming our caller's line as without
    tracewrap, then ``traced`` on the undecorated method. Not async for an async method either: the
    SDK's marker warns when the method is called, not when it is awaited."""

    def traced_deprecated(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return traced(deprecation.warn_and_bind(instance, depth=1), instance, args, kwargs)

    return traced_deprecated

"""What an SDK method returned, and how its call's span is finished.

* a model (``ChatCompletion``, ``Response``, ...): read it, end the span now;
* a ``Stream`` / ``AsyncStream``: traced in place, the span ends with the stream;
* a raw response from ``with_raw_response`` (``LegacyAPIResponse``, already read): parse it — the
  SDK caches what ``parse()`` returns, so the user later gets the very object we read or traced;
* a response from ``with_streaming_response`` (``APIResponse``, body not read yet): a stream is
  parsed (that reads nothing) and traced; otherwise its ``parse`` is hooked so the body is read
  when the user reads it, and closing it unread ends the span;
* a raw body read some other way (``.json()``, ``.read()``/``.text()``, ``iter_bytes()``,
  ``iter_lines()``, of a JSON body or of a stream): read from the bytes as they pass
  (:mod:`.raw_body`), so the span gets what the parsed path would have given it.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from tracewrap.interception.in_place import bound_like
from tracewrap.interception.raw_body import tap_json_body
from tracewrap.interception.streams import ABANDONED, CLOSED_EARLY, instrument_stream
from tracewrap.telemetry.deferred import collecting, defer, watch_until_end
from tracewrap.telemetry.lifecycle import TracedCall, internal_error

try:  # the SDK's classes, for isinstance checks; openai 1.x, 2.x and 3.x all have these modules
    from openai import AsyncStream, BaseModel, ContentFilterFinishReasonError, LengthFinishReasonError, Stream
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse, AsyncAPIResponse
except ImportError:  # pragma: no cover - tracewrap only intercepts calls of an installed openai
    Stream = AsyncStream = BaseModel = LegacyAPIResponse = APIResponse = AsyncAPIResponse = ()  # type: ignore
    ContentFilterFinishReasonError = LengthFinishReasonError = ()  # type: ignore


def _is_stream(response: Any) -> bool:
    # APIResponse calls it _is_sse_stream, LegacyAPIResponse _stream
    return bool(getattr(response, "_is_sse_stream", False) or getattr(response, "_stream", False))


def _status_code(raw: Any) -> int | None:
    code = getattr(getattr(raw, "http_response", None), "status_code", None)
    return code if isinstance(code, int) else None


def fail(call: TracedCall, exc: BaseException) -> None:
    """The SDK call raised: record it and end the call. A parse helper's finish-reason error still
    carries the completion it refused (``LengthFinishReasonError``; ``ContentFilterFinishReasonError``
    on openai 3.x): a response that was billed, read like any other, so its usage and finish reason
    are counted (the finish as the model gave it, the span an error as the user's call raised)."""
    if collecting():  # raised as the GC closes the call's coroutine (the SDK's clean-up failing
        closed_unfinished(call)  # under GeneratorExit: openai 3.x's "aclose(): asynchronous
        return  # generator is already running"), not the call's own failure: nobody waits for it
    if isinstance(exc, (LengthFinishReasonError, ContentFilterFinishReasonError)):
        completion = getattr(exc, "completion", None)
        if completion is not None:
            call.read_response(completion)
    call.fail(exc)
    call.end()


def closed_unfinished(call: TracedCall) -> None:
    """The awaiting coroutine was closed before the SDK answered (``GeneratorExit``: its task was
    destroyed while pending and collected, or ``coro.close()``): nobody waits for the answer, the
    caller gave up; a cancellation, not an error. Inside the GC only the end is queued."""
    call.record.cancelled = True
    if collecting():
        defer(partial(call.end, time.perf_counter()))
    else:
        call.end()


def finish_sync(call: TracedCall, result: Any) -> Any:
    try:
        if not isinstance(result, BaseModel):  # the common case first: a parsed model, read below
            if isinstance(result, Stream):
                return instrument_stream(result, call, is_async=False)
            if isinstance(result, AsyncStream):
                return instrument_stream(result, call, is_async=True)
            if isinstance(result, LegacyAPIResponse):
                return _finish_legacy_raw(call, result)
            if isinstance(result, APIResponse):
                return _finish_streaming_response(call, result)
            # langsmith's traced stream (``wrap_openai`` under tracewrap's wrapper): the SDK's
            # stream inside it is traced in place, before langsmith's generator first reads it
            inner = getattr(result, "__ls_stream__", None)
            if isinstance(inner, (Stream, AsyncStream)):
                instrument_stream(inner, call, is_async=isinstance(inner, AsyncStream))
                return result
        # a model, or anything else the SDK returns (a list page, a compatible server's dict...)
        call.site.endpoint.read_response(result, call.record, call.capture_content)
        if call.observed is not None:
            call.observed.response = result
    except Exception as exc:
        internal_error("finish", exc)
    call.end()
    return result


async def finish_async(call: TracedCall, result: Any) -> Any:
    try:
        if isinstance(result, AsyncAPIResponse):
            if _is_stream(result):
                # the caller holds the response and its status, as with a raw JSON body
                call.record.http_status_code = _status_code(result)
                instrument_stream(await result.parse(), call, is_async=True, raw=True)
            else:
                _hook_lazy_parse(call, result, is_async=True)
            return result
    except Exception as exc:
        internal_error("finish", exc)
        call.end()
        return result
    return finish_sync(call, result)


def _finish_legacy_raw(call: TracedCall, raw: Any) -> Any:
    call.record.http_status_code = _status_code(raw)
    try:
        parsed = raw.parse()
    except Exception as exc:  # a malformed body, a refused completion: the user's parse() raises it too
        fail(call, exc)
        return raw
    if isinstance(parsed, (Stream, AsyncStream)):
        instrument_stream(parsed, call, is_async=isinstance(parsed, AsyncStream), raw=True)
        return raw
    call.read_response(parsed)
    call.end()
    return raw


def _finish_streaming_response(call: TracedCall, response: Any) -> Any:
    if _is_stream(response):
        call.record.http_status_code = _status_code(response)  # handed to the caller, as a JSON body's
        instrument_stream(response.parse(), call, is_async=False, raw=True)
    else:
        _hook_lazy_parse(call, response, is_async=False)
    return response


def _hook_lazy_parse(call: TracedCall, response: Any, is_async: bool) -> None:
    """Read the body when the user parses it; end unread if the response is closed first, and as
    abandoned if it is dropped, neither parsed nor closed (as a stream dropped unread).

    The hooks sit on the response and its HTTP response and hold both (the originals they call are
    bound to them): a reference cycle. Once the call has ended they only pass calls on, so they take
    themselves off (:func:`_unhook`): the response then goes with its last reference, as without
    tracewrap, instead of waiting for the cyclic GC."""
    call.record.http_status_code = _status_code(response)
    original_parse = response.parse
    http_response = response.http_response
    parsing = [False]  # reading the body closes the response: that close is not "unread"
    # built here, on the call path: the code that runs inside the GC only queues it
    abandon = partial(_end_abandoned, call, time.perf_counter())
    # an entry whose call ends some other way (parsed, closed) only queues a no-op when it goes
    watch_until_end(response, partial(defer, abandon))
    hooks: list[tuple[Any, str, Any]] = []  # (object, name, the hook set on it), once installed

    def read_raw(body: Any) -> None:  # the user read the body another way (.json(), .read()...)
        if not call.ended:
            call.read_response(body)
            call.end()
            _unhook(hooks)

    def failed(exc: BaseException) -> None:
        _parse_failed(call, exc)
        if call.ended:
            _unhook(hooks)

    # reading the body failed (a dropped connection): the call failed as a parse would
    tap = tap_json_body(http_response, is_async, read_raw, failed, lambda: parsing[0])
    bytes_name = "aiter_bytes" if is_async else "iter_bytes"

    if is_async:

        async def parse_async(_response: Any, *args: Any, **kwargs: Any) -> Any:
            parsing[0] = True
            try:
                parsed = await original_parse(*args, **kwargs)
            except GeneratorExit:  # the awaiting coroutine was closed unfinished (collected): the
                raise  # response's watch ends it abandoned, outside the GC
            except BaseException as exc:
                failed(exc)
                raise
            finally:
                parsing[0] = False
            if not call.ended:
                call.read_response(parsed)
                call.end()
            _unhook(hooks)
            return parsed

        response.parse = bound_like(parse_async, original_parse)
        original_aclose = http_response.aclose

        async def aclose(_response: Any) -> None:
            try:
                await original_aclose()
            finally:
                if not parsing[0] and not tap.reading and not call.ended:
                    if collecting():  # an `async with` exiting as the GC closes its coroutine
                        defer(abandon)
                    else:
                        _end_unread(call)
                        _unhook(hooks)

        http_response.aclose = bound_like(aclose, original_aclose)
        _remember(hooks, (response, "parse"), (http_response, "aclose"), (http_response, bytes_name))
        return

    def parse(_response: Any, *args: Any, **kwargs: Any) -> Any:
        parsing[0] = True
        try:
            parsed = original_parse(*args, **kwargs)
        except BaseException as exc:
            failed(exc)
            raise
        finally:
            parsing[0] = False
        if not call.ended:
            call.read_response(parsed)
            call.end()
        _unhook(hooks)
        return parsed

    response.parse = bound_like(parse, original_parse)
    original_close = http_response.close

    def close(_response: Any) -> None:
        try:
            original_close()
        finally:
            if not parsing[0] and not tap.reading and not call.ended:
                if collecting():  # closed as the GC collects the dropped response: end it later
                    defer(abandon)
                else:
                    _end_unread(call)
                    _unhook(hooks)

    http_response.close = bound_like(close, original_close)
    _remember(hooks, (response, "parse"), (http_response, "close"), (http_response, bytes_name))


def _remember(hooks: list[tuple[Any, str, Any]], *places: tuple[Any, str]) -> None:
    """Note the hook now set at each (object, name), to take it off later (:func:`_unhook`)."""
    hooks.extend((obj, name, vars(obj).get(name)) for obj, name in places)


def _unhook(hooks: list[tuple[Any, str, Any]]) -> None:
    """Take the hooks off (each one still in place: a later one set over it by someone else stays);
    the objects' own methods answer again. Called once their call has ended."""
    try:
        for obj, name, hook in hooks:
            if hook is not None and vars(obj).get(name) is hook:
                delattr(obj, name)
        hooks.clear()
    except Exception as exc:
        internal_error("unhook", exc)


def _parse_failed(call: TracedCall, exc: BaseException) -> None:
    """The user's ``parse()`` or raw read raised (a malformed body, a dropped connection): the call
    failed, as the same body would have failed the plain ``create()``; not a response closed unread.
    Raised as the GC closes the reading coroutine, it is the drop, which the response's watch ends."""
    if not call.ended and not collecting():
        fail(call, exc)


def _end_abandoned(call: TracedCall, handed_over: float) -> None:
    """Run from the deferred queue: the response was dropped unread; it ended when handed over."""
    if not call.ended:
        call.record.stream_outcome = ABANDONED
        call.end(handed_over)


def _end_unread(call: TracedCall) -> None:
    if not call.ended:
        call.record.stream_outcome = CLOSED_EARLY
        call.end()

"""Raw bodies read without ``.parse()``: the same telemetry as the parsed path.

A response from ``with_streaming_response`` (or the HTTP response under ``with_raw_response``) can
be read with ``.json()``, ``.read()`` / ``.text()``, ``iter_bytes()`` / ``iter_lines()``. Every one
of these goes through the HTTP response's ``iter_bytes`` / ``aiter_bytes`` (httpx and httpx2), so
that method is replaced, on that one response object, by a pass-through that reads what goes by:

* a JSON body is collected (up to :data:`MAX_BODY` bytes) and read as the model would be, once
  the user reached its end;
* a stream's server-sent events are decoded as they pass and handed to the stream's tracker,
  exactly like the chunks of a parsed ``Stream`` (which reads the same bytes: while our traced
  ``Stream`` iterator runs, the tap only passes bytes through).

The HTTP response closes itself from inside the byte iterator at the end of the body; ``reading``
tells the close hooks that this close is the end, not the user leaving early.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from tracewrap.interception.in_place import bound_like

MAX_BODY = 16 * 1024 * 1024  # a JSON body larger than this is passed through unread


class SSEReader:
    """Incremental server-sent events → JSON objects, decoded as the SDK's own ``SSEDecoder`` does.

    Lines end in LF, CRLF or a lone CR (a CRLF may be split across two pieces); ``data`` fields are
    joined with LF, comments and other fields skipped; an event ends at a blank line, and one left
    unfinished when the body ends is dropped (the SDK yields no event for it). Data starting with
    ``[DONE]`` ends the stream, as it ends the SDK's iteration; data that is not JSON is skipped.
    A line, or an event's data, longer than :data:`MAX_BODY` is dropped with its event, so memory
    stays bounded whatever the server sends.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_done",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "_spoiled",
        "on_event",
    )

    def __init__(self, on_event: Callable[[Any], None]) -> None:
        self.on_event = on_event
        self._pending: list[bytes] = []  # the pieces of a line not ended yet
        self._pending_size = 0
        self._skip_lf = False  # the last piece ended with CR: an LF that follows belongs to it
        self._data: list[bytes] = []
        self._data_size = 0
        self._spoiled = False  # the event lost an overlong line, or grew past the bound: dropped at its end
        self._done = False

    def feed(self, chunk: bytes) -> None:
        if self._done or not chunk:
            return
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:  # only the LF of a CRLF split across pieces
                    return
        if b"\n" not in chunk and b"\r" not in chunk:  # the middle of a long line: kept as a piece
            self._keep(chunk)
            return
        if self._pending:
            chunk = b"".join(self._pending) + chunk
            self._pending, self._pending_size = [], 0
        lines = chunk.splitlines(keepends=True)  # on bytes: LF, CRLF and CR only
        if not lines[-1].endswith((b"\n", b"\r")):
            self._keep(lines.pop())
        else:
            self._skip_lf = lines[-1].endswith(b"\r")
        for line in lines:
            self._line(line.rstrip(b"\r\n"))
            if self._done:
                return

    def close(self) -> None:
        """The body ended: an unfinished line or event is dropped, as the SDK drops it."""
        self._pending, self._data = [], []

    def _keep(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > MAX_BODY:  # no line end in sight: drop the line and its event
            self._pending, self._pending_size = [], 0
            self._spoiled = True

    def _line(self, line: bytes) -> None:
        if not line:
            data, self._data, self._data_size = self._data, [], 0
            spoiled, self._spoiled = self._spoiled, False
            if not data or spoiled:
                return
            joined = b"\n".join(data)
            if joined.startswith(b"[DONE]"):
                self._done = True
                return
            try:  # decoded first, as the SDK does: json.loads would guess UTF-16 from NUL bytes
                event = json.loads(joined.decode("utf-8"))
            except ValueError:  # (UnicodeDecodeError is one)
                return
            self.on_event(event)
            return
        if line[:1] == b":":  # a comment
            return
        name, _, value = line.partition(b":")
        if name == b"data" and not self._spoiled:
            value = value[1:] if value[:1] == b" " else value
            self._data_size += len(value) + 1
            if self._data_size > MAX_BODY:  # data lines with no blank line in sight: drop the event
                self._data, self._data_size, self._spoiled = [], 0, True
                return
            self._data.append(value)


class BodyTap:
    """Replaces ``iter_bytes`` / ``aiter_bytes`` on one HTTP response; see the module docstring.

    ``on_chunk(bytes)`` sees each piece the user reads, ``on_end()`` runs once the body was read to
    its end, ``on_error(exc)`` when reading it failed (a connection dropped mid-body: the user gets
    that exception too); ``passing()`` says when to only pass bytes through (the parsed path is
    reading).
    """

    __slots__ = ("on_chunk", "on_end", "on_error", "passing", "reading")

    def __init__(
        self,
        on_chunk: Callable[[bytes], None],
        on_end: Callable[[], None],
        on_error: Callable[[BaseException], None],
        passing: Callable[[], bool],
    ) -> None:
        self.on_chunk = on_chunk
        self.on_end = on_end
        self.on_error = on_error
        self.passing = passing
        self.reading = False

    def install(self, http_response: Any, is_async: bool) -> None:
        if is_async:
            original_async = http_response.aiter_bytes

            def aiter_bytes(_response: Any, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
                return _TappedAsync(self, original_async(*args, **kwargs))

            http_response.aiter_bytes = bound_like(aiter_bytes, original_async)
            return
        original = http_response.iter_bytes

        def iter_bytes(_response: Any, *args: Any, **kwargs: Any) -> Iterator[bytes]:
            return self._tapped(original(*args, **kwargs))

        http_response.iter_bytes = bound_like(iter_bytes, original)

    def _tapped(self, source: Iterator[bytes]) -> Iterator[bytes]:
        if self.passing():
            yield from source
            return
        while True:
            self.reading = True
            try:
                chunk = next(source)
            except StopIteration:
                break
            except BaseException as exc:  # (KeyboardInterrupt too: the parsed path records it)
                self.reading = False
                self._safe(self.on_error, exc)
                raise
            finally:
                self.reading = False
            self._safe(self.on_chunk, chunk)
            yield chunk
        self._safe(self.on_end)

    @staticmethod
    def _safe(function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:
            from tracewrap.telemetry.lifecycle import internal_error

            internal_error("raw body", exc)


class _TappedAsync:
    """``aiter_bytes()`` through a tap: an async iterator, not an async generator, on purpose.

    Dropped half-read together with the SDK's own byte generator, two async generators would both
    be closed by asyncio's finalizer hook, ours awaiting the SDK's ``aclose()`` while the hook's task
    runs it too: ``aclose(): asynchronous generator is already running``, printed as a task exception
    nobody retrieves. An iterator object has no finalizer: the SDK's generator is closed by its own,
    as without tracewrap; ``aclose()`` called by the user closes it at once.
    """

    __slots__ = ("_source", "_state", "_tap")

    def __init__(self, tap: BodyTap, source: AsyncIterator[bytes]) -> None:
        self._tap = tap
        self._source = source.__aiter__()
        self._state = 0  # 0: not started, 1: tapping, 2: passing through, 3: ended

    def __aiter__(self) -> _TappedAsync:
        return self

    async def __anext__(self) -> bytes:
        tap = self._tap
        state = self._state
        if state == 0:
            state = self._state = 2 if tap.passing() else 1
        if state == 2:
            return await self._source.__anext__()
        if state == 3:
            raise StopAsyncIteration
        tap.reading = True
        try:
            chunk = await self._source.__anext__()
        except StopAsyncIteration:
            tap.reading = False
            self._state = 3
            tap._safe(tap.on_end)
            raise
        except GeneratorExit:  # the reading coroutine was closed unfinished (its task destroyed, then
            tap.reading = False  # collected): the watch on the stream or response ends it abandoned,
            raise  # outside the GC (docs/gc-safety.md)
        except BaseException as exc:  # CancelledError too: the call ends as cancelled
            tap.reading = False
            tap._safe(tap.on_error, exc)
            raise
        tap.reading = False
        tap._safe(tap.on_chunk, chunk)
        return chunk

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


# bodies never collected: the SDK reads a model's body as JSON whatever its content type says (a
# compatible server's text/plain JSON included), so only media are passed over (speech's audio)
_MEDIA_TYPES = ("audio/", "image/", "video/", "application/octet-stream")


def tap_json_body(
    http_response: Any,
    is_async: bool,
    on_body: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
    passing: Callable[[], bool],
) -> BodyTap:
    """Collect a JSON body the user reads raw; ``on_body(obj)`` once it was read to its end.

    A media body (speech's binary audio) is not collected, a body past :data:`MAX_BODY` bytes not
    kept (a large embeddings answer), and a body that is not JSON after all (from the wire: nothing
    wrong with the call) reads as nothing: ``on_body(None)`` at its end.
    """
    parts: list[bytes] = []
    size = [0]
    try:
        content_type = str(http_response.headers.get("content-type") or "").strip().lower()
    except Exception:
        content_type = ""
    if content_type.startswith(_MEDIA_TYPES):
        size[0] = -1  # not JSON: nothing to read from it

    def on_chunk(chunk: bytes) -> None:
        if 0 <= size[0] <= MAX_BODY:
            size[0] += len(chunk)
            parts.append(chunk)

    def on_end() -> None:
        if size[0] < 0 or size[0] > MAX_BODY:  # media, or too large to hold: read to its end all the same
            parts[:] = []
            on_body(None)
            return
        body, parts[:] = b"".join(parts), []
        try:
            parsed = json.loads(body)  # bytes, as httpx's .json() and so the SDK's parse() read them
        except (ValueError, RecursionError):
            parsed = None
        on_body(parsed)

    tap = BodyTap(on_chunk, on_end, on_error, passing)
    tap.install(http_response, is_async)
    return tap


def streamed_error(event: Any) -> str | None:
    """The message of the ``APIError`` the SDK's ``Stream`` raises for ``event`` (a mapping with a
    truthy ``error``: a chat stream's mid-stream failure), or None for any other event."""
    if not isinstance(event, dict) or not event.get("error"):
        return None
    error = event["error"]
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


def tap_event_stream(
    http_response: Any, is_async: bool, tracker: Any, passing: Callable[[], bool]
) -> BodyTap:
    """Decode a stream's events from the bytes the user reads raw, into ``tracker`` (a StreamTracker)."""
    from tracewrap.interception.streams import COMPLETED, ERROR

    add = tracker.adder()

    def on_event(event: Any) -> None:
        if tracker.call.ended:  # an error event ended it: the SDK's iteration reads no further
            return
        message = streamed_error(event)
        if message is not None:  # where the parsed path's Stream raises APIError(message)
            record = tracker.call.record
            record.error_type, record.error_message = "APIError", message
            tracker.end(ERROR)
            return
        now = time.perf_counter()
        tracker.count += 1
        if tracker.count == 1:
            tracker.started(now)
        tracker.last = now
        if add is not None:
            add(event)

    reader = SSEReader(on_event)

    def on_end() -> None:
        reader.close()
        tracker.end(COMPLETED)

    def on_error(exc: BaseException) -> None:
        tracker.end(ERROR, exc)

    tap = BodyTap(reader.feed, on_end, on_error, passing)
    tap.install(http_response, is_async)
    return tap

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

MAX_BODY = 16 * 1024 * 1024  # a JSON body larger than this is passed through unread


class SSEReader:
    """Incremental server-sent events → JSON objects (``[DONE]`` and non-JSON data skipped)."""

    __slots__ = ("_data", "_pending", "on_event")

    def __init__(self, on_event: Callable[[Any], None]) -> None:
        self.on_event = on_event
        self._pending = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            self._line(line.rstrip(b"\r"))

    def close(self) -> None:
        if self._pending:
            self._line(self._pending.rstrip(b"\r"))
            self._pending = b""
        self._line(b"")

    def _line(self, line: bytes) -> None:
        if not line:
            if self._data:
                data, self._data = b"\n".join(self._data), []
                if data != b"[DONE]":
                    try:
                        event = json.loads(data)
                    except ValueError:
                        return
                    self.on_event(event)
            return
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)


class BodyTap:
    """Replaces ``iter_bytes`` / ``aiter_bytes`` on one HTTP response; see the module docstring.

    ``on_chunk(bytes)`` sees each piece the user reads, ``on_end()`` runs once the body was read to
    its end; ``passing()`` says when to only pass bytes through (the parsed path is reading).
    """

    __slots__ = ("on_chunk", "on_end", "passing", "reading")

    def __init__(
        self, on_chunk: Callable[[bytes], None], on_end: Callable[[], None], passing: Callable[[], bool]
    ) -> None:
        self.on_chunk = on_chunk
        self.on_end = on_end
        self.passing = passing
        self.reading = False

    def install(self, http_response: Any, is_async: bool) -> None:
        if is_async:
            original_async = http_response.aiter_bytes

            def aiter_bytes(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
                return self._tapped_async(original_async(*args, **kwargs))

            http_response.aiter_bytes = aiter_bytes
            return
        original = http_response.iter_bytes

        def iter_bytes(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            return self._tapped(original(*args, **kwargs))

        http_response.iter_bytes = iter_bytes

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
            finally:
                self.reading = False
            self._safe(self.on_chunk, chunk)
            yield chunk
        self._safe(self.on_end)

    async def _tapped_async(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        if self.passing():
            async for chunk in source:
                yield chunk
            return
        iterator = source.__aiter__()
        try:
            while True:
                self.reading = True
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    self.reading = False
                self._safe(self.on_chunk, chunk)
                yield chunk
            self._safe(self.on_end)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    @staticmethod
    def _safe(function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:
            from tracewrap.telemetry.lifecycle import internal_error

            internal_error("raw body", exc)


def tap_json_body(
    http_response: Any, is_async: bool, on_body: Callable[[Any], None], passing: Callable[[], bool]
) -> BodyTap:
    """Collect a JSON body the user reads raw; ``on_body(obj)`` once it was read to its end.

    A body that is not JSON (speech's binary audio) is not collected: ``on_body(None)`` at its end.
    """
    parts: list[bytes] = []
    size = [0]
    try:
        content_type = str(http_response.headers.get("content-type") or "")
    except Exception:
        content_type = ""
    if content_type and "json" not in content_type:
        size[0] = -1  # not JSON: nothing to read from it

    def on_chunk(chunk: bytes) -> None:
        if 0 <= size[0] <= MAX_BODY:
            size[0] += len(chunk)
            parts.append(chunk)

    def on_end() -> None:
        if size[0] < 0:
            on_body(None)
            return
        if size[0] > MAX_BODY:
            return
        body, parts[:] = b"".join(parts), []
        on_body(json.loads(body))

    tap = BodyTap(on_chunk, on_end, passing)
    tap.install(http_response, is_async)
    return tap


def tap_event_stream(
    http_response: Any, is_async: bool, tracker: Any, passing: Callable[[], bool]
) -> BodyTap:
    """Decode a stream's events from the bytes the user reads raw, into ``tracker`` (a StreamTracker)."""
    from tracewrap.interception.streams import COMPLETED

    add = tracker.adder()

    def on_event(event: Any) -> None:
        now = time.perf_counter()
        tracker.count += 1
        if tracker.count == 1:
            tracker.first = now
        tracker.last = now
        if add is not None:
            add(event)

    reader = SSEReader(on_event)

    def on_end() -> None:
        reader.close()
        tracker.end(COMPLETED)

    tap = BodyTap(reader.feed, on_end, passing)
    tap.install(http_response, is_async)
    return tap

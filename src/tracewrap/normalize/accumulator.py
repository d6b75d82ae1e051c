"""The contract every per-API stream state keeps: fed chunk by chunk, read once at the end.

An endpoint that can stream names a factory (``Endpoint.new_accumulator``, called with whether
content capture is on) whose objects keep this protocol. The stream code
(:mod:`tracewrap.interception.streams`, and for WebSocket / realtime connections
:mod:`tracewrap.interception.websocket`) calls :meth:`Accumulator.add` for each chunk or event as
it passes, and when the stream ends :meth:`Accumulator.finish` once, then reads
:attr:`Accumulator.finished` and :meth:`Accumulator.final`. The implementations:
``normalize.chat.ChatStreamAccumulator`` (chat and text completions),
``normalize.responses.ResponsesStreamAccumulator``, ``normalize.media.MediaStreamAccumulator``
(images, transcriptions) and ``normalize.realtime.RealtimeAccumulator``.

Optional, read by the stream code where present:

* ``skips_plain_chunks``: while True, ``add`` changes nothing for a chunk whose ``usage`` is None
  and whose ``choices`` carry no ``finish_reason``; the stream code then skips the call for such
  chunks (chat streams with content capture off, once the envelope is read);
* ``all_arrived(record)``: a stream its reader closed lost nothing (every choice the request asked
  for finished, the usage chunk it asked for came): it counts as completed. Without it, ``finished``;
* ``errored``: the server ended the stream with an error event the SDK yields instead of raising
  (Responses' ``error``): the stream's outcome is ``error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from tracewrap.record import CallRecord


@runtime_checkable
class Accumulator(Protocol):
    """One stream's state: memory flat in the stream's length (only text when capture is on)."""

    def add(self, chunk: Any) -> None:
        """Fold one chunk / event in; runs on every chunk, so it stays cheap and never buffers."""

    def finish(self, record: CallRecord) -> None:
        """Write what the stream amounted to (finish reasons, usage, output, errors) into ``record``."""

    @property
    def finished(self) -> bool:
        """Whether the stream's end arrived (a finish reason / terminal event): if not, it was cut off."""

    def final(self) -> Any:
        """The object the stream amounts to, as observers see a non-streamed response (or None)."""


# ``Endpoint.new_accumulator``: called with whether content capture is on
AccumulatorFactory = Callable[[bool], Accumulator]

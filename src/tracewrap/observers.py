"""Hooks for sinks that need more than a span, such as the LangSmith exporter.

An observer sees each traced call start (in the caller's thread and context, so it can read its
own context, e.g. LangSmith's current run; ``kwargs`` are the call's arguments, and a stream is
one with ``stream=True`` among them) and end (with the finished record and ``response``). Observers must be
fast and must not block; their errors are caught and logged once.

An observer may also define ``on_send(call)``: called at most once per call, between ``on_start``
and ``on_end``, when the SDK hands the HTTP request to its client, in the context it does so in:
inside any wrapper that sits between tracewrap's and the SDK method (``langsmith.wrappers.wrap_openai``
applied to a client before ``tracewrap.wrap(client)``), where ``on_start`` runs outside it. A call
that never reaches the SDK's request (it failed before; a WebSocket message) gets no ``on_send``.
And ``on_first_chunk(call)``: a stream's first chunk arrived, in the context the stream is read in
(a wrapper reading it for the application may make its own context current there, as
``wrap_openai`` does for an async stream, whose run is current only while it is read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import Span

from tracewrap.record import CallRecord


@dataclass(slots=True)
class ObservedCall:
    record: CallRecord
    span: Span
    kwargs: Mapping[str, Any]
    start_time_ns: int
    end_time_ns: int | None = None
    first_chunk_time_ns: int | None = None
    # the wrap()'s redaction hook: for observers that record content the record does not hold
    redact: Callable[[str], str] | None = None
    # what the call returned, set before on_end: the SDK's response object (ChatCompletion,
    # Response, ...), or for a stream the final object built while it passed (a Response, or a
    # chat completion as a dict); None when nothing came back or it could not be read
    response: Any = None
    # per-observer scratch space, keyed by the observer's id()
    state: dict[int, Any] = field(default_factory=dict)
    # made through an async client (awaited)
    is_async: bool = False


class CallObserver(Protocol):
    # when True, prompts and outputs are read into the record (spans still follow the OTel switch)
    wants_content: bool

    def on_start(self, call: ObservedCall) -> None: ...

    def on_end(self, call: ObservedCall) -> None: ...


_observers: list[CallObserver] = []


def add_observer(observer: CallObserver) -> None:
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: CallObserver) -> None:
    if observer in _observers:
        _observers.remove(observer)


def current_observers() -> list[CallObserver]:
    return _observers

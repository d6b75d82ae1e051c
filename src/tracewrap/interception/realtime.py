"""Realtime connections (``client.realtime.connect()``, openai 3.x): one span per response.

The connection machinery is Responses WebSocket mode's (:mod:`.websocket`: the same patches, read
paths, close and drop handling); what differs is how a realtime session names its responses:

* a ``response.create`` (``connection.response.create(response={...})``, ``send``, ``send_raw``,
  queued on the manager) starts a span; its request is the ``response`` parameters, and the model
  is the connection's (``connect(model=...)``, then the one ``session.created`` / ``session.updated``
  report), since realtime events carry none;
* ``response.created`` gives the oldest waiting create its response id; one with no create waiting
  is a response the server started itself (server VAD): it gets its own span from that moment;
* events carry ``response_id``; ``response.done`` ends the span with the response's status, usage
  (text, audio and cached tokens) and output;
* an ``error`` event names the client event it answers (``error.event_id``): it ends the waiting
  create that sent that ``event_id``, or, when it names none, the oldest waiting create. An error
  naming another event (an empty audio buffer committed...) ends nothing.

No session span: as for Responses WebSocket mode, each response nests under the span current when
it was asked for (a server-started one, under the span current when its ``response.created`` was
read).
"""

from __future__ import annotations

from typing import Any

from tracewrap.interception.websocket import _CREATE, ConnectionTraces, _Turn, decode
from tracewrap.normalize.values import field
from tracewrap.telemetry.lifecycle import CallSite

_UNSET_NAMES = ("Omit", "NotGiven")


class RealtimeTraces(ConnectionTraces):
    __slots__ = ("model",)

    def __init__(self, site: CallSite, model: str | None) -> None:
        super().__init__(site)
        self.model = model

    def sent(self, payload: Any) -> _Turn | None:
        message = decode(payload)
        if message is None or message.get("type") != _CREATE:
            return None
        response = message.get("response")
        kwargs: dict[str, Any] = {}
        if isinstance(response, dict):
            kwargs = {k: v for k, v in response.items() if type(v).__name__ not in _UNSET_NAMES}
        if self.model is not None:
            kwargs["model"] = self.model
        turn = self.begin(kwargs, None)
        if turn is not None:
            turn.event_id = message.get("event_id")
        return turn

    def received(self, event: Any) -> None:
        try:
            kind = event.type
        except Exception:
            kind = field(event, "type")
        if kind.__class__ is not str:
            return
        turn: _Turn | None
        if kind == "response.created":
            turn = self._created(event)
        elif kind == "response.done":
            turn = self.by_id.get(field(field(event, "response"), "id"))
        elif kind == "error":
            turn = self._error_owner_realtime(event)
        elif kind == "session.created" or kind == "session.updated":
            model = field(field(event, "session"), "model")
            if model.__class__ is str and model:
                self.model = model
            return
        else:
            response_id = field(event, "response_id")
            turn = self.by_id.get(response_id) if response_id.__class__ is str else None
        if turn is not None:
            self.fold(
                turn, event, "completed" if kind == "response.done" else "error" if kind == "error" else None
            )

    def _created(self, event: Any) -> _Turn | None:
        with self.lock:
            queue = self.pending.get(None)
            turn = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self.pending[None]
        if turn is None:  # the server started this response (turn detection): its own span
            turn = self.begin({"model": self.model} if self.model is not None else {}, None, waiting=False)
            if turn is None:
                return None
        response_id = field(field(event, "response"), "id")
        with self.lock:
            if response_id.__class__ is str:
                turn.response_id = response_id
                self.by_id[response_id] = turn
            self.active[None] = turn
        return turn

    def _error_owner_realtime(self, event: Any) -> _Turn | None:
        named = field(field(event, "error"), "event_id")
        with self.lock:
            queue = self.pending.get(None)
            if not queue:
                return None
            if named is None:
                return queue[0]
            for turn in queue:
                if turn.event_id == named:
                    return turn
        return None

    def ending(self, turn: _Turn) -> None:
        record = turn.call.record
        if record.response_model is None and self.model is not None:
            record.response_model = self.model  # the session's model: realtime responses name none

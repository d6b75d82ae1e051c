"""Fake WebSocket servers on 127.0.0.1: Responses WebSocket mode (``client.responses.connect()``)
and the Realtime API (``client.realtime.connect()``).

Built on the ``websockets`` package the SDK itself connects with. Point a client at it with
``base_url=server.base_url`` (the SDK turns ``http`` into ``ws`` and appends ``/responses``). Each
``response.create`` received is answered with the same events an SSE Responses stream carries
(:func:`tracewrap.testing.bodies.response_events`), as WebSocket text frames, with the create's
``stream_id`` echoed on every event. Per create, the next :class:`Scenario` queued with
:meth:`FakeResponsesWebSocketServer.add` decides the answer (default: a normal response):

* ``stream_error``: part of the response, then an ``error`` event in the WebSocket shape
  (``{"type": "error", "sequence_number": n, "error": {"type", "code", "message"}}``);
* ``http_error``: the create is rejected: one ``error`` event with a ``status`` and no
  ``sequence_number``, no ``response.created``;
* ``cut``: part of the response, then the server closes the socket (code 1011);
* ``invalid_json``: a malformed frame in the middle of an otherwise normal response.

``hold = n`` makes the server wait for ``n`` creates, then interleave their events round-robin:
several responses in flight on one connection. ``minimal = True`` answers each normal response with
just its ``response.created`` and ``response.completed`` (a fast path for many-response tests).
A scenario's ``delay_s`` is waited before a response's first event, its ``chunk_delay_s`` between
events. ``inject`` (text frames, sent verbatim) goes out right after each response's ``response.created``,
on both fakes: unknown or malformed events in the middle of a response.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import Server, ServerConnection, serve

from tracewrap.testing.bodies import STREAM_ERROR_MESSAGE, JsonDict, Scenario, response_events, split_text

__all__ = ["FakeRealtimeWebSocketServer", "FakeResponsesWebSocketServer"]

_CUT_CODE = 1011


class _FakeWebSocketServer:
    """The socket, the thread and the scenario queue both fakes share."""

    def __init__(self) -> None:
        self.received: list[JsonDict] = []  # every client message, decoded
        self.connections = 0
        self.hold = 1
        self.minimal = False
        self.inject: list[str] = []
        self._scenarios: deque[Scenario] = deque()
        self._lock = threading.Lock()
        self._count = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *scenarios: Scenario) -> None:
        with self._lock:
            self._scenarios.extend(scenarios)

    def clear(self) -> None:
        with self._lock:
            self._scenarios.clear()
            self.received.clear()
            self.hold = 1
            self.minimal = False
            self.inject = []
            self._count = 0  # response ids start again at resp_ws0001

    def creates(self) -> list[JsonDict]:
        return [m for m in self.received if m.get("type") == "response.create"]

    def start(self) -> Any:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _next(self, prefix: str = "resp_ws") -> tuple[Scenario, str]:
        with self._lock:
            self._count += 1
            scenario = self._scenarios.popleft() if self._scenarios else Scenario()
            return scenario, f"{prefix}{self._count:04d}"

    def _handle(self, connection: ServerConnection) -> None:
        raise NotImplementedError

    def _messages(self, connection: ServerConnection) -> Iterator[JsonDict]:
        """The client's messages, decoded and recorded (anything not a JSON object is skipped)."""
        with self._lock:
            self.connections += 1
        for message in connection:
            try:
                data = json.loads(message)
            except ValueError:
                continue
            if isinstance(data, dict):
                with self._lock:
                    self.received.append(data)
                yield data


class FakeResponsesWebSocketServer(_FakeWebSocketServer):
    """Responses WebSocket mode: ``/v1/responses``."""

    # ------------------------------------------------------------------ protocol

    def _frames(self, request: JsonDict) -> Iterator[str | None]:
        """One create's frames as text; ``None`` means: close the socket here."""
        scenario, response_id = self._next()
        lane = request.get("stream_id")
        if scenario.delay_s > 0:  # the model's time before its first event
            time.sleep(scenario.delay_s)

        def frame(data: JsonDict) -> str:
            return json.dumps({**data, "stream_id": lane} if lane is not None else data)

        if scenario.outcome == "http_error":
            message = scenario.error_message or "Invalid request"
            error = {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": message,
                "param": None,
            }
            yield frame({"type": "error", "status": scenario.status_code, "error": error})
            return
        events = response_events(scenario, request, id=response_id)
        if self.minimal and scenario.outcome == "ok":
            events = [events[0], events[-1]]  # response.created, response.completed
        for k, (_name, data) in enumerate(events):
            if k and scenario.chunk_delay_s > 0:
                time.sleep(scenario.chunk_delay_s)
            if isinstance(data, str):
                yield data  # the deliberately malformed frame
                continue
            if data["type"] == "error":
                error = {"type": "server_error", "code": data.get("code"), "message": data.get("message")}
                yield frame({"type": "error", "sequence_number": data["sequence_number"], "error": error})
            else:
                yield frame(data)
            if data["type"] == "response.created":
                yield from self.inject
        if scenario.outcome == "cut":
            yield None

    def _handle(self, connection: ServerConnection) -> None:
        waiting: list[JsonDict] = []
        for data in self._messages(connection):
            if data.get("type") != "response.create":
                continue
            waiting.append(data)
            if len(waiting) < self.hold:
                continue
            streams = [self._frames(request) for request in waiting]
            waiting = []
            cut = False
            while streams:  # round-robin: the responses are in flight together
                for stream in list(streams):
                    item = next(stream, StopIteration)
                    if item is StopIteration:
                        streams.remove(stream)
                    elif item is None:
                        cut = True
                        streams.remove(stream)
                    else:
                        connection.send(item)
            if cut:
                connection.close(code=_CUT_CODE, reason="fake server: cut mid-response")
                return


class FakeRealtimeWebSocketServer(_FakeWebSocketServer):
    """The Realtime API: ``/v1/realtime?model=...``.

    On connect it sends ``session.created`` naming the model of the URL (or ``default_model``). Each
    ``response.create`` (and each ``input_audio_buffer.commit``: a response the server starts
    itself, as with turn detection) is answered, per the next :class:`Scenario`, with
    ``response.created``, one message item streamed as ``response.output_text.delta`` events (each
    with its ``response_id``) and ``response.done`` carrying the status and usage: input tokens
    ``prompt_tokens`` of which ``media_input_tokens`` audio and ``cached_tokens`` cached; output
    tokens ``completion_tokens`` of which ``output_audio_tokens`` (a server attribute) audio.
    Outcomes: ``failed`` and ``length`` (``incomplete``) in ``response.done``; ``http_error``: the
    create is rejected with an ``error`` event naming its ``event_id``; ``cut``: the server closes
    the socket half-way.
    """

    default_model = "gpt-realtime"

    def __init__(self) -> None:
        super().__init__()
        self.output_audio_tokens: int | None = None

    def clear(self) -> None:
        super().clear()
        self.output_audio_tokens = None

    def _usage(self, scenario: Scenario) -> JsonDict:
        audio_in = scenario.media_input_tokens or 0
        cached = scenario.cached_tokens or 0
        audio_out = self.output_audio_tokens or 0
        return {
            "total_tokens": scenario.prompt_tokens + scenario.completion_tokens,
            "input_tokens": scenario.prompt_tokens,
            "output_tokens": scenario.completion_tokens,
            "input_token_details": {
                "text_tokens": scenario.prompt_tokens - audio_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": scenario.completion_tokens - audio_out,
                "audio_tokens": audio_out,
            },
        }

    def _frames(self, request: JsonDict) -> Iterator[JsonDict | str | None]:
        scenario, response_id = self._next("resp_rt")
        event_ids = iter(range(1_000_000))

        def event(kind: str, **fields: Any) -> JsonDict:
            return {"type": kind, "event_id": f"evt_{response_id}_{next(event_ids)}", **fields}

        if scenario.outcome == "http_error":
            error = {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": scenario.error_message or "Invalid request",
                "param": None,
                "event_id": request.get("event_id"),
            }
            yield event("error", error=error)
            return
        base = {
            "id": response_id,
            "object": "realtime.response",
            "output_modalities": ["text"],
            "metadata": None,
        }
        yield event(
            "response.created", response={**base, "status": "in_progress", "output": [], "usage": None}
        )
        yield from self.inject
        item_id = "item_" + response_id
        text = scenario.text
        item = {"id": item_id, "type": "message", "object": "realtime.item", "role": "assistant"}
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        yield event(
            "response.output_item.added",
            response_id=response_id,
            output_index=0,
            item={**item, "status": "in_progress", "content": []},
        )
        pieces = split_text(text, scenario.chunks)
        for k, piece in enumerate(pieces):
            if scenario.outcome == "cut" and k == len(pieces) // 2:
                yield None
                return
            yield event("response.output_text.delta", **ids, delta=piece)
        yield event("response.output_text.done", **ids, text=text)
        done_item = {**item, "status": "completed", "content": [{"type": "output_text", "text": text}]}
        yield event("response.output_item.done", response_id=response_id, output_index=0, item=done_item)
        status, details = "completed", None
        if scenario.outcome == "failed":
            status = "failed"
            message = scenario.error_message or STREAM_ERROR_MESSAGE
            details = {
                "type": "failed",
                "error": {"type": "server_error", "code": "server_error", "message": message},
            }
        elif scenario.outcome == "length":
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        final = {
            **base,
            "status": status,
            "status_details": details,
            "output": [] if status == "failed" else [done_item],
            "usage": self._usage(scenario),
        }
        yield event("response.done", response=final)

    def _handle(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        model = (query.get("model") or [self.default_model])[0]
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_test", "model": model}
        connection.send(
            json.dumps({"type": "session.created", "event_id": "evt_session", "session": session})
        )
        for data in self._messages(connection):
            if data.get("type") not in ("response.create", "input_audio_buffer.commit"):
                continue
            for frame in self._frames(data):
                if frame is None:
                    connection.close(code=_CUT_CODE, reason="fake server: cut mid-response")
                    return
                connection.send(frame if isinstance(frame, str) else json.dumps(frame))


# the message the ``stream_error`` scenario sends, for assertions
ERROR_MESSAGE = STREAM_ERROR_MESSAGE

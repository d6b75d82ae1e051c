"""A fake Responses WebSocket server (``client.responses.connect()``) on 127.0.0.1.

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
several responses in flight on one connection.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from types import TracebackType

from websockets.sync.server import Server, ServerConnection, serve

from tracewrap.testing.bodies import STREAM_ERROR_MESSAGE, JsonDict, Scenario, response_events

__all__ = ["FakeResponsesWebSocketServer"]

_CUT_CODE = 1011


class FakeResponsesWebSocketServer:
    def __init__(self) -> None:
        self.received: list[JsonDict] = []  # every client message, decoded
        self.connections = 0
        self.hold = 1
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
            self._count = 0  # response ids start again at resp_ws0001

    def creates(self) -> list[JsonDict]:
        return [m for m in self.received if m.get("type") == "response.create"]

    def start(self) -> FakeResponsesWebSocketServer:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeResponsesWebSocketServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ protocol

    def _next(self, request: JsonDict) -> tuple[Scenario, str]:
        with self._lock:
            self._count += 1
            scenario = self._scenarios.popleft() if self._scenarios else Scenario()
            return scenario, f"resp_ws{self._count:04d}"

    def _frames(self, request: JsonDict) -> Iterator[str | None]:
        """One create's frames as text; ``None`` means: close the socket here."""
        scenario, response_id = self._next(request)
        lane = request.get("stream_id")

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
        for _name, data in response_events(scenario, request, id=response_id):
            if isinstance(data, str):
                yield data  # the deliberately malformed frame
            elif data["type"] == "error":
                error = {"type": "server_error", "code": data.get("code"), "message": data.get("message")}
                yield frame({"type": "error", "sequence_number": data["sequence_number"], "error": error})
            else:
                yield frame(data)
        if scenario.outcome == "cut":
            yield None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
        waiting: list[JsonDict] = []
        for message in connection:
            try:
                data = json.loads(message)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            with self._lock:
                self.received.append(data)
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


# the message the ``stream_error`` scenario sends, for assertions
ERROR_MESSAGE = STREAM_ERROR_MESSAGE

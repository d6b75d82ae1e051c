"""An in-process OpenAI backend: the SDK's own client, answered by a ``MockTransport``, no socket.

:class:`MockOpenAI` hands out real ``openai.OpenAI`` / ``openai.AsyncOpenAI`` clients whose HTTP layer
is a ``MockTransport`` (``httpx2`` on openai 3.x, ``httpx`` on 1.x/2.x: :func:`http_library`) serving
the exact bodies and SSE streams the fake server sends (the builders of :mod:`.bodies`, picked by a
:class:`~tracewrap.testing.bodies.Scenario`). Everything but the network is real: request building,
JSON/SSE parsing, pydantic models, sync and async, streams included. Use it where sockets get in the
way (a thousand concurrent calls, a soak, a benchmark whose handler must cost next to nothing); use
:class:`~tracewrap.testing.FakeOpenAIServer` for everything that needs a wire (timeouts, cut
connections, delays, files and other resources).

Serves ``POST /chat/completions``, ``/completions``, ``/embeddings`` and ``/responses``; anything else
answers 404. An answer depends only on the request body (and the scenario chosen for it), so each
distinct request's encoded answer is kept (up to :data:`CACHE_SIZE` of them): a repeated request costs
a dictionary lookup, which keeps the transport out of benchmark figures and memory measurements.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from tracewrap.testing.bodies import (
    JsonDict,
    Scenario,
    agent_step,
    chat_completion_body,
    chat_completion_events,
    completion_body,
    completion_events,
    embeddings_body,
    encode_sse,
    error_body,
    response_body,
    response_events,
    stream_ends_with_done,
)
from tracewrap.testing.server import RecordedRequest

__all__ = ["CACHE_SIZE", "MockOpenAI", "http_library"]

BASE_URL = "http://mock.openai.local/v1"
CACHE_SIZE = 256  # distinct requests whose answers are kept (a thousand distinct ones would grow it)
_KINDS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
_ID_PREFIX = {"chat": "chatcmpl-", "completions": "cmpl-", "responses": "resp_"}
# (status, body bytes, headers): everything an answer needs, built once per distinct request
_Answer = tuple[int, bytes, dict[str, str]]


def http_library() -> ModuleType:
    """The HTTP library the installed ``openai`` SDK uses: ``httpx2`` on 3.x, ``httpx`` on 1.x/2.x."""
    import openai._base_client as base

    http = getattr(base, "httpx2", None) or getattr(base, "httpx", None)
    if http is None:  # pragma: no cover - an SDK that imports neither
        raise RuntimeError("cannot tell which HTTP library openai uses (neither httpx2 nor httpx)")
    return http


class MockOpenAI:
    """OpenAI in process. ``client()`` / ``async_client()`` build SDK clients that talk to it.

    ``default``: the scenario of every request (as ``FakeOpenAIServer``'s default); ``enqueue`` queues
    one-shot scenarios ahead of it. ``scenario_for``: picks the scenario from the request body instead
    (it must depend on the body alone, as answers are reused per distinct body). ``id_suffix``: the
    answer's id after its prefix (``chatcmpl-``, ``resp_``...) from the request body; None keeps the
    builders' fixed ids. ``record``: keep every request in ``requests`` (off by default, as a
    long run would grow it by one per call). ``count`` is the number of requests served.
    """

    def __init__(
        self,
        default: Scenario | None = None,
        *,
        scenario_for: Callable[[JsonDict], Scenario] | None = None,
        id_suffix: Callable[[JsonDict], str] | None = None,
        api_key: str = "sk-mock",
        request_id: str = "req_mock",
        record: bool = False,
    ) -> None:
        self.default = default or Scenario()
        self.scenario_for = scenario_for
        self.id_suffix = id_suffix
        self.api_key = api_key
        self.record = record
        self.requests: list[RecordedRequest] = []
        self.count = 0
        self.http = http_library()
        self._json_headers = {"content-type": "application/json", "x-request-id": request_id}
        self._sse_headers = {"content-type": "text/event-stream", "x-request-id": request_id}
        self._queue: deque[Scenario] = deque()
        self._answers: dict[tuple[str, str, bytes], _Answer] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ clients

    def client(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` answered in process; ``kwargs`` go to its constructor."""
        import openai

        transport = self.http.MockTransport(self.handle)
        return openai.OpenAI(**self._client_args(kwargs), http_client=self.http.Client(transport=transport))

    def async_client(self, **kwargs: Any) -> Any:
        """An ``openai.AsyncOpenAI`` answered in process; ``kwargs`` go to its constructor."""
        import openai

        transport = self.http.MockTransport(self.handle)
        return openai.AsyncOpenAI(
            **self._client_args(kwargs), http_client=self.http.AsyncClient(transport=transport)
        )

    def _client_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"api_key": self.api_key, "base_url": BASE_URL, "max_retries": 0, **kwargs}

    # ------------------------------------------------------------------ scenarios

    def enqueue(self, *scenarios: Scenario | Iterable[Scenario]) -> None:
        """Queue one-shot scenarios, consumed in order by the next requests (then ``default``)."""
        with self._lock:
            for item in scenarios:
                if isinstance(item, Scenario):
                    self._queue.append(item)
                else:
                    self._queue.extend(item)

    # ------------------------------------------------------------------ the transport's handler

    def handle(self, request: Any) -> Any:
        """The ``MockTransport`` handler: one request in, one ``Response`` out."""
        content: bytes = request.content
        path: str = request.url.path
        with self._lock:
            self.count += 1
            queued = self._queue.popleft() if self._queue else None
            if self.record:
                self.requests.append(_recorded(request))
        key = (request.method, path, content)
        answer = None if queued is not None else self._answers.get(key)
        if answer is None:
            answer = self._answer(request.method, path, content, queued)
            if queued is None and len(self._answers) < CACHE_SIZE:
                self._answers[key] = answer
        status, body, headers = answer
        return self.http.Response(status, content=body, headers=headers)

    def _answer(self, method: str, path: str, content: bytes, queued: Scenario | None) -> _Answer:
        kind = _KINDS.get(path) if method == "POST" else None
        if kind is None:
            return self._json(404, error_body(404, f"Invalid URL ({method} {path})"))
        try:
            body = json.loads(content or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._json(400, error_body(400, "The request body is not a JSON object."))
        chosen = queued or (self.scenario_for(body) if self.scenario_for else self.default)
        scenario = agent_step(chosen, body)
        if (
            scenario.delay_s
            or scenario.chunk_delay_s
            or scenario.outcome == "cut"
            or scenario.drop_unfinished
        ):
            raise ValueError("delays and cut connections need a socket: use FakeOpenAIServer")
        if scenario.outcome == "http_error":
            return self._json(
                scenario.status_code,
                error_body(scenario.status_code, scenario.error_message, scenario.error_code),
            )
        stream = bool(body.get("stream"))
        if not stream:
            if scenario.outcome == "stream_error":
                return self._json(500, error_body(500, scenario.error_message))
            if scenario.outcome == "invalid_json":
                return 200, b'{"id": "broken", not json', self._json_headers
        ids = {"id": _ID_PREFIX[kind] + self.id_suffix(body)} if self.id_suffix and kind in _ID_PREFIX else {}
        if kind == "embeddings":
            return self._json(200, embeddings_body(scenario, body))
        if kind == "responses":
            if stream:
                return self._sse(response_events(scenario, body, **ids), scenario, chat_style=False)
            return self._json(200, response_body(scenario, body, **ids))
        if kind == "chat":
            if stream:
                return self._sse(chat_completion_events(scenario, body, **ids), scenario, chat_style=True)
            return self._json(200, chat_completion_body(scenario, body, **ids))
        if stream:
            return self._sse(completion_events(scenario, body, **ids), scenario, chat_style=True)
        return self._json(200, completion_body(scenario, body, **ids))

    def _json(self, status: int, payload: JsonDict) -> _Answer:
        return status, json.dumps(payload, separators=(",", ":")).encode(), self._json_headers

    def _sse(self, events: list[Any], scenario: Scenario, chat_style: bool) -> _Answer:
        done = chat_style and stream_ends_with_done(scenario)
        return 200, encode_sse(events, chat_style, done=done, line_end=scenario.line_end), self._sse_headers


def _recorded(request: Any) -> RecordedRequest:
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        body = None
    headers: dict[str, str] = {}
    for name, value in request.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return RecordedRequest(
        request.method,
        request.url.path,
        headers,
        body if isinstance(body, dict) else None,
        dict(request.url.params),
    )

"""A stdlib-only fake OpenAI HTTP server speaking the real wire format.

Point any OpenAI SDK (1.x/2.x on httpx, 3.x on httpx2) at ``srv.base_url``. Behaviour is picked
server-side via :class:`Scenario` objects so the client's request stays exactly what users send.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tracewrap.testing import media
from tracewrap.testing.bodies import (
    JsonDict,
    Scenario,
    SSEEvent,
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
from tracewrap.testing.resources import ResourceStore

__all__ = ["FakeOpenAIServer", "RecordedRequest"]


@dataclass
class RecordedRequest:
    """One request as received. Header names are lower-cased; ``body`` is None if absent/not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: JsonDict | None
    query: dict[str, str] = field(default_factory=dict)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive handler threads may sit idle on a pooled client connection; don't join them on close.
    block_on_close = False
    request_queue_size = 256  # many concurrent clients (100 agent runs at once) must not be refused
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.openai.com
    disable_nagle_algorithm = True  # small SSE chunks must leave immediately
    timeout = 60  # idle keep-alive connections eventually release their thread
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silence per-request stderr noise in test output

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            # Clients (httpx pools, aborted streams) reset idle keep-alive sockets; not a server bug.
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> JsonDict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return None
        if (self.headers.get("Content-Type") or "").startswith("multipart/form-data"):
            return _form_fields(self.headers.get("Content-Type") or "", raw)
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _dispatch(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._read_body()
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        fake._record(RecordedRequest(self.command, url.path, headers, body, query))
        try:
            self._route(fake, url.path, query, body or {})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # client went away mid-response; nothing to do

    def _route(self, fake: FakeOpenAIServer, path: str, query: dict[str, str], body: JsonDict) -> None:
        method = self.command
        azure = _AZURE_DEPLOYMENT.match(path)  # AzureOpenAI(azure_endpoint=f"http://127.0.0.1:{srv.port}")
        if azure:
            path = "/v1" + azure.group(1)
        if method == "POST" and path == "/v1/chat/completions":
            kind = "chat"
        elif method == "POST" and path == "/v1/completions":
            kind = "completions"
        elif method == "POST" and path == "/v1/embeddings":
            kind = "embeddings"
        elif method == "POST" and path == "/v1/responses":
            kind = "responses"
        elif method == "GET" and path.startswith("/v1/responses/") and path.count("/") == 3:
            kind = "retrieve"
        elif method == "POST" and path in _MEDIA_PATHS:
            kind = _MEDIA_PATHS[path]
        elif _RESPONSE_ACTION.match(path) and method == ("POST" if path.endswith("/cancel") else "DELETE"):
            self._response_action(fake, method, path)
            return
        else:
            self._resource(fake, method, path, query, body)
            return

        scenario = agent_step(fake._next_scenario(), body)
        if scenario.delay_s > 0:
            time.sleep(scenario.delay_s)
        if scenario.outcome == "http_error":
            self._send_json(
                scenario.status_code,
                error_body(scenario.status_code, scenario.error_message, scenario.error_code),
            )
            return

        stream = bool(body.get("stream")) if kind != "retrieve" else query.get("stream") == "true"
        if stream and body.get("stream") == "false":  # a multipart form field is a string
            stream = False
        if not stream and self._non_stream_failure(scenario):
            return

        created = int(time.time())
        token = uuid.uuid4().hex
        if kind in _MEDIA_KINDS:
            self._send_media(kind, scenario, body, stream, created, token)
        elif kind == "chat":
            cid = f"chatcmpl-{token[:24]}"
            if stream:
                events = chat_completion_events(scenario, body, id=cid, created=created)
                self._send_sse(events, scenario, chat_style=True)
            else:
                answer = chat_completion_body(scenario, body, id=cid, created=created)
                self._send_json(200, answer, scenario.content_type)
        elif kind == "completions":
            cid = f"cmpl-{token[:24]}"
            if stream:
                self._send_sse(completion_events(scenario, body, id=cid, created=created), scenario, True)
            else:
                self._send_json(200, completion_body(scenario, body, id=cid, created=created))
        elif kind == "embeddings":
            self._send_json(200, embeddings_body(scenario, body))
        else:
            status = None
            if kind == "responses":
                rid = f"resp_{token}"
                background = bool(body.get("background")) and not stream
                fake._remember_response(rid, body, scenario if background else None)
                request = body
                if background:
                    status = "queued"
            else:
                rid = path.rsplit("/", 1)[1]
                request, stored = fake._response_request(rid)
                if stored is not None:  # a background response: queued -> in_progress -> final
                    scenario, status = stored
            if stream:
                events = response_events(scenario, request, id=rid, created_at=created)
                after = query.get("starting_after", "")
                if kind == "retrieve" and after.lstrip("-").isdigit():
                    # Resuming a background stream: only events after the given sequence number.
                    start = int(after)
                    events = [e for e in events if isinstance(e[1], dict) and e[1]["sequence_number"] > start]
                self._send_sse(events, scenario, chat_style=False)
            else:
                body_out = response_body(scenario, request, id=rid, created_at=created, status=status)
                self._send_json(200, body_out)

    def _resource(
        self, fake: FakeOpenAIServer, method: str, path: str, query: dict[str, str], body: JsonDict
    ) -> None:
        """Files, batches, vector stores, conversations, assistants (:mod:`.resources`)."""
        matched = fake._store.match(method, path.removeprefix("/v1"))
        if matched is None:
            self._send_json(404, error_body(404, f"Invalid URL ({method} {path})"))
            return
        scenario = fake._next_scenario()
        if scenario.outcome == "http_error":
            self._send_json(
                scenario.status_code,
                error_body(scenario.status_code, scenario.error_message, scenario.error_code),
            )
            return
        handler, object_id = matched
        status, payload = handler(object_id, query, body)
        if isinstance(payload, tuple):
            self._send_bytes(status, payload[0], payload[1])
        else:
            self._send_json(status, payload)

    def _response_action(self, fake: FakeOpenAIServer, method: str, path: str) -> None:
        """``POST /responses/{id}/cancel`` (the response, cancelled) and ``DELETE /responses/{id}``."""
        response_id = path.split("/")[3]
        if method == "DELETE":
            self._send_json(200, {"id": response_id, "object": "response.deleted", "deleted": True})
            return
        request, scenario = fake._cancel_response(response_id)
        body = response_body(scenario or fake.default, request, id=response_id, created_at=int(time.time()))
        body["status"] = "cancelled"
        self._send_json(200, body)

    def _send_media(
        self, kind: str, scenario: Scenario, body: JsonDict, stream: bool, created: int, token: str
    ) -> None:
        """Images, audio, moderations, compact and token counts (bodies in :mod:`.media`)."""
        if kind in ("images", "image_edit", "image_variation"):
            if stream:
                self._send_sse(
                    media.image_events(scenario, body, created, kind == "image_edit"), scenario, False
                )
            else:
                self._send_json(200, media.images_body(scenario, body, created))
        elif kind == "transcription":
            if stream:
                self._send_sse(media.transcription_events(scenario, body), scenario, False)
            else:
                self._send_json(200, media.transcription_body(scenario, body))
        elif kind == "translation":
            self._send_json(200, media.translation_body(scenario))
        elif kind == "speech":
            self._send_bytes(200, media.SPEECH_BYTES, "audio/mpeg")
        elif kind == "moderation":
            self._send_json(200, media.moderation_body(scenario, body, f"modr-{token[:24]}"))
        elif kind == "compact":
            self._send_json(200, media.compact_body(scenario, body, f"resp_{token}", created))
        else:
            self._send_json(200, media.input_tokens_body(scenario))

    def _non_stream_failure(self, scenario: Scenario) -> bool:
        """Stream-only outcomes on a non-streaming request: map to the closest HTTP behaviour."""
        if scenario.outcome == "stream_error":
            self._send_json(500, error_body(500, scenario.error_message))
        elif scenario.outcome == "cut":
            self._abort()  # no response at all -> client connection error
        elif scenario.outcome == "invalid_json":
            self._send_bytes(200, b'{"id": "broken", not json', "application/json")
        else:
            return False
        return True

    def _common_headers(self) -> None:
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.send_header("openai-processing-ms", "1")

    def _send_bytes(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, obj: JsonDict, content_type: str = "application/json") -> None:
        self._send_bytes(status, json.dumps(obj, separators=(",", ":")).encode(), content_type)

    def _send_sse(self, events: list[SSEEvent], scenario: Scenario, chat_style: bool) -> None:
        # Chunked transfer keeps the connection reusable and lets each event flush on its own.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self._common_headers()
        self.end_headers()
        for i, event in enumerate(events):
            if i and scenario.chunk_delay_s > 0:
                time.sleep(scenario.chunk_delay_s)
            self._write_chunk(encode_sse([event], chat_style, done=False, line_end=scenario.line_end))
        if scenario.outcome == "cut" or (scenario.unfinished_choices and scenario.drop_unfinished):
            self._abort()  # no terminal event, no [DONE], no final 0-length chunk
            return
        if chat_style and stream_ends_with_done(scenario):
            self._write_chunk(encode_sse([], True, line_end=scenario.line_end))
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_MEDIA_PATHS = {
    "/v1/images/generations": "images",
    "/v1/images/edits": "image_edit",
    "/v1/images/variations": "image_variation",
    "/v1/audio/transcriptions": "transcription",
    "/v1/audio/translations": "translation",
    "/v1/audio/speech": "speech",
    "/v1/moderations": "moderation",
    "/v1/responses/compact": "compact",
    "/v1/responses/input_tokens": "input_tokens",
}
_MEDIA_KINDS = frozenset(_MEDIA_PATHS.values())
# /v1/responses/{id}/cancel (POST) and /v1/responses/{id} (DELETE)
# Azure OpenAI's per-deployment paths: the same endpoints under /openai/deployments/<name>
_AZURE_DEPLOYMENT = re.compile(r"/openai/deployments/[^/]+(/.*)\Z")
_RESPONSE_ACTION = re.compile(r"/v1/responses/(?!compact\Z|input_tokens\Z)[^/]+(/cancel)?\Z")


def _form_fields(content_type: str, raw: bytes) -> JsonDict:
    """The text fields of a multipart form (``model``, ``stream``...); files are left out."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: JsonDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and part.get_filename() is None:
            fields[str(name)] = part.get_content().strip() if part.get_content_maintype() == "text" else ""
    return fields


class FakeOpenAIServer:
    """Threaded fake of ``api.openai.com`` on 127.0.0.1 (free port).

    Usage::

        with FakeOpenAIServer() as srv:
            srv.enqueue(Scenario(outcome="length"))
            client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    """

    def __init__(self, default: Scenario | None = None, host: str = "127.0.0.1") -> None:
        self.default: Scenario = default or Scenario()
        self.requests: list[RecordedRequest] = []
        self._host = host
        self._lock = threading.Lock()
        self._queue: deque[Scenario] = deque()
        self._responses: dict[str, JsonDict] = {}
        # background responses: id -> [the create's scenario, retrieves left that answer in_progress]
        self._background: dict[str, list[Any]] = {}
        self._store = ResourceStore()  # files, batches, ... (testing.resources)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    # ------------------------------------------------------------------ scenarios / recording

    def enqueue(self, *scenarios: Scenario | Iterable[Scenario]) -> None:
        """Queue one-shot scenarios, consumed FIFO by the next requests (then ``default`` applies)."""
        with self._lock:
            for item in scenarios:
                if isinstance(item, Scenario):
                    self._queue.append(item)
                else:
                    self._queue.extend(item)

    @property
    def pending(self) -> int:
        """Number of queued scenarios not yet consumed."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """Forget recorded requests and stored files, and drop any still-queued scenarios."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._store = ResourceStore()

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    def _next_scenario(self) -> Scenario:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _remember_response(self, response_id: str, request: JsonDict, background: Scenario | None) -> None:
        with self._lock:
            self._responses[response_id] = request
            if background is not None:
                # [scenario, retrieves left in progress, final status if not the scenario's]
                self._background[response_id] = [background, background.background_polls, None]

    def _cancel_response(self, response_id: str) -> tuple[JsonDict, Scenario | None]:
        """The original create's params and, for a background response, its scenario; its later
        retrieves answer ``cancelled``."""
        with self._lock:
            request = self._responses.get(response_id, {})
            state = self._background.get(response_id)
            if state is None:
                return request, None
            state[1] = 0
            state[2] = "cancelled"
            return request, state[0]

    def _response_request(self, response_id: str) -> tuple[JsonDict, tuple[Scenario, str | None] | None]:
        """The original create's params (retrieval echoes them) and, for a background response,
        the scenario it finishes with and the status of this retrieve (None: the final one)."""
        with self._lock:
            request = self._responses.get(response_id, {})
            state = self._background.get(response_id)
            if state is None:
                return request, None
            if state[1] > 0:
                state[1] -= 1
                return request, (state[0], "in_progress")
            return request, (state[0], state[2])

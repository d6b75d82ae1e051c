"""A loopback stand-in for the LangSmith ingest API, enough for the real ``langsmith.Client``.

Answers ``GET /info`` (advertising zstd unless told not to), records ``POST /runs/multipart``
(multipart/form-data, zstd-decoded), ``POST /runs/batch``, ``POST /runs`` and ``PATCH /runs/{id}``,
and folds every post/patch into one dict per run id.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import zstandard


class LangSmithRecorder:
    def __init__(self, zstd: bool = True) -> None:
        self.zstd = zstd
        self.runs: dict[str, dict[str, Any]] = {}
        self.raw: list[bytes] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                recorder._note(self, b"")
                if self.path.split("?")[0] == "/info":
                    self._json(200, recorder.info())
                else:
                    self._json(404, {"detail": "not found"})

            def do_POST(self) -> None:
                self._body_request()

            def do_PATCH(self) -> None:
                self._body_request()

            def _body_request(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "zstd":
                    body = (
                        zstandard.ZstdDecompressor()
                        .stream_reader(io.BytesIO(body), read_across_frames=True)
                        .read()
                    )
                recorder._note(self, body)
                recorder._ingest(self.command, self.path, self.headers.get("Content-Type", ""), body)
                self._json(202 if self.command == "POST" else 200, {})

            def _json(self, status: int, obj: Any) -> None:
                payload = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LangSmithRecorder:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self.lock:
            self.runs.clear()
            self.raw.clear()
            self.requests.clear()

    def info(self) -> dict[str, Any]:
        return {
            "version": "0.12.0",
            "instance_flags": {"zstd_compression_enabled": self.zstd},
            "batch_ingest_config": {
                "use_multipart_endpoint": True,
                "scale_up_qsize_trigger": 1000,
                "scale_up_nthreads_limit": 16,
                "scale_down_nempty_trigger": 4,
                "size_limit": 100,
                "size_limit_bytes": 20_971_520,
            },
        }

    def wait_for_runs(self, count: int, timeout: float = 10.0, ended: bool = True) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                runs = [r for r in self.runs.values() if not ended or r.get("end_time")]
            if len(runs) >= count or time.monotonic() > deadline:
                return runs
            time.sleep(0.05)

    # ------------------------------------------------------------------ decoding

    def _note(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            self.requests.append((handler.command, handler.path, headers))
            if body:
                self.raw.append(body)

    def _ingest(self, method: str, path: str, content_type: str, body: bytes) -> None:
        path = path.split("?")[0]
        if path == "/runs/multipart":
            for name, value in _multipart(content_type, body):
                _op, run_id, *rest = name.split(".")
                self._merge(run_id, {rest[0]: value} if rest else value)
        elif path == "/runs/batch":
            data = json.loads(body)
            for run in [*data.get("post", []), *data.get("patch", [])]:
                self._merge(str(run["id"]), run)
        elif path == "/runs" and method == "POST":
            run = json.loads(body)
            self._merge(str(run["id"]), run)
        elif path.startswith("/runs/") and method == "PATCH":
            self._merge(path.rsplit("/", 1)[1], json.loads(body))

    def _merge(self, run_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            run = self.runs.setdefault(run_id, {"id": run_id})
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(run.get(key), dict):
                    run[key].update(value)
                else:
                    run[key] = value


def _multipart(content_type: str, body: bytes) -> list[tuple[str, Any]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts.append((str(name), json.loads(payload) if payload else None))
    return parts

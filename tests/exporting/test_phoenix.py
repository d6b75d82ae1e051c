"""A real third-party OTLP backend, Arize Phoenix, must understand our spans as LLM spans.

Phoenix runs from its own venv (it is large and pins its own dependencies); it is required, never
skipped. Install it with ``python -m venv /opt/phoenix-venv && /opt/phoenix-venv/bin/pip install
arize-phoenix``, or point ``TRACEWRAP_PHOENIX_BIN`` at another ``phoenix`` executable.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES
from .receivers import free_port

PHOENIX_BIN = os.environ.get("TRACEWRAP_PHOENIX_BIN", "/opt/phoenix-venv/bin/phoenix")
INSTALL = "python -m venv /opt/phoenix-venv && /opt/phoenix-venv/bin/pip install arize-phoenix"


class Phoenix:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as reply:
            return json.load(reply)

    def spans(self, project: str) -> list[dict[str, Any]]:
        try:
            return list(self.get(f"/v1/projects/{project}/spans?limit=100")["data"])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # the project appears with its first span
                return []
            raise


@pytest.fixture(scope="session")
def phoenix() -> Iterator[Phoenix]:
    if not Path(PHOENIX_BIN).exists():
        pytest.fail(f"Arize Phoenix is required for this test and is not installed; run: {INSTALL}")
    port, grpc_port = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="tracewrap-phoenix-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PHOENIX_", "TRACEWRAP_"))} | {
        "PHOENIX_WORKING_DIR": workdir,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),  # binds all interfaces whatever PHOENIX_HOST says: a free one
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = open(Path(workdir) / "phoenix.log", "wb")  # noqa: SIM115 - closed after the process ends
    process = subprocess.Popen([PHOENIX_BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    backend = Phoenix(port)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                backend.get("/v1/projects")
                break
            except (OSError, urllib.error.URLError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    text = (Path(workdir) / "phoenix.log").read_text(errors="replace")[-3000:]
                    pytest.fail(f"phoenix serve did not start: {text}")
                time.sleep(0.25)
        yield backend
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def test_phoenix_reads_our_spans_as_llm_spans(
    phoenix: Phoenix, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer, make_client: Any
) -> None:
    project = f"tracewrap-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{phoenix.url}/v1/traces")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # Phoenix takes traces only
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={project}")
    tracewrap.configure(service_name="phoenix-check")
    client = make_client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    server.enqueue(Scenario(prompt_tokens=30, completion_tokens=11))
    for _ in client.chat.completions.create(
        model="gpt-4.1-nano", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ):
        pass
    server.enqueue(Scenario(outcome="http_error", status_code=429))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracewrap.flush(5.0)

    deadline = time.monotonic() + 20
    spans = phoenix.spans(project)
    while len(spans) < 3 and time.monotonic() < deadline:
        time.sleep(0.25)
        spans = phoenix.spans(project)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"chat gpt-4o-mini", "chat gpt-4.1-nano", "chat gpt-4o"}, spans
    assert all(s["span_kind"] == "LLM" for s in spans)
    plain = by_name["chat gpt-4o-mini"]["attributes"]
    assert plain["llm.model_name"] == "gpt-4o-mini"
    assert (plain["llm.token_count.prompt"], plain["llm.token_count.completion"]) == (12, 7)
    assert plain["llm.token_count.total"] == 19
    assert plain["llm.finish_reason"] == "stop"
    streamed = by_name["chat gpt-4.1-nano"]["attributes"]
    assert (streamed["llm.token_count.prompt"], streamed["llm.token_count.completion"]) == (30, 11)
    failed = by_name["chat gpt-4o"]
    assert failed["status_code"] == "ERROR"
    assert failed["attributes"]["error.type"] == "RateLimitError"

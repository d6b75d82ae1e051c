"""No credential leaves in telemetry: scan every exported byte, every header, every log line."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import API_KEY, MESSAGES
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver

LS_KEY = "lsv2_pt_SECRET_ls_key_for_scan_99"
OTLP_TOKEN = "otlp-SECRET-bearer-token-31"
CUSTOM_AUTH = "custom-SECRET-header-value-55"


def test_no_secret_in_any_payload_header_or_log(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    receiver: OTLPReceiver,
    recorder: LangSmithRecorder,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{OTLP_TOKEN}")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")  # content on spans
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", LS_KEY)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    caplog.set_level(logging.DEBUG)  # everything any library logs, at every level

    setup = tracewrap.configure()
    assert setup.traces_exporters == ("otlp", "langsmith")
    client = make_client()
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"Authorization": f"Bearer {CUSTOM_AUTH}"}
    )
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"X-Custom-Auth": CUSTOM_AUTH}
    )
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass
    server.enqueue(Scenario(outcome="http_error", status_code=401))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert tracewrap.flush(5.0)
    assert len(recorder.wait_for_runs(4)) == 4

    # the calls really carried the secrets, so their absence below means something
    assert server.last_request.headers.get("authorization") == f"Bearer {API_KEY}"
    otlp_bytes = b"".join(receiver.store.raw)
    langsmith_bytes = b"".join(recorder.raw)
    assert b"What is 2+2?" in otlp_bytes and b"What is 2+2?" in langsmith_bytes  # content was exported
    # every logger but the openai SDK's own: openai 1.x/2.x log each request's options, extra
    # headers included, at DEBUG; that is the SDK's debug logging, which the user switched on
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("openai"))
    assert logged  # the other libraries' DEBUG logs were captured, so the scan below means something
    for secret in (API_KEY, CUSTOM_AUTH, OTLP_TOKEN, LS_KEY, "Bearer"):
        assert secret.encode() not in otlp_bytes, secret
        assert secret.encode() not in langsmith_bytes, secret
        assert secret not in logged, secret

    # each credential goes only where it belongs, as a header
    assert receiver.store.headers and all(
        h.get("authorization") == f"Bearer {OTLP_TOKEN}" for h in receiver.store.headers
    )
    assert all(LS_KEY not in str(h) and API_KEY not in str(h) for h in receiver.store.headers)
    assert recorder.requests and all(h.get("x-api-key") == LS_KEY for _, _, h in recorder.requests)
    assert all(OTLP_TOKEN not in str(h) and API_KEY not in str(h) for _, _, h in recorder.requests)

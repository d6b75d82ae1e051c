"""No credential leaves in telemetry: scan every exported byte, every header, every log line."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest
from openai._base_client import make_request_options
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import API_KEY, MESSAGES
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver

LS_KEY = "lsv2_pt_SECRET_ls_key_for_scan_99"
OTLP_TOKEN = "otlp-SECRET-bearer-token-31"
CUSTOM_AUTH = "custom-SECRET-header-value-55"
QUERY_SECRET = "query-SECRET-sas-signature-68"
BODY_SECRET = "body-SECRET-extra-value-24"


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


# what a caller may add to any call; extra_query's keys collide with arguments a reader would pick up
EXTRA: dict[str, Any] = {
    "extra_query": {"sig": QUERY_SECRET, "model": QUERY_SECRET, "metadata": QUERY_SECRET},
    "extra_body": {"note": BODY_SECRET},
    "extra_headers": {"X-Custom-Auth": CUSTOM_AUTH},
}
INCLUDE = ["reasoning.encrypted_content"]


@pytest.mark.parametrize("mode", ["client", "module"])
def test_request_layer_runs_carry_no_extra_arguments(
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    recorder: LangSmithRecorder,
    server: FakeOpenAIServer,
    mode: str,
) -> None:
    """A call traced at the client's request layer (litellm's ``client.get`` / ``client.post``,
    ``client.beta.responses``) has the inputs the same call has through the resource method, never
    what ``extra_query`` / ``extra_body`` / ``extra_headers`` add: by then the SDK has merged
    ``extra_query`` into the request's query, which must not be read as the call's arguments."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", LS_KEY)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    tracewrap.configure()
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, timeout=10)
    if mode == "client":
        client = tracewrap.wrap(client)
    else:
        tracewrap.wrap(openai)
    rid = client.responses.create(model="gpt-4.1-mini", input="hi").id
    assert tracewrap.flush(5.0) and recorder.wait_for_runs(1)
    chat = {"model": "gpt-4o-mini", "messages": MESSAGES}
    langsmith_raw: list[bytes] = []

    def inputs_of(call: Any) -> Any:
        recorder.clear()
        call()
        assert tracewrap.flush(5.0)
        (run,) = recorder.wait_for_runs(1)
        langsmith_raw.extend(recorder.raw)
        return run["inputs"]

    # through the resource methods: the arguments as passed, without the extra_* ones
    assert inputs_of(lambda: client.responses.retrieve(rid, include=INCLUDE, **EXTRA)) == {"include": INCLUDE}
    assert inputs_of(lambda: client.chat.completions.create(**chat, **EXTRA)) == chat
    # the same calls at the request layer, as litellm sends them (every SDK major)
    fetch = make_request_options(query={"include": INCLUDE}, **EXTRA)
    assert inputs_of(lambda: client.get(f"/responses/{rid}", cast_to=Response, options=fetch)) == {
        "include": INCLUDE
    }
    extra_only = make_request_options(**EXTRA)

    def post_chat() -> Any:
        return client.post("/chat/completions", body=chat, cast_to=ChatCompletion, options=extra_only)

    def post_cancel() -> Any:
        return client.post(f"/responses/{rid}/cancel", cast_to=Response, options=extra_only)

    assert inputs_of(post_chat) == chat
    assert inputs_of(post_cancel) == {}
    assert inputs_of(lambda: client.beta.chat.completions.create(**chat, **EXTRA)) == chat
    beta = getattr(client.beta, "responses", None)  # openai >= 2: not a wrapped resource, the request layer
    if beta is not None:
        assert inputs_of(lambda: beta.retrieve(rid, include=INCLUDE, **EXTRA)) == {"include": INCLUDE}
        assert inputs_of(lambda: list(beta.retrieve(rid, stream=True, **EXTRA))) == {"stream": True}
        if hasattr(beta, "cancel"):
            assert inputs_of(lambda: beta.cancel(rid, **EXTRA)) == {}
    client.files.list(**EXTRA)  # a generic call: a span, no run
    assert tracewrap.flush(5.0)

    sent = [r for r in server.requests if r.method == "GET" and r.path == f"/v1/responses/{rid}"]
    assert sent and all(r.query.get("sig") == QUERY_SECRET for r in sent)  # the secrets really went out
    assert server.last_request.query.get("model") == QUERY_SECRET
    assert any(isinstance(r.body, dict) and r.body.get("note") == BODY_SECRET for r in server.requests)
    spans = {s.name: s.attributes for s in receiver.store.spans() if s.scope == "tracewrap"}
    assert spans["GET /files"].get("gen_ai.request.model") is None  # not read from the query
    if beta is not None:  # the streamed retrieve was read as one: its stream flag is still read
        streamed = [
            s.attributes for s in receiver.store.spans() if "tracewrap.stream.outcome" in s.attributes
        ]
        assert [(a["gen_ai.request.stream"], a["tracewrap.stream.outcome"]) for a in streamed] == [
            (True, "completed")
        ]
    otlp_bytes = b"".join(receiver.store.raw)
    langsmith_bytes = b"".join(langsmith_raw)
    # the fetches were exported, so the scan below means something
    assert rid.encode() in otlp_bytes and rid.encode() in langsmith_bytes
    for secret in (QUERY_SECRET, BODY_SECRET, CUSTOM_AUTH, API_KEY):
        assert secret.encode() not in otlp_bytes, secret
        assert secret.encode() not in langsmith_bytes, secret

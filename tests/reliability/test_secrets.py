"""Secrets and privacy: credentials never reach spans, metrics or logs; content is opt-in, limited and
redacted before anything records it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

try:  # the name since opentelemetry-sdk 1.39; the old one warns that it will be removed
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
except ImportError:  # pragma: no cover - older SDKs (the openai 1.x / 2.x venvs)
    from opentelemetry.sdk._logs.export import InMemoryLogExporter

import tracewrap
from tracewrap.exporting.langsmith import LangSmithObserver, LangSmithSettings
from tracewrap.normalize.content import responses_input_messages
from tracewrap.record import CallRecord
from tracewrap.telemetry.content import content_attributes, redact_record
from tracewrap.testing import MockOpenAI, Scenario

from .helpers import API_KEY, MESSAGES, Pipeline, all_span_text, echo_backend

AUTH_SECRET = "auth-SECRET-header-value-4242"
CUSTOM_SECRET = "custom-SECRET-header-value-7777"
BODY_SECRET = "extra-body-SECRET-value-9191"
QUERY_SECRET = "extra-query-SECRET-value-5353"
PII = "PII-4111-1111-1111-1111"
SECRETS = (API_KEY, AUTH_SECRET, CUSTOM_SECRET, BODY_SECRET, QUERY_SECRET)
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
REPLY = "one two three four"  # what echo_backend answers
MODES = ["no_content", "span_only", "event_only", "span_and_event"]


@pytest.fixture
def otel_logs() -> Iterator[InMemoryLogExporter]:
    """Content events go to the global LoggerProvider: attach an in-memory exporter to it."""
    exporter = InMemoryLogExporter()
    processor = SimpleLogRecordProcessor(exporter)
    provider = _logs.get_logger_provider()
    if not isinstance(provider, LoggerProvider):
        _logs.set_logger_provider(LoggerProvider())
        provider = _logs.get_logger_provider()
    assert isinstance(provider, LoggerProvider), "another test installed a non-SDK LoggerProvider"
    provider.add_log_record_processor(processor)
    yield exporter
    processor.shutdown()  # its exporter stops taking records; the provider stays for others
    exporter.clear()


def _log_text(exporter: InMemoryLogExporter) -> str:
    parts = []
    for data in exporter.get_finished_logs():
        record = data.log_record
        parts.append(repr(record.body))
        parts.append(repr(dict(record.attributes or {})))
        parts.append(repr(getattr(record, "event_name", None)))
    return "\n".join(parts)


def _metric_text(pipe: Pipeline) -> str:
    return "\n".join(f"{name} {dict(point.attributes or {})!r}" for name, point in pipe.metric_points())


def _calls(client: openai.OpenAI, backend: MockOpenAI) -> None:
    secret_kwargs: dict[str, Any] = {
        "extra_headers": {"Authorization": f"Bearer {AUTH_SECRET}", "X-Custom-Token": CUSTOM_SECRET},
        "extra_body": {"user_secret": BODY_SECRET},
        "extra_query": {"token": QUERY_SECRET},
    }
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": f"card {PII} " + "x" * 400},
    ]
    client.chat.completions.create(model="m", messages=messages, **secret_kwargs)
    for _ in client.chat.completions.create(
        model="m", messages=messages, stream=True, stream_options={"include_usage": True}, **secret_kwargs
    ):
        pass
    client.responses.create(model="m", input=f"card {PII}", instructions=f"never say {PII}", **secret_kwargs)
    with client.responses.stream(model="m", input=f"card {PII}", **secret_kwargs) as stream:
        stream.get_final_response()
    client.embeddings.create(model="e", input=f"card {PII}", **secret_kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_no_secret_in_spans_metrics_or_logs(mode, pipe, otel_logs, caplog, fresh_warnings) -> None:
    caplog.set_level(logging.DEBUG)  # everything any library logs, at every level
    backend = echo_backend(record=True)
    client = tracewrap.wrap(
        backend.client(),
        capture_content=mode,
        redact=lambda s: s.replace(PII, "[card]"),
        **pipe.kwargs(),
    )
    _calls(client, backend)
    client_without_hook = tracewrap.wrap(backend.client(), capture_content=mode, **pipe.kwargs())
    client_without_hook.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    # the secrets really went out, so their absence below means something
    seen_headers = [request.headers for request in backend.requests]
    assert seen_headers and all(h["authorization"] == f"Bearer {API_KEY}" for h in seen_headers[-1:])
    assert any(h.get("x-custom-token") == CUSTOM_SECRET for h in seen_headers)
    spans = pipe.traced_spans()
    assert len(spans) == 6
    pipe.assert_all_ended_once()
    span_text = all_span_text(spans)
    metric_text = _metric_text(pipe)
    log_text = _log_text(otel_logs)
    # tracewrap's own logs and OpenTelemetry's (whose SDK quotes attribute values it rejects). The
    # openai SDK and httpx log request options and URLs at DEBUG / INFO themselves (extra_query is in
    # the URL): that is the application's logging, which tracewrap neither adds to nor controls.
    assert any(r.name.startswith("openai") for r in caplog.records)  # DEBUG capture really was on
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("tracewrap", "opentelemetry")]
    python_logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in ours)
    assert metric_text and "gen_ai.client.operation.duration" in metric_text
    for secret in (*SECRETS, "Bearer"):
        assert secret not in span_text, (mode, secret)
        assert secret not in metric_text, (mode, secret)
        assert secret not in log_text, (mode, secret)
        assert secret not in python_logs, (mode, secret)
    assert PII not in span_text and PII not in log_text and PII not in metric_text  # redacted everywhere

    content_on_spans = any(key in (s.attributes or {}) for s in spans for key in CONTENT_KEYS)
    assert content_on_spans == (mode in ("span_only", "span_and_event"))
    assert bool(otel_logs.get_finished_logs()) == (mode in ("event_only", "span_and_event"))
    if mode != "no_content":
        assert "[card]" in span_text + log_text  # the hook's output is what was recorded


def test_content_capture_is_off_by_default(pipe, otel_logs, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    backend = echo_backend()
    client = tracewrap.wrap(backend.client(), **pipe.kwargs())
    _calls(client, backend)
    spans = pipe.traced_spans()
    assert len(spans) == 5
    for span in spans:
        keys = set(span.attributes or {})
        assert not keys & set(CONTENT_KEYS), keys
        assert span.events == ()
    assert otel_logs.get_finished_logs() == ()
    assert PII not in all_span_text(spans) and "be brief" not in all_span_text(spans)


@pytest.mark.parametrize("mode", ["span_only", "event_only"])
def test_content_is_size_limited_with_a_visible_marker(mode, pipe, otel_logs) -> None:
    limit = 120
    backend = echo_backend()
    client = tracewrap.wrap(backend.client(), capture_content=mode, content_max_length=limit, **pipe.kwargs())
    prompt = "p" * 1_000
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    if mode == "span_only":
        value = dict(pipe.one_span().attributes or {})["gen_ai.input.messages"]
    else:
        (data,) = otel_logs.get_finished_logs()
        value = dict(data.log_record.attributes or {})["gen_ai.input.messages"]
    # the text value is cut, not the JSON: the attribute still parses
    cut = prompt[:limit] + f"…[truncated {len(prompt) - limit} chars]"
    assert json.loads(value) == [{"role": "user", "parts": [{"type": "text", "content": cut}]}]


def test_redaction_runs_before_truncation_and_sees_every_text(pipe) -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace(PII, "[card]")

    backend = echo_backend()
    client = tracewrap.wrap(
        backend.client(),
        capture_content="span_only",
        content_max_length=60,
        redact=redact,
        **pipe.kwargs(),
    )
    # the secret sits past the size limit: redaction must see the whole text, not the cut one
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "y" * 100 + PII}])
    a = dict(pipe.one_span().attributes or {})
    assert any(PII in text for text in seen)
    assert "y" * 100 + PII in seen
    assert PII not in json.dumps(a) and "chars]" in a["gen_ai.input.messages"]
    assert REPLY in seen  # outputs go through the hook too


def test_a_failing_redaction_hook_does_not_lose_the_span(pipe, caplog, fresh_warnings) -> None:
    """A hook that raises must not leave the span open, nor record unredacted content."""

    def redact(text: str) -> str:
        raise RuntimeError("hook failed")

    backend = echo_backend()
    client = tracewrap.wrap(backend.client(), capture_content="span_only", redact=redact, **pipe.kwargs())
    result = client.chat.completions.create(model="m", messages=[{"role": "user", "content": PII}])
    assert result.choices[0].message.content == REPLY  # the user's call goes on
    span = pipe.one_span()
    a = dict(span.attributes or {})
    assert a["gen_ai.usage.input_tokens"] == 12
    assert PII not in all_span_text([span])
    assert len(pipe.points("gen_ai.client.operation.duration")) == 1


def test_langsmith_runs_honour_the_redaction_hook(pipe) -> None:
    """LangSmith export records inputs and outputs: the user's hook must apply there too."""
    runs: list[Any] = []

    class Capturing(LangSmithObserver):
        def on_end(self, call: Any) -> None:
            runs.append(self.build_run(call, call.state.pop(id(self), None)))

    observer = Capturing(
        LangSmithSettings(project=None, hide_inputs=False, hide_outputs=False), client=object()
    )
    tracewrap.add_observer(observer)
    try:
        backend = echo_backend()
        client = tracewrap.wrap(backend.client(), redact=lambda s: s.replace(PII, "[card]"), **pipe.kwargs())
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": f"card {PII}"}],
            extra_headers={"Authorization": f"Bearer {AUTH_SECRET}"},
        )
    finally:
        tracewrap.remove_observer(observer)
    (run,) = runs
    dumped = json.dumps({"inputs": run.inputs, "outputs": run.outputs, "extra": run.extra}, default=str)
    assert "card" in dumped  # inputs are recorded (LANGSMITH_HIDE_INPUTS is off)
    assert AUTH_SECRET not in dumped and API_KEY not in dumped
    assert PII not in dumped


def test_redaction_covers_tool_results_given_as_content_parts() -> None:
    """A Responses ``function_call_output`` may carry a list of content parts instead of a string:
    the hook must see that text too (it used to be recorded without going through the hook)."""
    record = CallRecord(operation="chat", api_type="responses", provider="openai")
    record.input_messages = responses_input_messages(
        {
            "input": [
                {"type": "function_call_output", "call_id": "c1", "output": f"card {PII}"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": f"card {PII}"}],
                },
            ]
        }
    )
    assert PII in json.dumps(record.input_messages)
    redact_record(record, lambda s: s.replace(PII, "[card]"))
    recorded = content_attributes(record, 10_000, None)["gen_ai.input.messages"]
    assert PII not in recorded and recorded.count("[card]") == 2


def test_media_in_a_tool_result_is_recorded_as_its_kind_only() -> None:
    """A Responses tool result given as content parts is read as a message's parts are: its text,
    and only the kind of an image or file; the base64 data and a signed URL were recorded whole."""
    signed = "https://bucket.example/scan.png?X-Amz-Signature=SIGNATURE-SECRET"
    data = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"
    parts = [
        {"type": "input_text", "text": "screenshot attached"},
        {"type": "input_image", "image_url": data},
        {"type": "input_image", "image_url": signed},
        {"type": "input_file", "filename": "a.pdf", "file_data": data},
    ]
    record = CallRecord(operation="chat", api_type="responses", provider="openai")
    record.input_messages = responses_input_messages(
        {"input": [{"type": "function_call_output", "call_id": "c1", "output": parts}]}
    )
    for redact in (None, lambda s: s.replace("screenshot", "[shot]")):
        recorded = content_attributes(record, 10_000, redact)["gen_ai.input.messages"]
        assert "SIGNATURE-SECRET" not in recorded and "iVBORw0KGgo" not in recorded
        (message,) = json.loads(recorded)
        (part,) = message["parts"]
        assert part["response"] == [
            {"type": "text", "content": "[shot] attached" if redact else "screenshot attached"},
            {"type": "input_image"},
            {"type": "input_image"},
            {"type": "input_file"},
        ]


def test_the_prompts_own_tool_calls_are_recorded_as_a_chat_prompts_are() -> None:
    """Responses input items ``function_call`` / ``custom_tool_call`` are the assistant's earlier
    calls: recorded as its ``tool_call`` parts (id, name, arguments), as in a chat prompt; they
    were dropped."""
    messages = responses_input_messages(
        {
            "input": [
                {"role": "user", "content": "weather in Paris?"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "weather",
                    "arguments": '{"city":"Paris"}',
                },
                {"type": "custom_tool_call", "call_id": "c2", "name": "grep", "input": "rain"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "no match"},
            ]
        }
    )
    assert messages == [
        {"role": "user", "parts": [{"type": "text", "content": "weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": '{"city":"Paris"}'},
                {"type": "tool_call", "id": "c2", "name": "grep", "arguments": "rain"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c2", "response": "no match"}]},
    ]


PROXY_TOKEN = "proxy-SECRET-token-3131"


def test_a_key_the_server_quotes_in_its_error_is_cut_out(server, pipe) -> None:
    """A compatible server or a proxy may quote the key it refused in its error ("Incorrect API key
    provided: sk-..."): the span's status (the error's message, as LangSmith's ``error`` is) has the
    client's key, and a credential header it sends by default, cut out; the rest of the text stays."""
    from tracewrap.telemetry.lifecycle import REDACTED_CREDENTIAL

    clients = [
        openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0),
        openai.OpenAI(
            base_url=server.base_url,
            api_key="unused-by-the-proxy",
            default_headers={"Proxy-Authorization": f"Bearer {PROXY_TOKEN}"},
            max_retries=0,
        ),
        openai.AzureOpenAI(
            azure_endpoint=f"http://127.0.0.1:{server.port}",
            api_key=API_KEY,
            api_version="2024-10-21",
            max_retries=0,
        ),
    ]
    quoted = [API_KEY, PROXY_TOKEN, API_KEY]
    for client, secret in zip(clients, quoted, strict=True):
        message = f"Incorrect API key provided: {secret}. Find your key in your account."
        server.enqueue(Scenario(outcome="http_error", status_code=401, error_message=message))
        with pytest.raises(openai.AuthenticationError) as raised:
            tracewrap.wrap(client, **pipe.kwargs()).chat.completions.create(model="m", messages=MESSAGES)
        assert secret in str(raised.value)  # the user's exception is the SDK's, untouched
    spans = pipe.traced_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.status.description is not None
        assert f"Incorrect API key provided: {REDACTED_CREDENTIAL}. Find your key" in span.status.description
        assert span.attributes["error.type"] == "AuthenticationError"
    text = all_span_text(spans)
    assert API_KEY not in text and PROXY_TOKEN not in text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "bad proxy https://user:p@ss@proxy.example:8080/x?token=t1 here",
            "bad proxy https://proxy.example:8080/x here",
        ),
        ("wss://u:pw@api.example.com/v1/realtime?model=m#frag", "wss://api.example.com/v1/realtime"),
        ("https://host.example/path@v2?q=a@b", "https://host.example/path@v2"),
        ("no url at all", "no url at all"),
    ],
)
def test_an_errors_urls_lose_their_userinfo_query_and_fragment(message: str, expected: str) -> None:
    """Up to the authority's last ``@``: a password may hold an unencoded one (it left ``ss@`` before)."""
    from tracewrap.telemetry.lifecycle import without_url_secrets

    assert without_url_secrets(message) == expected

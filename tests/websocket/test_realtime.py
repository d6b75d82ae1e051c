"""Realtime connections on the real SDK (``client.realtime.connect()``) against the fake realtime
server: one span per response, usage from ``response.done``, the model from the connection."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.resources.realtime.realtime import AsyncRealtimeConnection, RealtimeConnection

from tests.conftest import API_KEY, Telemetry
from tracewrap import wrap
from tracewrap.testing import Scenario

MODEL = "gpt-realtime-mini"
ROOT = Path(__file__).resolve().parents[2]


def client_for(rt_server: Any, telemetry: Telemetry, **options: Any) -> openai.OpenAI:
    client = openai.OpenAI(api_key=API_KEY, base_url=rt_server.base_url, max_retries=0)
    return wrap(client, **telemetry.wrap_kwargs(), **options)


def until_done(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.done", "error"):
            return events
    return events


def point_sum(telemetry: Telemetry, name: str, **attrs: Any) -> float:
    return sum(
        p.sum for p in telemetry.points(name) if all(p.attributes.get(k) == v for k, v in attrs.items())
    )


def test_two_responses_with_usage_and_model(rt_server: Any, telemetry: Telemetry) -> None:
    rt_server.output_audio_tokens = 5
    rt_server.add(
        Scenario(prompt_tokens=120, completion_tokens=30, cached_tokens=64, media_input_tokens=100),
        Scenario(prompt_tokens=10, completion_tokens=4),
    )
    client = client_for(rt_server, telemetry, capture_content="span_only")
    with client.realtime.connect(model=MODEL) as connection:
        assert type(connection) is RealtimeConnection
        connection.response.create(response={"instructions": "Be brief", "max_output_tokens": 200})
        first = until_done(connection)
        connection.response.create()
        second = until_done(connection)
    assert first[0].type == "session.created" and first[-1].type == second[-1].type == "response.done"
    one, two = sorted(telemetry.spans(), key=lambda s: s.start_time)
    a = one.attributes
    assert one.name == f"chat {MODEL}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["openai.api.type"] == "realtime"
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.request.max_tokens"] == 200
    assert a["gen_ai.response.id"] == first[-1].response.id == "resp_rt0001"
    assert a["gen_ai.usage.input_tokens"] == 120
    assert a["gen_ai.usage.output_tokens"] == 30
    assert a["gen_ai.usage.cache_read.input_tokens"] == 64
    assert a["tracewrap.usage.audio.input_tokens"] == 100
    assert a["tracewrap.usage.audio.output_tokens"] == 5
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["openai.response.status"] == "completed"
    assert a["tracewrap.stream.outcome"] == "completed"
    assert a["tracewrap.stream.chunks"] == len(first) - 1  # every event of the response, not session.created
    assert "Be brief" in a["gen_ai.system_instructions"]
    assert "Hello! How can I help?" in a["gen_ai.output.messages"]
    assert two.attributes["gen_ai.response.id"] == "resp_rt0002"
    assert two.attributes["gen_ai.usage.input_tokens"] == 10
    assert point_sum(telemetry, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 130


def test_model_from_session_created_and_server_started_response(rt_server: Any, telemetry: Telemetry) -> None:
    client = client_for(rt_server, telemetry)
    with client.realtime.connect(extra_query={"model": "gpt-realtime"}) as connection:
        assert connection.recv().type == "session.created"
        connection.input_audio_buffer.commit()  # the server answers with a response of its own
        events = until_done(connection)
    span = telemetry.spans()[0]
    assert len(telemetry.spans()) == 1
    assert span.attributes["gen_ai.request.model"] == "gpt-realtime"
    assert span.attributes["gen_ai.response.id"] == events[-1].response.id
    assert span.attributes["gen_ai.usage.output_tokens"] == 7


def test_failed_incomplete_and_rejected(rt_server: Any, telemetry: Telemetry) -> None:
    rt_server.add(
        Scenario(outcome="failed", error_message="boom"),
        Scenario(outcome="length"),
        Scenario(outcome="http_error", error_message="no such voice"),
    )
    client = client_for(rt_server, telemetry)
    with client.realtime.connect(model=MODEL) as connection:
        connection.response.create()
        until_done(connection)
        connection.response.create()
        until_done(connection)
        connection.response.create(event_id="evt_mine")
        rejected = until_done(connection)
    assert rejected[-1].type == "error" and rejected[-1].error.event_id == "evt_mine"
    failed, incomplete, refused = sorted(telemetry.spans(), key=lambda s: s.start_time)
    assert failed.attributes["error.type"] == "server_error"
    assert failed.status.description == "boom"
    assert failed.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert incomplete.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert "error.type" not in incomplete.attributes
    assert refused.attributes["error.type"] == "invalid_value"
    assert refused.attributes["tracewrap.stream.outcome"] == "error"
    assert "gen_ai.response.id" not in refused.attributes


def test_connection_closed_mid_response(rt_server: Any, telemetry: Telemetry) -> None:
    from websockets.exceptions import ConnectionClosedError

    rt_server.add(Scenario(outcome="cut", chunks=6))
    client = client_for(rt_server, telemetry)
    with client.realtime.connect(model=MODEL) as connection:
        connection.response.create()
        with pytest.raises(ConnectionClosedError):
            for _event in connection:
                pass
    span = telemetry.one_span()
    assert span.attributes["tracewrap.stream.outcome"] == "connection_closed"
    assert span.attributes["gen_ai.response.id"] == "resp_rt0001"


def test_paths_narrow_realtime_away(rt_server: Any, telemetry: Telemetry) -> None:
    client = client_for(rt_server, telemetry, paths=["chat.completions.create"])
    with client.realtime.connect(model=MODEL) as connection:
        connection.response.create()
        until_done(connection)
    assert telemetry.spans() == []


def test_async_realtime(rt_server: Any, telemetry: Telemetry) -> None:
    rt_server.add(Scenario(prompt_tokens=21, completion_tokens=8))

    async def main() -> str:
        client = wrap(
            openai.AsyncOpenAI(api_key=API_KEY, base_url=rt_server.base_url, max_retries=0),
            **telemetry.wrap_kwargs(),
        )
        async with client.realtime.connect(model=MODEL) as connection:
            assert isinstance(connection, AsyncRealtimeConnection)
            await connection.response.create()
            async for event in connection:
                if event.type == "response.done":
                    return str(event.response.id)
        raise AssertionError("no response.done")

    response_id = asyncio.run(main())
    span = telemetry.one_span()
    assert span.attributes["gen_ai.response.id"] == response_id
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (
        21,
        8,
    )


def test_unknown_and_malformed_events_are_survived_silently(
    rt_server: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracewrap.telemetry import lifecycle

    internal_errors: list[str] = []
    monkeypatch.setattr(lifecycle, "warn_once", lambda key, *args: internal_errors.append(key))
    rt_server.inject = [
        '{"type": "conversation.future_event", "event_id": "evt_x", "payload": {"a": [1]}}',
        '{"type": ["not", "a", "string"]}',
        '{"event_id": "evt_no_type"}',
        "[1, 2, 3]",
        "null",
        '{"type": "response.output_text.delta", "response_id": "resp_nobody", "delta": "x"}',
        '{"type": "response.output_text.delta", "response_id": 7}',
        '{"type": "session.updated", "session": "not a session"}',
    ]
    rt_server.add(Scenario(prompt_tokens=50, completion_tokens=9), Scenario(prompt_tokens=6))
    client = client_for(rt_server, telemetry)
    with client.realtime.connect(model=MODEL) as connection:
        for _ in range(2):
            connection.response.create()
            kinds = []
            while not kinds or kinds[-1] != "response.done":
                kinds.append(getattr(connection.recv(), "type", None))
            assert "conversation.future_event" in kinds and None in kinds
    assert internal_errors == []
    one, two = sorted(telemetry.spans(), key=lambda s: s.start_time)
    a = one.attributes
    assert a["tracewrap.stream.outcome"] == "completed"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (50, 9)
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == MODEL  # the odd session kept it
    assert "error.type" not in a
    assert two.attributes["gen_ai.usage.input_tokens"] == 6


# A fresh interpreter: whether wrap() imports the realtime module can only be seen where nothing has.
_LAZY_REALTIME = """
import json, os, sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import tracewrap
from tracewrap.interception import websocket

REALTIME = "openai.resources.realtime.realtime"
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
if sys.argv[1] == "module":
    tracewrap.wrap(openai, tracer_provider=provider)
client = openai.OpenAI(api_key="sk-test", base_url=os.environ["TW_BASE_URL"], max_retries=0)
if sys.argv[1] == "client":
    tracewrap.wrap(client, tracer_provider=provider)
imported_at_wrap = REALTIME in sys.modules
if sys.argv[2] == "reinstall":  # uninstalled and installed again once the module is imported
    import openai.resources.realtime.realtime
    websocket.uninstall()
    websocket.install()
with client.realtime.connect(model="gpt-realtime-mini") as connection:
    connection.response.create()
    for event in connection:
        if event.type in ("response.done", "error"):
            break
patched = [cls.__name__ for cls, _, _ in websocket._patched]
print(json.dumps({
    "imported_at_wrap": imported_at_wrap,
    "realtime_patches": sorted({name for name in patched if "Realtime" in name}),
    "spans": [dict(span.attributes) for span in exporter.get_finished_spans()],
}))
"""


@pytest.mark.parametrize(("how", "when"), [("module", "first"), ("client", "first"), ("module", "reinstall")])
def test_the_realtime_module_is_patched_when_the_sdk_imports_it(rt_server: Any, how: str, when: str) -> None:
    """wrap() leaves the realtime module (~60 ms of imports) to the first ``client.realtime``; a
    connection opened then is traced all the same, and so after an uninstall and a second install."""
    rt_server.add(Scenario(prompt_tokens=12, completion_tokens=3))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_"))}
    env.update(TW_BASE_URL=rt_server.base_url, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    run = subprocess.run(
        [sys.executable, "-c", _LAZY_REALTIME, how, when],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["imported_at_wrap"] is False
    assert result["realtime_patches"] == [
        "AsyncRealtimeConnection",
        "AsyncRealtimeConnectionManager",
        "RealtimeConnection",
        "RealtimeConnectionManager",
    ]
    (span,) = result["spans"]
    assert span["openai.api.type"] == "realtime"
    assert span["gen_ai.request.model"] == MODEL
    assert span["gen_ai.usage.input_tokens"] == 12
    assert span["gen_ai.usage.output_tokens"] == 3


def test_a_failed_connect_records_no_userinfo_query_or_proxy_password(
    rt_server: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WebSocket library's InvalidURI / InvalidProxy quote the whole URL: a gateway token as the
    URL's user name, the extra_query signature, a proxy's password went into the span's status (and
    LangSmith's error). Every URL in an error's message keeps its scheme, host and path only."""
    secrets = ("GATEWAYTOKEN", "QUERYSECRET", "proxyuser", "PROXYPASSWORD")

    def connect(client: Any, **kwargs: Any) -> str:
        manager = client.realtime.connect(model=MODEL, **kwargs)
        manager.send({"type": "response.create", "response": {}})  # queued: its span starts here
        with pytest.raises(Exception) as raised:
            with manager:
                pass
        return str(raised.value)

    tokened = openai.OpenAI(
        api_key=API_KEY, base_url=f"http://GATEWAYTOKEN@127.0.0.1:{rt_server.port}/v1", max_retries=0
    )
    told = [connect(wrap(tokened, **telemetry.wrap_kwargs()), extra_query={"sig": "QUERYSECRET"})]
    plain = openai.OpenAI(
        api_key=API_KEY, base_url=f"http://gateway.example:{rt_server.port}/v1", max_retries=0
    )
    # made before: the HTTP client reads the proxy at construction (and refuses this one); the
    # WebSocket connect reads it at connect time
    monkeypatch.setenv("http_proxy", "socks9://proxyuser:PROXYPASSWORD@proxy.internal:1080")
    told.append(connect(wrap(plain, **telemetry.wrap_kwargs())))
    assert all(any(secret in message for secret in secrets) for message in told)  # what the app sees
    spans = sorted(telemetry.spans(), key=lambda s: s.start_time)
    assert [s.attributes["error.type"] for s in spans] == ["InvalidURI", "InvalidProxy"]
    descriptions = [s.status.description or "" for s in spans]
    assert descriptions[0].startswith(f"ws://127.0.0.1:{rt_server.port}/v1/realtime isn't a valid URI")
    assert descriptions[1].startswith("socks9://proxy.internal:1080 isn't a valid proxy")
    assert not any(secret in d for secret in secrets for d in descriptions)

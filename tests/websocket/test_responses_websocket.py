"""Responses WebSocket mode on the real SDK (``client.responses.connect()``) against the fake
WebSocket server: one span per response, with what an SSE Responses stream's span carries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.resources.responses.responses import AsyncResponsesConnection, ResponsesConnection

from tests.conftest import API_KEY, Telemetry
from tracewrap import unwrap, wrap
from tracewrap.testing import Scenario
from tracewrap.testing.bodies import STREAM_ERROR_MESSAGE

MODEL = "gpt-4o-mini"


def client_for(ws_server: Any, telemetry: Telemetry, **options: Any) -> openai.OpenAI:
    client = openai.OpenAI(api_key=API_KEY, base_url=ws_server.base_url, max_retries=0)
    return wrap(client, **telemetry.wrap_kwargs(), **options)


def async_client_for(ws_server: Any, telemetry: Telemetry) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=ws_server.base_url, max_retries=0)
    return wrap(client, **telemetry.wrap_kwargs())


def read_turn(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "response.incomplete", "response.failed", "error"):
            return events
    return events


def spans_by_id(telemetry: Telemetry) -> dict[str, Any]:
    return {
        s.attributes["gen_ai.response.id"]: s
        for s in telemetry.spans()
        if "gen_ai.response.id" in s.attributes
    }


def point_sum(telemetry: Telemetry, name: str, **attrs: Any) -> float:
    return sum(
        p.sum for p in telemetry.points(name) if all(p.attributes.get(k) == v for k, v in attrs.items())
    )


def test_two_turns_on_one_connection_sync(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(
        Scenario(prompt_tokens=31, completion_tokens=9), Scenario(prompt_tokens=40, completion_tokens=11)
    )
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        assert type(connection) is ResponsesConnection
        connection.response.create(model=MODEL, input="Hi", temperature=0.5, max_output_tokens=64)
        first = read_turn(connection)
        first_id = first[-1].response.id
        connection.response.create(model=MODEL, input="Again", previous_response_id=first_id)
        second = read_turn(connection)
    assert first[-1].type == second[-1].type == "response.completed"
    spans = telemetry.spans()
    assert len(spans) == 2
    one, two = sorted(spans, key=lambda s: s.start_time)
    a = one.attributes
    assert one.name == f"chat {MODEL}"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.response.id"] == first_id == "resp_ws0001"
    assert a["gen_ai.response.model"].startswith(MODEL)
    assert a["gen_ai.usage.input_tokens"] == 31
    assert a["gen_ai.usage.output_tokens"] == 9
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["openai.response.status"] == "completed"
    assert a["tracewrap.stream.outcome"] == "completed"
    assert a["tracewrap.stream.chunks"] == len(first)
    assert 0 < a["gen_ai.response.time_to_first_chunk"] <= (one.end_time - one.start_time) / 1e9
    assert two.attributes["gen_ai.response.id"] == second[-1].response.id == "resp_ws0002"
    assert two.attributes["gen_ai.usage.input_tokens"] == 40
    assert ws_server.creates()[1]["previous_response_id"] == first_id
    assert point_sum(telemetry, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 71
    assert point_sum(telemetry, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 20
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 2


def test_error_event_mid_response(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(Scenario(outcome="stream_error"), Scenario())
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="Hi")
        events = read_turn(connection)
        connection.response.create(model=MODEL, input="Again")
        after = read_turn(connection)
    assert events[-1].type == "error" and after[-1].type == "response.completed"
    failed, ok = sorted(telemetry.spans(), key=lambda s: s.start_time)
    assert failed.attributes["error.type"] == "server_error"
    assert failed.status.description == STREAM_ERROR_MESSAGE
    assert failed.attributes["tracewrap.stream.outcome"] == "error"
    assert failed.attributes["gen_ai.response.id"] == "resp_ws0001"
    assert "gen_ai.usage.input_tokens" not in failed.attributes  # the response never reported any
    assert ok.attributes["gen_ai.response.id"] == "resp_ws0002"
    assert "error.type" not in ok.attributes


def test_rejected_create_goes_to_the_oldest_waiting_create(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(Scenario(outcome="http_error", status_code=400, error_message="bad model"))
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        connection.response.create(model="no-such-model", input="Hi")
        (event,) = read_turn(connection)
    assert event.type == "error" and event.status == 400
    span = telemetry.one_span()
    assert span.attributes["gen_ai.request.model"] == "no-such-model"
    assert span.attributes["error.type"] == "invalid_value"
    assert span.status.description == "bad model"
    assert "gen_ai.response.id" not in span.attributes


def test_connection_closed_mid_response(ws_server: Any, telemetry: Telemetry) -> None:
    from websockets.exceptions import ConnectionClosedError

    ws_server.add(Scenario(outcome="cut", chunks=6))
    client = client_for(ws_server, telemetry)
    events = []
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="Hi")
        with pytest.raises(ConnectionClosedError):
            for event in connection:
                events.append(event)
    span = telemetry.one_span()
    assert span.attributes["tracewrap.stream.outcome"] == "connection_closed"
    assert span.attributes["error.type"] == "ConnectionClosedError"
    assert span.attributes["gen_ai.response.id"] == "resp_ws0001"
    assert span.attributes["tracewrap.stream.chunks"] == len(events) > 2


def test_user_close_ends_open_response_as_closed_early(ws_server: Any, telemetry: Telemetry) -> None:
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="Hi")
        assert connection.recv().type == "response.created"
    span = telemetry.one_span()
    assert span.attributes["tracewrap.stream.outcome"] == "closed_early"
    assert span.attributes["tracewrap.stream.chunks"] == 1
    assert "error.type" not in span.attributes


def test_recv_and_recv_bytes_read_paths(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(
        Scenario(prompt_tokens=8, completion_tokens=2),
        Scenario(outcome="invalid_json", prompt_tokens=9, completion_tokens=4),
    )
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="one")
        kinds = []
        while not kinds or kinds[-1] != "response.completed":
            kinds.append(connection.recv().type)
        connection.response.create(model=MODEL, input="two")
        raw = []
        while True:
            message = connection.recv_bytes()
            assert isinstance(message, bytes)
            raw.append(message)
            if b'"response.completed"' in message:
                break
    assert b"{not json" in raw  # the malformed frame reached the user untouched
    by_id = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 2
    assert by_id["resp_ws0001"].attributes["gen_ai.usage.input_tokens"] == 8
    assert by_id["resp_ws0001"].attributes["tracewrap.stream.chunks"] == len(kinds)
    second = by_id["resp_ws0002"].attributes
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (9, 4)
    assert second["tracewrap.stream.outcome"] == "completed"
    assert second["tracewrap.stream.chunks"] == len(raw) - 1  # every frame but the malformed one


def test_creates_queued_before_the_connection_opens(ws_server: Any, telemetry: Telemetry) -> None:
    client = client_for(ws_server, telemetry)
    manager = client.responses.connect()
    manager.send({"type": "response.create", "model": MODEL, "input": "queued"})
    with manager as connection:
        events = read_turn(connection)
    assert events[-1].type == "response.completed"
    span = telemetry.one_span()
    assert span.attributes["gen_ai.request.model"] == MODEL
    assert span.attributes["gen_ai.response.id"] == events[-1].response.id


def test_send_raw_and_content_capture(ws_server: Any, telemetry: Telemetry) -> None:
    client = client_for(ws_server, telemetry, capture_content="span_only")
    with client.responses.connect() as connection:
        connection.send_raw(
            json.dumps(
                {"type": "response.create", "model": MODEL, "input": "Say hi", "instructions": "Be brief"}
            )
        )
        events = read_turn(connection)
        connection.send(
            {"type": "response.steer", "previous_response_id": events[-1].response.id, "input": "x"}
        )
    span = telemetry.one_span()
    assert "Say hi" in span.attributes["gen_ai.input.messages"]
    assert "Be brief" in span.attributes["gen_ai.system_instructions"]
    assert "Hello! How can I help?" in span.attributes["gen_ai.output.messages"]


def test_wrap_openai_covers_connections_and_unwrapped_clients_are_silent(
    ws_server: Any, telemetry: Telemetry
) -> None:
    bare = openai.OpenAI(api_key=API_KEY, base_url=ws_server.base_url, max_retries=0)
    wrap(openai, **telemetry.wrap_kwargs())
    try:
        with bare.responses.connect() as connection:
            connection.response.create(model=MODEL, input="Hi")
            read_turn(connection)
        assert len(telemetry.spans()) == 1
    finally:
        unwrap(openai)
    with bare.responses.connect() as connection:
        connection.response.create(model=MODEL, input="Hi")
        read_turn(connection)
    assert len(telemetry.spans()) == 1


def test_long_connection_keeps_no_per_response_state(ws_server: Any, telemetry: Telemetry) -> None:
    from tracewrap.interception.websocket import _KEY

    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        for _ in range(30):
            connection.response.create(model=MODEL, input="Hi")
            read_turn(connection)
        traces = connection.__dict__[_KEY]
        assert (traces.pending, traces.active, traces.by_id) == ({}, {}, {})
    assert len(telemetry.spans()) == 30


def test_reconnect_ends_the_lost_response_and_traces_the_next(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(Scenario(outcome="cut", chunks=4))  # the server closes with 1011: recoverable
    attempts = []
    opened: list[Any] = []

    def on_reconnecting(event: Any) -> None:
        # sent while the SDK reconnects: it queues the create and flushes it on the new socket
        attempts.append(event)
        opened[0].response.create(model=MODEL, input="after the reconnect")

    client = client_for(ws_server, telemetry)
    manager = client.responses.connect(on_reconnecting=on_reconnecting, initial_delay=0.01, max_delay=0.02)
    with manager as connection:
        opened.append(connection)
        connection.response.create(model=MODEL, input="lost")
        for event in connection:  # the SDK reconnects inside the iteration
            if event.type == "response.completed":
                completed = event.response
                break
    assert len(attempts) == 1 and ws_server.connections >= 2
    by_id = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 2
    assert by_id["resp_ws0001"].attributes["tracewrap.stream.outcome"] == "connection_closed"
    assert by_id["resp_ws0001"].attributes["error.type"] == "ConnectionClosedError"
    assert by_id[completed.id].attributes["tracewrap.stream.outcome"] == "completed"
    assert completed.id == "resp_ws0002"


def test_langsmith_run_gets_the_final_response(ws_server: Any, telemetry: Telemetry) -> None:
    import tracewrap
    from tracewrap.exporting.langsmith import LangSmithObserver, LangSmithSettings

    runs: list[Any] = []

    class Capturing(LangSmithObserver):
        def on_end(self, call: Any) -> None:
            runs.append(self.build_run(call, call.state.pop(id(self), None)))

    observer = Capturing(
        LangSmithSettings(project=None, hide_inputs=False, hide_outputs=False), client=object()
    )
    tracewrap.add_observer(observer)
    try:
        client = client_for(ws_server, telemetry)
        with client.responses.connect() as connection:
            connection.response.create(model=MODEL, input="Say hi")
            read_turn(connection)
    finally:
        tracewrap.remove_observer(observer)
    (run,) = runs
    dumped = json.dumps({"inputs": run.inputs, "outputs": run.outputs}, default=str)
    assert "Say hi" in dumped and "Hello! How can I help?" in dumped
    assert run.outputs["usage_metadata"]["input_tokens"] == 12


def test_dropped_connection_is_ended_as_abandoned(ws_server: Any, telemetry: Telemetry) -> None:
    import gc

    from tracewrap.telemetry.deferred import run_deferred

    client = client_for(ws_server, telemetry)
    manager = client.responses.connect()
    connection = manager.enter()
    connection.response.create(model=MODEL, input="Hi")
    assert connection.recv().type == "response.created"
    socket = connection._connection
    del manager, connection
    gc.collect()
    run_deferred()
    span = telemetry.one_span()
    assert span.attributes["tracewrap.stream.outcome"] == "abandoned"
    assert span.attributes["tracewrap.stream.chunks"] == 1
    socket.close()


# frames a server (or a proxy) might send mid-response: a future event type, broken shapes, JSON
# that is no object, and an event of a known type missing its fields
ODD_FRAMES = [
    '{"type": "response.future_event", "sequence_number": 1, "payload": {"nested": [1, 2]}}',
    '{"type": 42}',
    '{"no_type": true}',
    "[1, 2, 3]",
    '"just a string"',
    "null",
    '{"type": "response.output_text.delta"}',
    '{"type": "response.output_item.added", "item": "not an item"}',
]


@pytest.fixture
def internal_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every internal error tracewrap would log (``warn_once`` says each only once per process)."""
    from tracewrap.telemetry import lifecycle

    seen: list[str] = []
    monkeypatch.setattr(lifecycle, "warn_once", lambda key, *args: seen.append(key))
    return seen


@pytest.mark.parametrize("read", ["events", "recv_bytes"])
def test_unknown_and_malformed_events_are_survived_silently(
    ws_server: Any, telemetry: Telemetry, internal_errors: list[str], read: str
) -> None:
    ws_server.inject = ODD_FRAMES
    ws_server.add(Scenario(prompt_tokens=14, completion_tokens=6), Scenario(prompt_tokens=3))
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        for _ in range(2):  # the connection and its traces go on after them
            connection.response.create(model=MODEL, input="Hi")
            if read == "events":
                kinds = []  # what the SDK hands back for a list or a string has no type
                while not kinds or kinds[-1] != "response.completed":
                    kinds.append(getattr(connection.recv(), "type", None))
                assert kinds[1:9] == ["response.future_event", 42, None, None, None, None, *kinds[7:9]]
                assert kinds[7:9] == ["response.output_text.delta", "response.output_item.added"]
            else:
                frames = []
                while not frames or b'"response.completed"' not in frames[-1]:
                    frames.append(connection.recv_bytes())
                assert [f.decode() for f in frames[1 : 1 + len(ODD_FRAMES)]] == ODD_FRAMES  # untouched
    assert internal_errors == []
    by_id = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 2 and set(by_id) == {"resp_ws0001", "resp_ws0002"}
    first = by_id["resp_ws0001"].attributes
    assert first["tracewrap.stream.outcome"] == "completed"
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (14, 6)
    assert first["gen_ai.response.finish_reasons"] == ("stop",)
    assert "error.type" not in first
    assert by_id["resp_ws0002"].attributes["gen_ai.usage.input_tokens"] == 3


def test_malformed_terminal_and_error_events_still_end_the_span(
    ws_server: Any, telemetry: Telemetry, internal_errors: list[str]
) -> None:
    client = client_for(ws_server, telemetry)
    with client.responses.connect() as connection:
        # a terminal event whose response is missing ends the running response with what it has
        ws_server.inject = ['{"type": "response.completed", "response": null}']
        connection.response.create(model=MODEL, input="one")
        assert [e.type for e in read_turn(connection)] == ["response.created", "response.completed"]
        read_turn(connection)  # the real terminal event that follows belongs to no open response
        # an error event whose error is a bare string
        ws_server.inject = ['{"type": "error", "error": "boom"}']
        connection.response.create(model=MODEL, input="two")
        assert read_turn(connection)[-1].type == "error"
        read_turn(connection)
        traces = connection.__dict__["_tracewrap_ws"]
        assert (traces.pending, traces.active, traces.by_id) == ({}, {}, {})
    assert internal_errors == []
    one, two = sorted(telemetry.spans(), key=lambda s: s.start_time)
    assert one.attributes["tracewrap.stream.outcome"] == "completed"
    assert "gen_ai.usage.input_tokens" not in one.attributes  # the terminal event reported none
    assert one.attributes["tracewrap.stream.chunks"] == 2
    assert two.attributes["tracewrap.stream.outcome"] == "error"
    assert two.attributes["error.type"] == "error"  # no code or type to name it by
    assert two.attributes["gen_ai.response.id"] == "resp_ws0002"


def test_async_reconnect_ends_the_lost_response_and_traces_the_next(
    ws_server: Any, telemetry: Telemetry
) -> None:
    from websockets.exceptions import ConnectionClosedError

    ws_server.add(Scenario(outcome="cut", chunks=4))  # the server closes with 1011: recoverable
    attempts: list[Any] = []
    opened: list[Any] = []
    sends: list[asyncio.Task[None]] = []

    def on_reconnecting(event: Any) -> None:  # called synchronously, inside the event loop
        attempts.append(event)
        # the create runs while the SDK waits to reconnect: it is queued, then flushed to the new socket
        create = opened[0].response.create(model=MODEL, input="after")
        sends.append(asyncio.get_running_loop().create_task(create))

    async def main() -> Any:
        client = async_client_for(ws_server, telemetry)
        manager = client.responses.connect(
            on_reconnecting=on_reconnecting, initial_delay=0.01, max_delay=0.02
        )
        async with manager as connection:
            assert isinstance(connection, AsyncResponsesConnection)
            opened.append(connection)
            await connection.response.create(model=MODEL, input="lost")
            async for event in connection:  # the SDK reconnects inside the iteration
                if event.type == "response.completed":
                    await sends[0]
                    return event.response
        raise AssertionError("no response.completed")

    completed = asyncio.run(main())
    assert len(attempts) == 1 and ws_server.connections >= 2
    by_id = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 2
    lost = by_id["resp_ws0001"].attributes
    assert lost["tracewrap.stream.outcome"] == "connection_closed"
    assert lost["error.type"] == ConnectionClosedError.__name__
    assert completed.id == "resp_ws0002"
    assert by_id["resp_ws0002"].attributes["tracewrap.stream.outcome"] == "completed"
    assert by_id["resp_ws0002"].attributes["gen_ai.usage.input_tokens"] == 12

"""Several responses in flight on one connection: lanes (``stream_id`` on ``response.create``),
which the SDK has from openai 3.x (2.x's connections have ``connect()`` but no lanes: these tests
are collected only where ``create`` takes ``stream_id``, see conftest.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from openai.resources.responses.responses import AsyncResponsesConnection

from tests.conftest import Telemetry
from tracewrap.testing import Scenario

from .test_responses_websocket import MODEL, async_client_for, client_for, spans_by_id


def test_two_in_flight_on_lanes(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.hold = 2  # the server answers both creates, interleaved
    ws_server.add(
        Scenario(prompt_tokens=5, completion_tokens=3, chunks=4),
        Scenario(prompt_tokens=70, completion_tokens=30, chunks=4),
    )
    client = client_for(ws_server, telemetry)
    done: dict[str, Any] = {}
    seen_lanes = set()
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="left", stream_id="a")
        connection.response.create(model="gpt-4.1", input="right", stream_id="b")
        for event in connection:
            seen_lanes.add(event.stream_id)
            if event.type == "response.completed":
                done[event.stream_id] = event.response
                if len(done) == 2:
                    break
    assert seen_lanes == {"a", "b"}
    spans = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 2
    left, right = spans[done["a"].id], spans[done["b"].id]
    assert left.attributes["gen_ai.request.model"] == MODEL
    assert (left.attributes["gen_ai.usage.input_tokens"], left.attributes["gen_ai.usage.output_tokens"]) == (
        5,
        3,
    )
    assert right.attributes["gen_ai.request.model"] == "gpt-4.1"
    assert (
        right.attributes["gen_ai.usage.input_tokens"],
        right.attributes["gen_ai.usage.output_tokens"],
    ) == (70, 30)
    # interleaved: each span counted only its own events (created .. completed, 4 text deltas)
    assert left.attributes["tracewrap.stream.chunks"] == right.attributes["tracewrap.stream.chunks"] == 12


def test_async_two_turns_and_two_in_flight(ws_server: Any, telemetry: Telemetry) -> None:
    ws_server.add(Scenario(prompt_tokens=3, completion_tokens=1))

    async def main() -> list[str]:
        client = async_client_for(ws_server, telemetry)
        ids = []
        async with client.responses.connect() as connection:
            assert isinstance(connection, AsyncResponsesConnection)
            await connection.response.create(model=MODEL, input="one")
            async for event in connection:
                if event.type == "response.completed":
                    ids.append(event.response.id)
                    break
            ws_server.hold = 2
            await connection.response.create(model=MODEL, input="two", stream_id="x")
            await connection.response.create(model=MODEL, input="three", stream_id="y")
            while len(ids) < 3:
                event = await connection.recv()
                if event.type == "response.completed":
                    ids.append(event.response.id)
        return ids

    ids = asyncio.run(main())
    by_id = spans_by_id(telemetry)
    assert len(telemetry.spans()) == 3 and set(by_id) == set(ids)
    assert by_id[ids[0]].attributes["gen_ai.usage.input_tokens"] == 3
    assert all(s.attributes["tracewrap.stream.outcome"] == "completed" for s in by_id.values())

"""A call its caller cancelled is its own outcome, `cancelled`: not a failure, not in the error panels."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tests.core.helpers import API_KEY, MESSAGES, async_client, attrs, finishes
from tracewrap import wrap
from tracewrap.testing import Scenario


def assert_cancelled(span: Any, telemetry: Any) -> None:
    a = attrs(span)
    assert span.status.status_code is StatusCode.UNSET
    assert a["tracewrap.cancelled"] is True
    assert "error.type" not in a
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert "error.type" not in duration.attributes
    assert duration.count == 1
    assert finishes(telemetry) == {"cancelled": 1}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_task_cancel_before_the_answer(server, telemetry, api) -> None:
    client = async_client(server, telemetry)
    server.enqueue(Scenario(delay_s=2))

    async def scenario() -> None:
        if api == "chat":
            task = asyncio.ensure_future(client.chat.completions.create(model="m", messages=MESSAGES))
        else:
            task = asyncio.ensure_future(client.responses.create(model="m", input="hi"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert_cancelled(telemetry.one_span(), telemetry)


def test_wait_for_timeout_is_a_cancellation(server, telemetry) -> None:
    client = async_client(server, telemetry)
    server.enqueue(Scenario(delay_s=2))

    async def scenario() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.chat.completions.create(model="m", messages=MESSAGES), 0.2)

    asyncio.run(scenario())
    assert_cancelled(telemetry.one_span(), telemetry)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_cancelled_mid_way(server, telemetry, api) -> None:
    client = async_client(server, telemetry)
    server.enqueue(Scenario(chunks=6, chunk_delay_s=0.3))
    got: list[Any] = []

    async def read() -> None:
        if api == "chat":
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        else:
            stream = await client.responses.create(model="m", input="hi", stream=True)
        async for chunk in stream:
            got.append(chunk)

    async def scenario() -> None:
        task = asyncio.ensure_future(read())
        while not got:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    span = telemetry.one_span()
    assert_cancelled(span, telemetry)
    assert attrs(span)["tracewrap.stream.outcome"] == "cancelled"
    assert attrs(span)["tracewrap.stream.chunks"] == len(got) >= 1


def test_a_stream_cancelled_after_its_finish_counts_as_cancelled(server, telemetry) -> None:
    """Cancelled after the finish chunk (``length``), while the usage chunk is still to come: the
    caller gave up on the call, which the finishes counter says as the span does (``cancelled``),
    whatever had arrived; the finish that did is on the span."""
    client = async_client(server, telemetry)
    server.enqueue(Scenario(chunks=2, outcome="length", chunk_delay_s=0.3))
    finished = asyncio.Event()

    async def read() -> None:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if any(choice.finish_reason for choice in chunk.choices):
                finished.set()

    async def scenario() -> None:
        task = asyncio.ensure_future(read())
        await finished.wait()
        task.cancel()  # while the reader waits for the usage chunk
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    span = telemetry.one_span()
    assert_cancelled(span, telemetry)
    a = attrs(span)
    assert a["tracewrap.stream.outcome"] == "cancelled"
    assert a["gen_ai.response.finish_reasons"] == ("length",)
    assert "gen_ai.usage.input_tokens" not in a


def test_sdk_timeout_stays_an_error(server, telemetry) -> None:
    bare = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, timeout=0.2)
    client = wrap(bare, **telemetry.wrap_kwargs())
    server.enqueue(Scenario(delay_s=1))

    async def scenario() -> None:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(scenario())
    span = telemetry.one_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "APITimeoutError"
    assert "tracewrap.cancelled" not in attrs(span)
    assert finishes(telemetry) == {"error": 1}


@pytest.mark.parametrize("when", ["before_the_answer", "mid_stream"])
def test_a_trio_cancel_scope_is_a_cancellation(server, telemetry, when) -> None:
    """AsyncOpenAI runs on trio through anyio: a cancel scope's ``trio.Cancelled`` is the caller
    giving up, as asyncio's ``CancelledError`` is (it was recorded as an error, ``Cancelled``)."""
    import trio

    client = async_client(server, telemetry)
    got: list[Any] = []

    async def scenario() -> None:
        with trio.move_on_after(0.3) as scope:
            if when == "before_the_answer":
                await client.chat.completions.create(model="m", messages=MESSAGES)
            else:
                async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
                    async for event in stream:
                        got.append(event)
        assert scope.cancelled_caught

    server.enqueue(
        Scenario(delay_s=2) if when == "before_the_answer" else Scenario(chunks=8, chunk_delay_s=0.2)
    )
    trio.run(scenario)
    span = telemetry.one_span()
    assert_cancelled(span, telemetry)
    if when == "mid_stream":
        assert attrs(span)["tracewrap.stream.outcome"] == "cancelled"
        assert 1 <= attrs(span)["tracewrap.stream.chunks"] < 8

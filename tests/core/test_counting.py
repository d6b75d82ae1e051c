"""Every response's usage, cost and finish counted exactly once: retrieve, background mode."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tests.core.helpers import async_client, attrs, sync_client
from tracewrap.telemetry import counting
from tracewrap.testing import Scenario

USAGE_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")


def token_sums(telemetry: Any) -> dict[str, int]:
    sums: dict[str, int] = {}
    for point in telemetry.points("tracewrap.client.token.usage"):
        kind = point.attributes["gen_ai.token.type"]
        sums[kind] = sums.get(kind, 0) + point.value
    return sums


def histogram_tokens(telemetry: Any) -> dict[str, int]:
    sums: dict[str, int] = {}
    for point in telemetry.points("gen_ai.client.token.usage"):
        kind = point.attributes["gen_ai.token.type"]
        sums[kind] = sums.get(kind, 0) + int(point.sum)
    return sums


def finishes(telemetry: Any) -> dict[str, int]:
    return {
        p.attributes["tracewrap.finish_reason"]: p.value
        for p in telemetry.points("tracewrap.client.finishes")
    }


def cost_total(telemetry: Any) -> float:
    return sum(p.value for p in telemetry.points("tracewrap.client.cost.usd"))


def duration_models(telemetry: Any) -> list[tuple[str, str | None, int]]:
    return sorted(
        (p.attributes["gen_ai.operation.name"], p.attributes.get("gen_ai.request.model"), p.count)
        for p in telemetry.points("gen_ai.client.operation.duration")
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_retrieve_of_a_counted_response_counts_nothing(server, telemetry, mode) -> None:
    async def calls_async() -> str:
        client = async_client(server, telemetry, estimate_cost=True, provider="openai")
        created = await client.responses.create(model="gpt-4o-mini", input="hi")
        await client.responses.retrieve(created.id)
        await client.responses.retrieve(response_id=created.id)
        return created.id

    if mode == "sync":
        client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
        created = client.responses.create(model="gpt-4o-mini", input="hi")
        client.responses.retrieve(created.id)
        client.responses.retrieve(response_id=created.id)
        response_id = created.id
    else:
        response_id = run(calls_async())
    create, *fetches = telemetry.spans()
    assert attrs(create)["gen_ai.usage.input_tokens"] == 12
    assert attrs(create)["tracewrap.cost.estimate_usd"] > 0
    for fetch in fetches:
        a = attrs(fetch)
        assert a["gen_ai.operation.name"] == "fetch_response"
        assert a["gen_ai.response.id"] == response_id
        assert a["openai.response.status"] == "completed"
        assert a["gen_ai.response.finish_reasons"] == ("stop",)
        assert not any(key.startswith("gen_ai.usage.") for key in a)
        assert "tracewrap.cost.estimate_usd" not in a
        assert "gen_ai.request.model" not in a  # the retrieve request names no model
    assert token_sums(telemetry) == {"input": 12, "output": 7}
    assert histogram_tokens(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}
    assert cost_total(telemetry) == pytest.approx(attrs(create)["tracewrap.cost.estimate_usd"])
    # every duration point has a model: the fetches carry the fetched response's model
    assert duration_models(telemetry) == [
        ("chat", "gpt-4o-mini", 1),
        ("fetch_response", "gpt-4o-mini-2024-07-18", 2),
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_background_usage_counted_once_by_the_first_terminal_retrieve(server, telemetry, mode) -> None:
    server.enqueue(Scenario(background_polls=2, prompt_tokens=40, completion_tokens=9))

    async def calls_async() -> list[str]:
        client = async_client(server, telemetry, estimate_cost=True, provider="openai")
        created = await client.responses.create(model="gpt-4o-mini", input="hi", background=True)
        return [created.status] + [(await client.responses.retrieve(created.id)).status for _ in range(4)]

    if mode == "sync":
        client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
        created = client.responses.create(model="gpt-4o-mini", input="hi", background=True)
        statuses = [created.status] + [client.responses.retrieve(created.id).status for _ in range(4)]
    else:
        statuses = run(calls_async())
    assert statuses == ["queued", "in_progress", "in_progress", "completed", "completed"]
    spans = telemetry.spans()
    assert [attrs(s)["openai.response.status"] for s in spans] == statuses
    with_usage = [i for i, s in enumerate(spans) if "gen_ai.usage.input_tokens" in attrs(s)]
    assert with_usage == [3]  # the first retrieve that saw it completed, and only that one
    counting_span = attrs(spans[3])
    assert counting_span["gen_ai.usage.input_tokens"] == 40
    assert counting_span["gen_ai.usage.output_tokens"] == 9
    assert counting_span["tracewrap.cost.estimate_usd"] > 0
    assert [("tracewrap.cost.estimate_usd" in attrs(s)) for s in spans] == [False, False, False, True, False]
    assert token_sums(telemetry) == {"input": 40, "output": 9}
    assert finishes(telemetry) == {"stop": 1}  # the create (queued) has no finish yet
    assert cost_total(telemetry) == pytest.approx(counting_span["tracewrap.cost.estimate_usd"])
    # fetches of a pending id carry the model the create asked for (its usage lands in the create's
    # series); once counted the id is forgotten and a later fetch carries the response's model
    tokens_models = {
        p.attributes["gen_ai.request.model"] for p in telemetry.points("tracewrap.client.token.usage")
    }
    assert tokens_models == {"gpt-4o-mini"}
    assert duration_models(telemetry) == [
        ("chat", "gpt-4o-mini", 1),
        ("fetch_response", "gpt-4o-mini", 3),
        ("fetch_response", "gpt-4o-mini-2024-07-18", 1),
    ]


def test_background_response_polled_from_two_threads_is_counted_once(server, telemetry) -> None:
    server.enqueue(Scenario(background_polls=0, prompt_tokens=5, completion_tokens=3))
    client = sync_client(server, telemetry)
    created = client.responses.create(model="m", input="hi", background=True)
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def poll() -> None:
        barrier.wait()
        seen.append(client.responses.retrieve(created.id).status)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["completed"] * 8
    assert token_sums(telemetry) == {"input": 5, "output": 3}
    assert finishes(telemetry) == {"stop": 1}
    assert sum("gen_ai.usage.input_tokens" in attrs(s) for s in telemetry.spans()) == 1


def test_background_response_created_elsewhere_is_not_counted(server, telemetry) -> None:
    bare = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
    server.enqueue(Scenario(background_polls=0))
    created = bare.responses.create(model="m", input="hi", background=True)  # "another process"
    client = sync_client(server, telemetry)
    assert client.responses.retrieve(created.id).status == "completed"
    a = attrs(telemetry.one_span())
    assert a["openai.response.status"] == "completed" and "gen_ai.usage.input_tokens" not in a
    assert token_sums(telemetry) == {}
    assert finishes(telemetry) == {}
    assert duration_models(telemetry) == [("fetch_response", "m-2024-07-18", 1)]


def test_background_stream_counts_on_the_create_and_never_again(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    stream = client.responses.create(model="m", input="hi", background=True, stream=True)
    final = [event for event in stream][-1]
    assert final.type == "response.completed"
    client.responses.retrieve(final.response.id)
    assert token_sums(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}
    assert counting.pending_count() == 0 or final.response.id not in counting._pending


def test_background_stream_left_early_is_counted_by_the_resumed_stream(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    with client.responses.create(model="m", input="hi", background=True, stream=True) as stream:
        first = next(iter(stream))
    response_id = first.response.id
    with client.responses.stream(response_id=response_id, starting_after=first.sequence_number) as resumed:
        events = [event.type for event in resumed]
    assert events[-1] == "response.completed"
    create, resume = telemetry.spans()
    assert attrs(create)["openai.response.status"] == "in_progress"
    assert "gen_ai.usage.input_tokens" not in attrs(create)
    assert attrs(resume)["gen_ai.operation.name"] == "fetch_response"
    assert attrs(resume)["gen_ai.usage.input_tokens"] == 12
    assert token_sums(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_fetch_of_a_failed_response_is_not_an_error(server, telemetry, mode) -> None:
    server.enqueue(Scenario(outcome="failed", background_polls=0))

    async def calls_async() -> Any:
        client = async_client(server, telemetry)
        created = await client.responses.create(model="m", input="hi", background=True)
        return await client.responses.retrieve(created.id)

    if mode == "sync":
        client = sync_client(server, telemetry)
        created = client.responses.create(model="m", input="hi", background=True)
        fetched = client.responses.retrieve(created.id)
    else:
        fetched = run(calls_async())
    assert fetched.status == "failed"
    fetch = telemetry.spans()[-1]
    a = attrs(fetch)
    assert fetch.status.status_code is StatusCode.UNSET
    assert "error.type" not in a
    assert a["openai.response.status"] == "failed"
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert finishes(telemetry) == {"error": 1}
    assert all("error.type" not in p.attributes for p in telemetry.points("gen_ai.client.operation.duration"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_retrieve_names_the_response_it_asked_for(server, telemetry, mode) -> None:
    server.enqueue(Scenario(outcome="http_error", status_code=404, error_message="No response found"))
    if mode == "sync":
        with pytest.raises(openai.NotFoundError):
            sync_client(server, telemetry).responses.retrieve("resp_missing123")
    else:

        async def call() -> None:
            await async_client(server, telemetry).responses.retrieve("resp_missing123")

        with pytest.raises(openai.NotFoundError):
            run(call())
    span = telemetry.one_span()
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == "NotFoundError"
    assert a["http.response.status_code"] == 404
    assert a["gen_ai.response.id"] == "resp_missing123"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "NotFoundError"
    assert finishes(telemetry) == {}


def test_raw_retrieve_counts_like_the_plain_one(server, telemetry) -> None:
    server.enqueue(Scenario(background_polls=0))
    client = sync_client(server, telemetry)
    created = client.responses.with_raw_response.create(model="m", input="hi", background=True).parse()
    first = client.responses.with_raw_response.retrieve(created.id).parse()
    with client.responses.with_streaming_response.retrieve(created.id) as raw:
        second = raw.parse()
    assert first.status == second.status == "completed"
    assert token_sums(telemetry) == {"input": 12, "output": 7}
    assert [("gen_ai.usage.input_tokens" in attrs(s)) for s in telemetry.spans()] == [False, True, False]


def test_pending_memory_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(counting, "MAX_PENDING", 3)
    monkeypatch.setattr(counting, "_pending", counting.OrderedDict())
    for i in range(5):
        counting._remember(f"resp_{i}", "m")
    assert list(counting._pending) == ["resp_2", "resp_3", "resp_4"]


@pytest.mark.parametrize("how", ["cut", "cancelled"])
def test_background_stream_cut_or_cancelled_is_counted_by_the_retrieve(server, telemetry, how) -> None:
    """The connection ends (or the reading task is cancelled) after the response started: a background
    response goes on server-side, so the retrieve that sees it finish counts it, once."""

    async def cancelled_read() -> str:
        client = async_client(server, telemetry)
        stream = await client.responses.create(model="m", input="hi", background=True, stream=True)
        first = await stream.__anext__()
        reading = asyncio.ensure_future(stream.__anext__())
        for _ in range(3):  # the task runs up to its read of the next event, which is seconds away
            await asyncio.sleep(0)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        await client.close()
        return first.response.id

    if how == "cut":
        server.enqueue(Scenario(outcome="cut", chunks=6), Scenario(background_polls=0))
        client = sync_client(server, telemetry)
        events = []
        # the server closes the connection mid-body: openai 3.x raises APIConnectionError, the older
        # SDKs their HTTP client's RemoteProtocolError
        with pytest.raises(Exception) as cut:
            with client.responses.create(model="m", input="hi", background=True, stream=True) as stream:
                for event in stream:
                    events.append(event)
        assert type(cut.value).__name__ in ("APIConnectionError", "RemoteProtocolError")
        response_id = events[0].response.id
    else:
        server.enqueue(Scenario(chunks=6, chunk_delay_s=5), Scenario(background_polls=0))
        response_id = run(cancelled_read())
    sync_client(server, telemetry).responses.retrieve(response_id)
    create, fetch = telemetry.spans()
    assert attrs(create)["tracewrap.stream.outcome"] == {"cut": "error", "cancelled": "cancelled"}[how]
    assert "gen_ai.usage.input_tokens" not in attrs(create)
    assert attrs(fetch)["gen_ai.usage.input_tokens"] == 12
    assert token_sums(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_background_response_cancelled_is_counted_by_the_cancel(server, telemetry, mode) -> None:
    """``responses.cancel`` answers with the response, cancelled: the first call to see the pending
    background response terminal, so it counts its usage and finish, once; a retrieve after it
    counts nothing, and cancelling a response already counted counts nothing either."""
    server.enqueue(Scenario(background_polls=3, prompt_tokens=21, completion_tokens=4))

    async def calls_async() -> list[str]:
        client = async_client(server, telemetry, estimate_cost=True, provider="openai")
        created = await client.responses.create(model="gpt-4o-mini", input="hi", background=True)
        cancelled = await client.responses.cancel(created.id)
        again = await client.responses.cancel(created.id)
        fetched = await client.responses.retrieve(created.id)
        return [created.status, cancelled.status, again.status, fetched.status]

    if mode == "sync":
        client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
        created = client.responses.create(model="gpt-4o-mini", input="hi", background=True)
        cancelled = client.responses.cancel(created.id)
        assert isinstance(cancelled, openai.types.responses.Response)
        again = client.responses.cancel(created.id)
        fetched = client.responses.retrieve(created.id)
        statuses = [created.status, cancelled.status, again.status, fetched.status]
    else:
        statuses = run(calls_async())
    assert statuses == ["queued", "cancelled", "cancelled", "cancelled"]
    spans = telemetry.spans()
    assert [s.name for s in spans][:3] == ["chat gpt-4o-mini", "cancel_response", "cancel_response"]
    operations = [attrs(s)["gen_ai.operation.name"] for s in spans]
    assert operations == ["chat", "cancel_response", "cancel_response", "fetch_response"]
    with_usage = [i for i, s in enumerate(spans) if "gen_ai.usage.input_tokens" in attrs(s)]
    assert with_usage == [1]  # the first cancel, and only that one
    counting_span = attrs(spans[1])
    assert counting_span["gen_ai.response.id"] == spans[0].attributes["gen_ai.response.id"]
    assert counting_span["openai.response.status"] == "cancelled"
    assert "error.type" not in counting_span and spans[1].status.status_code is not StatusCode.ERROR
    assert token_sums(telemetry) == {"input": 21, "output": 4}
    assert histogram_tokens(telemetry) == {"input": 21, "output": 4}
    assert finishes(telemetry) == {"cancelled": 1}
    assert cost_total(telemetry) == pytest.approx(counting_span["tracewrap.cost.estimate_usd"])
    assert ("cancel_response", "gpt-4o-mini", 1) in duration_models(telemetry)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_whole_float_token_counts_count_and_fractions_do_not(server, telemetry, api: str) -> None:
    """A compatible server may write its counts as JSON floats (``12.0``; the SDK keeps them floats):
    a whole one is that many tokens, on the span and in the metrics; ``12.5`` counts nothing."""
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(prompt_tokens=12.0, completion_tokens=7.0))  # type: ignore[arg-type]
    server.enqueue(Scenario(prompt_tokens=12.5, completion_tokens=7.0))  # type: ignore[arg-type]
    for _ in range(2):
        if api == "chat":
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert reply.usage is not None and reply.usage.prompt_tokens in (12.0, 12.5)
        else:
            response = client.responses.create(model="m", input="hi")
            assert response.usage is not None and response.usage.input_tokens in (12.0, 12.5)
    whole, fraction = (attrs(span) for span in telemetry.spans())
    assert whole["gen_ai.usage.input_tokens"] == 12 and type(whole["gen_ai.usage.input_tokens"]) is int
    assert whole["gen_ai.usage.output_tokens"] == 7
    assert "gen_ai.usage.input_tokens" not in fraction and fraction["gen_ai.usage.output_tokens"] == 7
    assert token_sums(telemetry) == {"input": 12, "output": 14}

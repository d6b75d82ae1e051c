"""A stream's span ends exactly once, however the stream ends, and nothing is left attached."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import StatusCode

import tracewrap
from tests.core.helpers import MESSAGES, async_client, attrs, finishes, sync_client
from tracewrap.telemetry import deferred
from tracewrap.testing import Scenario

LONG = Scenario(text=" ".join(f"w{i}" for i in range(40)))


def _outcome(telemetry) -> str:
    return attrs(telemetry.one_span())["tracewrap.stream.outcome"]


def test_break_ends_span_without_error(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    assert telemetry.spans() == []  # still open: the user may go on reading
    stream.close()
    span = telemetry.one_span()
    assert attrs(span)["tracewrap.stream.outcome"] == "closed_early"
    assert attrs(span)["tracewrap.stream.chunks"] == 4
    assert span.status.status_code is StatusCode.UNSET


def test_with_block_exit_ends_span(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    with client.responses.create(model="m", input="hi", stream=True) as stream:
        next(iter(stream))
    assert _outcome(telemetry) == "closed_early"


def test_helper_break_then_exit_ends_span(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
    assert _outcome(telemetry) == "closed_early"


def test_abandoned_stream_is_ended_when_collected(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG, LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    never_read = client.responses.create(model="m", input="hi", stream=True)
    del never_read
    gc.collect()
    tracewrap.flush()
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    assert outcomes == ["abandoned", "abandoned"]
    assert all(s.status.status_code is StatusCode.UNSET for s in telemetry.spans())


def test_async_break_and_abandon(server, telemetry) -> None:
    client = async_client(server, telemetry)

    async def scenario() -> None:
        server.enqueue(LONG, LONG)
        async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            async for _ in stream:
                break
        stream = await client.responses.create(model="m", input="hi", stream=True)
        await stream.__anext__()
        del stream
        gc.collect()

    asyncio.run(scenario())
    tracewrap.flush()
    outcomes = sorted(attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans())
    assert outcomes == ["abandoned", "closed_early"]


def test_cut_stream_is_visible(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="cut"))
    raised: Exception | None = None
    try:
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
    except Exception as exc:  # 3.x: openai.APIConnectionError; 1.x/2.x: httpx.RemoteProtocolError
        raised = exc
    span = telemetry.one_span()
    assert span.status.status_code is StatusCode.ERROR
    if raised is None:  # the stream just stopped: no terminal chunk, no [DONE]
        assert attrs(span)["tracewrap.stream.outcome"] == "incomplete"
    else:  # the user saw the SDK's own exception; the span names it
        assert attrs(span)["tracewrap.stream.outcome"] == "error"
        assert attrs(span)["error.type"] == type(raised).__name__
    assert "gen_ai.response.finish_reasons" not in attrs(span)


def test_no_context_left_attached(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    before = otel_context.get_current()
    server.enqueue(LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert otel_context.get_current() == before
    for _ in stream:
        assert otel_context.get_current() == before
    client.responses.create(model="m", input="hi")
    assert otel_context.get_current() == before


def test_stream_memory_is_flat_with_content_capture_off(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(text="x " * 3000, chunks=3000))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first = next(stream)
    tracemalloc.start()
    for i, _chunk in enumerate(stream):
        if i == 200:
            early, _ = tracemalloc.get_traced_memory()
    late, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first is not None
    # 2,800 more chunks must not grow what is held: aggregation keeps scalars only
    assert late - early < 64 * 1024, (early, late)
    assert attrs(telemetry.one_span())["tracewrap.stream.chunks"] >= 3000


def test_a_stream_that_ended_runs_no_tracewrap_code_when_freed(server, telemetry, monkeypatch) -> None:
    """The weak reference that notices a dropped stream goes when the stream ends, callback and all:
    freeing an ended stream runs nothing of tracewrap's; freeing one that never ended still does."""
    freed: list[object] = []
    original = deferred._freed

    def spy(watch: object) -> None:
        freed.append(watch)
        original(watch)

    monkeypatch.setattr(deferred, "_freed", spy)
    client = sync_client(server, telemetry)
    server.enqueue(LONG, LONG)
    read = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert len(list(read)) > 2
    del read
    gc.collect()
    assert freed == []
    dropped = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(dropped)
    del dropped
    gc.collect()
    tracewrap.flush()
    assert len(freed) == 1
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    assert outcomes == ["completed", "abandoned"]


def test_azure_first_chunk_without_an_envelope_leaves_the_response_id_and_model(server, telemetry) -> None:
    """Azure OpenAI opens a chat stream with the prompt's content-filter results alone (empty id,
    model and object, no choices): the envelope is the next chunk's, content capture on or off."""
    import openai

    ids = []
    for capture in ("no_content", "span_only"):
        azure = openai.AzureOpenAI(
            azure_endpoint=f"http://127.0.0.1:{server.port}",
            api_key="k",
            api_version="2024-10-21",
            max_retries=0,
        )
        client = tracewrap.wrap(azure, **telemetry.wrap_kwargs(), capture_content=capture)
        server.enqueue(Scenario(prompt_filter_chunk=True, chunks=3, model="gpt-4o-2024-08-06"))
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        assert (chunks[0].id, chunks[0].model, chunks[0].choices) == ("", "", [])
        ids.append(chunks[1].id)
        assert server.requests[-1].path == "/openai/deployments/gpt-4o/chat/completions"
    for span, chunk_id in zip(telemetry.spans(), ids, strict=True):
        a = attrs(span)
        assert a["gen_ai.provider.name"] == "azure.ai.openai"
        assert (a["gen_ai.response.id"], a["gen_ai.response.model"]) == (chunk_id, "gpt-4o-2024-08-06")
        assert a["openai.response.system_fingerprint"] == "fp_test"
        assert a["tracewrap.stream.outcome"] == "completed"
    models = {
        p.attributes.get("gen_ai.response.model")
        for p in telemetry.points("gen_ai.client.operation.duration")
    }
    assert models == {"gpt-4o-2024-08-06"}


def _read_until(stream, stop) -> list:
    read = []
    for chunk in stream:
        read.append(chunk)
        if stop(chunk):
            break
    stream.close()
    return read


def test_a_stream_closed_early_is_completed_only_when_nothing_was_left(server, telemetry) -> None:
    """Closed after its end arrived, a stream lost nothing (only the [DONE] read was skipped): then it
    is completed. Not before every choice asked for (``n``) has finished, nor before the usage chunk
    it asked for (which follows the last finish)."""
    client = sync_client(server, telemetry)

    def finishes(chunk) -> int:
        return sum(1 for c in chunk.choices if c.finish_reason)

    cases = []  # (what was asked, when to stop, expected outcome)
    done = []
    cases.append(({"n": 2}, lambda c: finishes(c) > 0, "closed_early"))  # choice 1 still to finish

    def second_finish(c) -> bool:
        done.append(finishes(c))
        return sum(done) == 2

    cases.append(({"n": 2}, second_finish, "completed"))
    usage = {"stream_options": {"include_usage": True}}
    cases.append((usage, lambda c: finishes(c) > 0, "closed_early"))  # the usage chunk still to come
    cases.append((usage, lambda c: c.usage is not None, "completed"))
    for asked, stop, _ in cases:
        server.enqueue(Scenario(chunks=3))
        _read_until(client.chat.completions.create(model="m", messages=MESSAGES, stream=True, **asked), stop)
    spans = telemetry.spans()
    assert [attrs(s)["tracewrap.stream.outcome"] for s in spans] == [case[2] for case in cases]
    assert [attrs(s)["gen_ai.response.finish_reasons"] for s in spans] == [
        ("stop",),
        ("stop", "stop"),
        ("stop",),
        ("stop",),
    ]
    assert ["gen_ai.usage.output_tokens" in attrs(s) for s in spans] == [False, False, False, True]
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)


def test_a_raw_stream_dropped_unread_is_freed_and_its_connection_returned(server, telemetry) -> None:
    """``with_raw_response`` streams (litellm's road for every stream): dropped half-read, the stream
    is freed as without tracewrap (nothing of ours keeps it alive), its span ends ``abandoned``, and
    its connection goes back to the pool: one connection serves three dropped streams and a call."""
    import importlib
    import weakref

    import openai

    plain = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    http_module = next(c.__module__ for c in type(plain._client).__mro__ if c.__module__.startswith("httpx"))
    http = importlib.import_module(http_module.split(".")[0])  # httpx (openai 1.x, 2.x) or httpx2 (3.x)
    one_connection = openai.DefaultHttpxClient(limits=http.Limits(max_connections=1), timeout=5)
    client = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, http_client=one_connection),
        **telemetry.wrap_kwargs(),
    )
    freed = []
    for _ in range(3):
        server.enqueue(LONG)
        stream = client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, stream=True
        ).parse()
        next(iter(stream))
        watch = weakref.ref(stream)
        del stream
        gc.collect()
        freed.append(watch() is None)
    assert freed == [True, True, True]
    server.enqueue(Scenario())
    client.chat.completions.create(model="m", messages=MESSAGES)  # the pool's one connection is free
    tracewrap.flush()
    outcomes = [attrs(s).get("tracewrap.stream.outcome") for s in telemetry.spans()]
    assert outcomes == ["abandoned", "abandoned", "abandoned", None]


def test_an_async_raw_stream_dropped_unread_is_freed(server, telemetry) -> None:
    import weakref

    client = async_client(server, telemetry)

    async def scenario() -> bool:
        server.enqueue(LONG)
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, stream=True
        )
        stream = raw.parse()  # a LegacyAPIResponse: parse() is not awaited
        await stream.__anext__()
        watch = weakref.ref(stream)
        del stream, raw
        gc.collect()
        # On Python 3.15 the collection hands the stream's started async generators to asyncio's
        # finalizer hook, whose aclose task holds them until the loop runs it: bare too
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        return watch() is None

    assert asyncio.run(scenario()) is True
    tracewrap.flush()
    assert [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()] == ["abandoned"]


def test_a_streaming_response_dropped_unparsed_ends_abandoned(server, telemetry) -> None:
    """``with_streaming_response`` without ``stream=True``, entered and dropped, neither parsed nor
    closed: its span ends ``abandoned`` (it never ended), whether the GC or the last reference frees it."""
    import weakref

    client = sync_client(server, telemetry)
    freed = []
    for half_read in (False, True):
        server.enqueue(LONG)
        response = client.chat.completions.with_streaming_response.create(
            model="m", messages=MESSAGES
        ).__enter__()
        if half_read:
            chunks = response.iter_bytes(8)
            next(chunks)
        watch = weakref.ref(response)
        del response
        if half_read:
            del chunks
        gc.collect()
        freed.append(watch() is None)
    tracewrap.flush()
    assert freed == [True, True]
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    # half-read: httpx2 closes the response as the byte iterator goes (the user's own close); the
    # older SDKs' httpx leaves it to the response being freed
    assert outcomes[0] == "abandoned" and outcomes[1] in ("abandoned", "closed_early")
    assert all(s.status.status_code is StatusCode.UNSET for s in telemetry.spans())


def test_an_async_raw_read_dropped_half_way_tells_asyncio_what_it_would_untraced(server, telemetry) -> None:
    """Dropped together, a tapped byte iterator and the SDK's own: asyncio must hear from them what it
    hears untraced. (Two async generators, ours awaiting the SDK's ``aclose()`` while asyncio's
    finalizer hook ran it too, printed ``aclose(): asynchronous generator is already running`` as a
    task exception nobody retrieves; Python 3.10 prints that for the SDK's own generators untraced too.)"""
    import openai

    async def drop_three(client) -> list[str]:
        problems: list[str] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: problems.append(str(context.get("exception") or context.get("message")))
        )
        for _ in range(3):
            server.enqueue(LONG)
            response = await client.chat.completions.with_streaming_response.create(
                model="m", messages=MESSAGES
            ).__aenter__()
            chunks = response.iter_bytes(8)
            await chunks.__anext__()
            response.kept = chunks  # dropped together: the GC finds both in one cycle
            del chunks, response
            gc.collect()
            await asyncio.sleep(0.05)  # the finalizer hook's aclose tasks run
            gc.collect()
            await asyncio.sleep(0.05)
        return problems

    untraced = asyncio.run(
        drop_three(openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0))
    )
    traced = asyncio.run(drop_three(async_client(server, telemetry)))
    gc.collect()  # the last response, its generators finalized as the loop shut down
    tracewrap.flush()
    assert traced == untraced
    assert len(telemetry.spans()) == 3


def test_a_stream_still_open_when_asyncio_run_ends_is_abandoned(server, telemetry) -> None:
    """Read half-way, never closed, left open as ``asyncio.run()`` returns: the loop's shutdown closes
    the SDK's async generator and tracewrap's in no fixed order; on openai 3.x the SDK's closing
    its response first read as the user's close (``closed_early`` in about half the runs, every run
    through the ``.stream()`` helper). The program never closed it: ``abandoned``, every run."""
    client = async_client(server, telemetry)

    async def leave_open(helper: bool) -> None:
        if helper:
            manager = client.chat.completions.stream(model="m", messages=MESSAGES)
            stream: Any = await manager.__aenter__()  # never exited
        else:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            break

    for run in range(8):
        server.enqueue(LONG)
        asyncio.run(leave_open(helper=run % 2 == 1))
    gc.collect()
    tracewrap.flush()
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    assert outcomes == ["abandoned"] * 8


def test_a_stream_that_ends_before_every_choice_finished_is_incomplete(server, telemetry) -> None:
    """n=2, the body ends cleanly after only one choice's finish (no usage chunk, no [DONE]: the SDK
    ends its iteration as for a whole stream). Once a choice other than the first finished, the
    server answers several choices, so the missing finish means the stream was cut: incomplete, an
    error, counted under ``error``, with only the finish that arrived on the span. A stream cut
    after the first choice alone cannot be told from a server that ignores ``n``: completed."""
    client = sync_client(server, telemetry)
    arrived = []
    for unfinished in ((0,), (1,), ()):
        server.enqueue(Scenario(chunks=3, unfinished_choices=unfinished))
        stream = client.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True)
        arrived.append([(c.index, c.finish_reason) for ch in stream for c in ch.choices if c.finish_reason])
    assert arrived == [[(1, "stop")], [(0, "stop")], [(0, "stop"), (1, "stop")]]
    spans = telemetry.spans()
    assert [attrs(s)["tracewrap.stream.outcome"] for s in spans] == ["incomplete", "completed", "completed"]
    assert [attrs(s)["gen_ai.response.finish_reasons"] for s in spans] == [
        ("stop",),
        ("stop",),
        ("stop", "stop"),
    ]
    assert [attrs(s).get("error.type") for s in spans] == ["incomplete_stream", None, None]
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.UNSET, StatusCode.UNSET]
    counted = finishes(telemetry)
    assert counted == {"error": 1, "stop": 2}


@pytest.mark.parametrize("capture", ["no_content", "span_only"])
def test_a_usage_chunk_without_the_envelope_leaves_the_one_the_stream_sent(
    server, telemetry, capture
) -> None:
    """A compatible server's usage chunk may hold only ``object``, ``choices`` and ``usage``: the
    response id, model, fingerprint and tier the earlier chunks reported stay on the span and the
    metric points (they were lost when the envelope was read from the usage chunk alone)."""
    client = sync_client(server, telemetry, capture_content=capture)
    server.enqueue(Scenario(chunks=3, model="gpt-4o-mini-2024-07-18", bare_usage_chunk=True))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and not chunks[-1].id and not chunks[-1].model  # the bare one
    a = attrs(telemetry.one_span())
    assert a["gen_ai.response.id"] == chunks[0].id and a["gen_ai.response.id"].startswith("chatcmpl-")
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["openai.response.system_fingerprint"] == "fp_test"
    assert a["openai.response.service_tier"] == "default"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 7)
    models = {
        p.attributes.get("gen_ai.response.model")
        for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage")
        for p in telemetry.points(name)
    }
    assert models == {"gpt-4o-mini-2024-07-18"}


def test_a_stream_dropped_before_every_choice_finished_counts_as_an_error(server, telemetry) -> None:
    """n=2, the connection drops after only the second choice's finish (``length``): the call failed
    and is counted under ``error``, as the same stream ended cleanly at that point is (incomplete);
    the finish that arrived is on its span, not on the truncation count."""
    client = sync_client(server, telemetry)
    for drop in (False, True):
        server.enqueue(
            Scenario(chunks=3, unfinished_choices=(0,), last_choice_finish="length", drop_unfinished=drop)
        )
        stream = client.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True)
        raised = None
        try:
            for _ in stream:
                pass
        except Exception as exc:  # 3.x: openai.APIConnectionError; 1.x/2.x: httpx.RemoteProtocolError
            raised = exc
        assert (raised is not None) == drop
    spans = telemetry.spans()
    assert [attrs(s)["tracewrap.stream.outcome"] for s in spans] == ["incomplete", "error"]
    assert [attrs(s)["gen_ai.response.finish_reasons"] for s in spans] == [("length",), ("length",)]
    assert attrs(spans[0])["error.type"] == "incomplete_stream"
    assert attrs(spans[1])["error.type"] in ("APIConnectionError", "RemoteProtocolError")
    assert all(s.status.status_code is StatusCode.ERROR for s in spans)
    counted = finishes(telemetry)
    assert counted == {"error": 2}

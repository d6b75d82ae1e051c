"""Load and concurrency: every span has its own parent and its own numbers, none is left open.

The 1,000 concurrent async calls go through an in-process ``MockTransport``
(``tracewrap.testing.MockOpenAI``): the fake server is a ``ThreadingHTTPServer`` with a listen
backlog of 5, and a thousand simultaneous connections would test its accept queue, not tracewrap.
The threaded tests run both on the mock transport (distinct token counts per call) and on the real
fake server over sockets.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

import tracewrap
from tracewrap.testing import FakeOpenAIServer
from tracewrap.testing import server as fake_server_module

from .helpers import API_KEY, MESSAGES, Pipeline, echo_backend

ASYNC_CALLS = 1_000
THREADS = 32
CALLS_PER_THREAD = 4


def _check_children(pipe: Pipeline, parents: dict[str, Any], expected_calls: int) -> None:
    """Each call span is the child of its task's parent and carries that task's numbers."""
    spans = pipe.traced_spans()
    assert len(spans) == expected_calls
    parent_by_id = {p.context.span_id: name for name, p in parents.items()}
    per_parent: Counter[str] = Counter()
    for span in spans:
        a = dict(span.attributes or {})
        assert span.parent is not None, span.name
        owner = parent_by_id[span.parent.span_id]  # KeyError: a parent that no task opened
        n = int(owner.split("-")[1])
        assert span.parent.trace_id == parents[owner].context.trace_id
        assert span.context.trace_id == parents[owner].context.trace_id
        assert a["gen_ai.usage.input_tokens"] == n, (owner, a)  # its own numbers, no cross-talk
        assert a["gen_ai.usage.output_tokens"] == n + 1, (owner, a)
        if a["openai.api.type"] == "responses":
            assert a["gen_ai.response.id"] == f"resp_{n}"
        if a.get("gen_ai.request.stream"):
            assert a["tracewrap.stream.outcome"] == "completed"
        per_parent[owner] += 1
    assert set(per_parent) == set(parents)
    pipe.assert_all_ended_once()


def test_1000_concurrent_async_calls(pipe: Pipeline) -> None:
    backend = echo_backend(chunks=3)
    client = tracewrap.wrap(backend.async_client(), **pipe.kwargs())
    tracer = pipe.tracer_provider.get_tracer("reliability")
    parents: dict[str, Any] = {}

    async def one(i: int) -> int:
        n = 1_000 + i
        with tracer.start_as_current_span(f"parent-{n}") as parent:
            parents[f"parent-{n}"] = parent
            meta = {"n": str(n)}
            kind = i % 4
            if kind == 0:
                r = await client.chat.completions.create(model="m", messages=MESSAGES, metadata=meta)
                got = r.usage.prompt_tokens if r.usage else -1
            elif kind == 1:
                r2 = await client.responses.create(model="m", input="hi", metadata=meta)
                got = r2.usage.input_tokens if r2.usage else -1
            elif kind == 2:
                stream = await client.chat.completions.create(
                    model="m",
                    messages=MESSAGES,
                    metadata=meta,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = [c async for c in stream]
                got = chunks[-1].usage.prompt_tokens if chunks[-1].usage else -1
            else:
                events = await client.responses.create(model="m", input="hi", metadata=meta, stream=True)
                last = [e async for e in events][-1]
                got = last.response.usage.input_tokens  # type: ignore[union-attr]
            assert trace.get_current_span() is parent  # tracewrap left the task's context as it was
            return got

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(ASYNC_CALLS)))

    results = asyncio.run(main())
    assert results == [1_000 + i for i in range(ASYNC_CALLS)]  # every user got their own answer
    assert backend.count == ASYNC_CALLS
    _check_children(pipe, parents, ASYNC_CALLS)
    tokens = pipe.points("tracewrap.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: 0 for p in tokens}
    for p in tokens:
        by_type[p.attributes["gen_ai.token.type"]] += p.value
    assert by_type["input"] == sum(1_000 + i for i in range(ASYNC_CALLS))
    assert by_type["output"] == sum(1_001 + i for i in range(ASYNC_CALLS))
    assert sum(p.count for p in pipe.points("gen_ai.client.operation.duration")) == ASYNC_CALLS
    assert trace.get_current_span() is trace.INVALID_SPAN


def _run_threads(target: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            target(i)
        except BaseException as exc:  # surfaced by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"worker-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_32_threads_with_streams_mock_transport(pipe: Pipeline) -> None:
    backend = echo_backend(chunks=5)
    client = tracewrap.wrap(backend.client(), **pipe.kwargs())
    tracer = pipe.tracer_provider.get_tracer("reliability")
    parents: dict[str, Any] = {}

    def work(i: int) -> None:
        n = 5_000 + i
        before = otel_context.get_current()
        with tracer.start_as_current_span(f"parent-{n}") as parent:
            parents[f"parent-{n}"] = parent
            meta = {"n": str(n)}
            for k in range(CALLS_PER_THREAD):
                if k % 2 == 0:
                    chunks = list(
                        client.chat.completions.create(
                            model="m",
                            messages=MESSAGES,
                            metadata=meta,
                            stream=True,
                            stream_options={"include_usage": True},
                        )
                    )
                    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == n
                else:
                    with client.responses.stream(model="m", input="hi", metadata=meta) as stream:
                        final = stream.get_final_response()
                    assert final.usage is not None and final.usage.input_tokens == n
                assert trace.get_current_span() is parent
        assert otel_context.get_current() == before

    errors = _run_threads(work)
    assert errors == []
    _check_children(pipe, parents, THREADS * CALLS_PER_THREAD)


@pytest.fixture
def roomy_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A fake server whose listen backlog takes 32 simultaneous connects (socketserver's default
    of 5 resets some of them, traced or not)."""
    monkeypatch.setattr(fake_server_module._HTTPServer, "request_queue_size", 128)
    with FakeOpenAIServer() as srv:
        yield srv


def test_32_threads_with_streams_fake_server(roomy_server: FakeOpenAIServer, pipe: Pipeline) -> None:
    """Real sockets: the fake server echoes the model, and ``n`` choices give ``n`` finish reasons."""
    client = tracewrap.wrap(
        openai.OpenAI(base_url=roomy_server.base_url, api_key=API_KEY, max_retries=0), **pipe.kwargs()
    )
    tracer = pipe.tracer_provider.get_tracer("reliability")
    parents: dict[int, Any] = {}

    def work(i: int) -> None:
        with tracer.start_as_current_span(f"parent-{i}") as parent:
            parents[i] = parent
            for _ in range(2):
                stream = client.chat.completions.create(
                    model=f"model-{i}",
                    messages=MESSAGES,
                    stream=True,
                    n=1 + i % 3,
                    stream_options={"include_usage": True},
                )
                chunks = list(stream)
                assert chunks[-1].model == f"model-{i}-2024-07-18"

    errors = _run_threads(work)
    assert errors == []
    spans = pipe.traced_spans()
    assert len(spans) == THREADS * 2
    by_id = {p.context.span_id: i for i, p in parents.items()}
    for span in spans:
        a = dict(span.attributes or {})
        assert span.parent is not None
        i = by_id[span.parent.span_id]
        assert a["gen_ai.request.model"] == f"model-{i}"
        assert a["gen_ai.response.model"] == f"model-{i}-2024-07-18"
        assert a["gen_ai.response.finish_reasons"] == ("stop",) * (1 + i % 3)
        assert a["tracewrap.stream.outcome"] == "completed"
        assert a["gen_ai.usage.input_tokens"] == 12
    pipe.assert_all_ended_once()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_fork_child_gets_every_module_lock_new() -> None:
    """Every module lock made by tracewrap.fork_safe, held by another thread at the fork: each is free
    in the child (before, a held lock stayed held there, and the child's first taker waited for good)."""
    import importlib

    from tracewrap import fork_safe

    for module in ("exporting.config", "cost", "routes", "integrations.langchain", "interception.install"):
        importlib.import_module(f"tracewrap.{module}")
    locks = [namespace[name] for namespace, name, _ in fork_safe._renewed]
    renewed = {(namespace["__name__"], name) for namespace, name, _ in fork_safe._renewed}
    assert renewed >= {
        ("tracewrap.exporting.config", "_lock"),  # the export set-up's (the hang this was found by)
        ("tracewrap.telemetry.instruments", "_lock"),
        ("tracewrap.telemetry.counting", "_lock"),
        ("tracewrap.interception.install", "_hooking"),
        ("tracewrap.interception.sdk_patch", "_lock"),
    }
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        holding.set()
        release.wait(30)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: every lock free (a timeout, not a hang, if one is not)
            free = all(namespace[name].acquire(timeout=2) for namespace, name, _ in fork_safe._renewed)
            os._exit(0 if free else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join(30)
    assert os.waitstatus_to_exitcode(status) == 0

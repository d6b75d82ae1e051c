"""A traced async method returns a coroutine that behaves as the SDK's: a wrong argument raises at
the call (not at ``await``), the coroutine carries the SDK method's name, and one that never runs
(closed, cancelled before its first step, dropped) leaves no trace and no extra warning."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import openai
import pytest

import tracewrap
from tests.core.helpers import API_KEY, MESSAGES
from tracewrap.telemetry.deferred import run_deferred


def _client(server: Any, telemetry: Any, mode: str) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if mode == "bare":
        return client
    if mode == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
        return client
    return tracewrap.wrap(client, **telemetry.wrap_kwargs())


def _warnings_of(action: Any) -> list[str]:
    """The RuntimeWarnings ``action`` leads to once everything it dropped is collected (and what
    tracewrap queued meanwhile is done)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
        gc.collect()
        run_deferred()
        gc.collect()
        return [str(w.message) for w in caught if w.category is RuntimeWarning]


MODES = ["bare", "client", "module"]


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_argument_raises_at_the_call_as_bare(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    with pytest.raises(TypeError, match="Missing required arguments"):
        client.chat.completions.create(model="m")  # (not awaited: it must raise here)
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        client.responses.create(model="m", input="hi", no_such_option=1)
    assert telemetry.spans() == []
    assert server.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_the_coroutine_is_named_as_the_sdk_s_and_still_traced(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)

    async def main() -> tuple[str, str, str]:
        coroutine = client.chat.completions.create(model="m", messages=MESSAGES)
        task = asyncio.ensure_future(coroutine)
        described = repr(task)
        completion = await task
        return coroutine.__qualname__, described, completion.choices[0].finish_reason

    qualname, described, finish = asyncio.run(main())
    assert qualname == "AsyncCompletions.create"
    assert "coro=<AsyncCompletions.create()" in described
    assert finish == "stop"
    assert len(server.requests) == 1
    assert len(telemetry.spans()) == (0 if mode == "bare" else 1)


@pytest.mark.parametrize("mode", MODES)
def test_a_coroutine_that_never_runs_warns_as_bare(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)

    def closed() -> None:
        client.chat.completions.create(model="m", messages=MESSAGES).close()

    def cancelled_before_its_first_step() -> None:
        async def main() -> None:
            task = asyncio.ensure_future(client.responses.create(model="m", input="hi"))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())

    def dropped() -> None:
        client.chat.completions.create(model="m", messages=MESSAGES)

    assert _warnings_of(closed) == []
    assert _warnings_of(cancelled_before_its_first_step) == []
    assert _warnings_of(dropped) == ["coroutine 'AsyncCompletions.create' was never awaited"]
    assert telemetry.spans() == []
    assert server.requests == []


def test_a_coroutine_still_held_at_exit_can_still_be_awaited(server, telemetry) -> None:
    """At exit tracewrap ends what its watches still hold (streams); a traced coroutine not run yet
    is not closed then: an atexit handler registered before it may still await it."""
    from tracewrap.telemetry import deferred

    client = _client(server, telemetry, "client")
    coroutine = client.chat.completions.create(model="m", messages=MESSAGES)
    deferred._open_at_exit()  # what the process exit runs (then its flush drains the queue)
    run_deferred()

    async def later() -> str:
        return (await coroutine).choices[0].finish_reason

    assert asyncio.run(later()) == "stop"
    (span,) = telemetry.spans()
    assert span.name == "chat m"


@pytest.mark.parametrize("mode", MODES)
def test_a_method_that_returns_nothing_awaitable_hands_it_back_as_bare(server, telemetry, mode) -> None:
    """A test that patches the SDK's class with a plain ``MagicMock`` after the client was wrapped:
    its value comes back as it is (not a coroutine of tracewrap's that would fail when awaited)."""
    from unittest import mock

    from openai.resources.chat.completions import AsyncCompletions

    client = _client(server, telemetry, mode)
    client.chat.completions  # noqa: B018  (built, and traced, before the class is patched)

    def call() -> None:
        with mock.patch.object(AsyncCompletions, "create", new=mock.MagicMock(return_value="FAKE")):
            assert client.chat.completions.create(model="m", messages=MESSAGES) == "FAKE"

    assert _warnings_of(call) == []
    assert telemetry.spans() == [] and server.requests == []

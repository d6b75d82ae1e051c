"""Every way of calling x every way a call goes wrong: the span tells what happened, once.

The call styles of ``test_call_matrix.py`` (plain, streamed, ``.stream()`` helpers, ``parse``, raw
responses parsed or read as lines), legacy completions and embeddings too, made here without checks
of their own, against each failure the fake server produces. Rather than a table of expected spans,
invariants every cell must keep:

- one span per call, and no tracewrap internal error (a broken answer is the wire's, not ours);
- a call whose exception came through the SDK call (not a helper's own check after the stream
  ended: those raise from code tracewrap does not wrap) has an error span naming that exception;
- a failed span counts a finish of ``error``, unless it carries the model's own finish reason;
- a call read to its end or failed is never "closed_early".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tests.core.helpers import MESSAGES, Greeting, async_client, attrs, sync_client
from tracewrap.testing import Scenario

MODEL = "gpt-4o-mini"
USAGE = {"include_usage": True}

# raised by the SDK's helpers from their own checks once the stream they read has ended
# (chat .stream()'s finish-reason errors, Responses .stream()'s "no response.completed event")
HELPER_CHECKS = ("LengthFinishReasonError", "ContentFilterFinishReasonError", "RuntimeError")
# an error the API itself reported in its answer (a failed Responses response, an error event)
API_ERRORS = ("server_error",)


def _chat(c: Any, **extra: Any) -> Any:
    return c.chat.completions.create(model=MODEL, messages=MESSAGES, **extra)


def _responses(c: Any, **extra: Any) -> Any:
    return c.responses.create(model=MODEL, input="hi", **extra)


def _completion(resource: Any, **extra: Any) -> Any:
    return resource.create(model="gpt-3.5-turbo-instruct", prompt="hi", **extra)


def _embedding(resource: Any) -> Any:
    return resource.create(model="text-embedding-3-small", input="hi")


SYNC_STYLES: dict[str, Callable[[openai.OpenAI], None]] = {
    "chat create": lambda c: _chat(c),
    "chat stream": lambda c: list(_chat(c, stream=True, stream_options=USAGE)),
    "chat helper": lambda c: _drain_helper(
        c.chat.completions.stream(model=MODEL, messages=MESSAGES, stream_options=USAGE)
    ),
    "chat parse": lambda c: c.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=Greeting
    ),
    "chat raw": lambda c: c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES).parse(),
    "chat raw lines": lambda c: _read_lines(
        c.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
        )
    ),
    "chat raw body": lambda c: _read_body(
        c.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES)
    ),
    "responses create": lambda c: _responses(c),
    "responses stream": lambda c: list(_responses(c, stream=True)),
    "responses helper": lambda c: _drain_helper(c.responses.stream(model=MODEL, input="hi")),
    "responses parse": lambda c: c.responses.parse(model=MODEL, input="hi", text_format=Greeting),
    "responses raw": lambda c: c.responses.with_raw_response.create(model=MODEL, input="hi").parse(),
    "responses raw lines": lambda c: _read_lines(
        c.responses.with_streaming_response.create(model=MODEL, input="hi", stream=True)
    ),
    "completions create": lambda c: _completion(c.completions),
    "completions stream": lambda c: list(_completion(c.completions, stream=True, stream_options=USAGE)),
    "completions raw": lambda c: _completion(c.completions.with_raw_response).parse(),
    "completions raw lines": lambda c: _read_lines(
        _completion(c.completions.with_streaming_response, stream=True, stream_options=USAGE)
    ),
    "embeddings create": lambda c: _embedding(c.embeddings),
    "embeddings raw": lambda c: _embedding(c.embeddings.with_raw_response).parse(),
    "embeddings raw body": lambda c: _read_body(_embedding(c.embeddings.with_streaming_response)),
}


def _drain_helper(manager: Any) -> None:
    with manager as stream:
        for _ in stream:
            pass


def _read_lines(manager: Any) -> None:
    with manager as response:
        for _ in response.iter_lines():
            pass


def _read_body(manager: Any) -> None:
    with manager as response:
        response.read()


async def _achat_stream(c: openai.AsyncOpenAI) -> None:
    async for _ in await _chat(c, stream=True, stream_options=USAGE):
        pass


async def _aresponses_stream(c: openai.AsyncOpenAI) -> None:
    async for _ in await _responses(c, stream=True):
        pass


async def _achat_raw_lines(c: openai.AsyncOpenAI) -> None:
    async with c.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    ) as response:
        async for _ in response.iter_lines():
            pass


async def _acompletions_stream(c: openai.AsyncOpenAI) -> None:
    async for _ in await _completion(c.completions, stream=True, stream_options=USAGE):
        pass


async def _aembeddings_raw_body(c: openai.AsyncOpenAI) -> None:
    async with _embedding(c.embeddings.with_streaming_response) as response:
        await response.read()


async def _achat_parse(c: openai.AsyncOpenAI) -> None:
    await c.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Greeting)


ASYNC_STYLES: dict[str, Callable[[openai.AsyncOpenAI], Any]] = {
    "async chat create": lambda c: _chat(c),
    "async chat stream": _achat_stream,
    "async chat parse": _achat_parse,
    "async chat raw lines": _achat_raw_lines,
    "async responses create": lambda c: _responses(c),
    "async responses stream": _aresponses_stream,
    "async completions create": lambda c: _completion(c.completions),
    "async completions stream": _acompletions_stream,
    "async embeddings create": lambda c: _embedding(c.embeddings),
    "async embeddings raw body": _aembeddings_raw_body,
}

FAILURES = ["length", "content_filter", "failed", "http_error", "stream_error", "cut", "invalid_json"]


def _run(server: Any, telemetry: Any, style: str) -> BaseException | None:
    try:
        if style in SYNC_STYLES:
            SYNC_STYLES[style](sync_client(server, telemetry))
        else:
            asyncio.run(ASYNC_STYLES[style](async_client(server, telemetry)))
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("outcome", FAILURES)
@pytest.mark.parametrize("style", [*SYNC_STYLES, *ASYNC_STYLES])
def test_every_style_tells_what_went_wrong(server, telemetry, caplog, style: str, outcome: str) -> None:
    server.enqueue(Scenario(outcome=outcome, chunks=3))
    raised = _run(server, telemetry, style)
    assert server.pending == 0 and len(server.requests) == 1  # the call reached the server once
    span = telemetry.one_span()
    a = attrs(span)
    failed = span.status.status_code is StatusCode.ERROR
    if raised is not None and type(raised).__name__ not in HELPER_CHECKS:
        assert failed, f"{style}: the call raised {raised!r} but its span is not an error: {a}"
        assert a["error.type"] in (type(raised).__name__, *API_ERRORS)
    if failed:
        assert a["error.type"]
        reasons = a.get("gen_ai.response.finish_reasons")
        expected = reasons[0] if reasons else "error"
        finished = {
            p.attributes["tracewrap.finish_reason"]: p.value
            for p in telemetry.points("tracewrap.client.finishes")
        }
        assert finished == {expected: 1}
    if raised is not None or outcome != "cut":
        assert a.get("tracewrap.stream.outcome") != "closed_early"
    if outcome == "stream_error" and "tracewrap.stream.outcome" in a:  # raised or an error event
        assert a["tracewrap.stream.outcome"] == "error"
    assert [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()] == []

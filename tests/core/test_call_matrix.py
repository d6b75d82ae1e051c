"""{chat, responses} x {sync, async} x {create, stream=True, .stream(), parse, raw, streaming raw}.

Every style must give the user the SDK's normal result and produce exactly one span with the same
normalized usage, finish reason and model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.core.helpers import GREETING_JSON, MESSAGES, Greeting, async_client, attrs, sync_client
from tracewrap.testing import Scenario

MODEL = "gpt-4o-mini"
TEXT = "Hello there, traced world"
USAGE = {"include_usage": True}


# ---- sync call styles: each returns the text the user ends up with -------------------------------


def chat_create(c: openai.OpenAI) -> str:
    result = c.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert type(result).__name__ == "ChatCompletion"
    return result.choices[0].message.content


def chat_stream(c: openai.OpenAI) -> str:
    stream = c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE)
    assert isinstance(stream, openai.Stream)
    with stream as same:
        assert same is stream
        return "".join(ch.choices[0].delta.content or "" for ch in same if ch.choices)


def chat_helper(c: openai.OpenAI) -> str:
    with c.chat.completions.stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content
    return final.choices[0].message.content


def chat_parse(c: openai.OpenAI) -> str:
    result = c.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Greeting)
    assert result.choices[0].message.parsed == Greeting(greeting="hi")
    return result.choices[0].message.content


def chat_raw(c: openai.OpenAI) -> str:
    raw = c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.http_response.status_code == 200
    return raw.parse().choices[0].message.content


def chat_raw_stream(c: openai.OpenAI) -> str:
    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    return "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)


def chat_streaming_response(c: openai.OpenAI) -> str:
    with c.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        return response.parse().choices[0].message.content


def responses_create(c: openai.OpenAI) -> str:
    result = c.responses.create(model=MODEL, input="Say hello")
    assert type(result).__name__ == "Response"
    return result.output_text


def responses_stream(c: openai.OpenAI) -> str:
    stream = c.responses.create(model=MODEL, input="Say hello", stream=True)
    assert isinstance(stream, openai.Stream)
    return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


def responses_helper(c: openai.OpenAI) -> str:
    with c.responses.stream(model=MODEL, input="Say hello") as stream:
        for _ in stream:
            pass
        return stream.get_final_response().output_text


def responses_parse(c: openai.OpenAI) -> str:
    result = c.responses.parse(model=MODEL, input="Say hello", text_format=Greeting)
    assert result.output_parsed == Greeting(greeting="hi")
    return result.output_text


def responses_raw(c: openai.OpenAI) -> str:
    raw = c.responses.with_raw_response.create(model=MODEL, input="Say hello")
    return raw.parse().output_text


def responses_streaming_response(c: openai.OpenAI) -> str:
    with c.responses.with_streaming_response.create(model=MODEL, input="Say hello", stream=True) as response:
        stream = response.parse()
        return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


# ---- async call styles ---------------------------------------------------------------------------


async def achat_create(c: openai.AsyncOpenAI) -> str:
    return (await c.chat.completions.create(model=MODEL, messages=MESSAGES)).choices[0].message.content


async def achat_stream(c: openai.AsyncOpenAI) -> str:
    stream = await c.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    )
    assert isinstance(stream, openai.AsyncStream)
    async with stream as same:
        assert same is stream
        return "".join([ch.choices[0].delta.content or "" async for ch in same if ch.choices])


async def achat_helper(c: openai.AsyncOpenAI) -> str:
    async with c.chat.completions.stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as stream:
        final = await stream.get_final_completion()
    return final.choices[0].message.content


async def achat_parse(c: openai.AsyncOpenAI) -> str:
    result = await c.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Greeting)
    assert result.choices[0].message.parsed == Greeting(greeting="hi")
    return result.choices[0].message.content


async def achat_raw(c: openai.AsyncOpenAI) -> str:
    raw = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    return raw.parse().choices[0].message.content


async def achat_streaming_response(c: openai.AsyncOpenAI) -> str:
    async with c.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    ) as response:
        stream = await response.parse()
        return "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])


async def aresponses_create(c: openai.AsyncOpenAI) -> str:
    return (await c.responses.create(model=MODEL, input="Say hello")).output_text


async def aresponses_stream(c: openai.AsyncOpenAI) -> str:
    stream = await c.responses.create(model=MODEL, input="Say hello", stream=True)
    return "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])


async def aresponses_helper(c: openai.AsyncOpenAI) -> str:
    async with c.responses.stream(model=MODEL, input="Say hello") as stream:
        return (await stream.get_final_response()).output_text


async def aresponses_parse(c: openai.AsyncOpenAI) -> str:
    result = await c.responses.parse(model=MODEL, input="Say hello", text_format=Greeting)
    return result.output_text


async def aresponses_raw(c: openai.AsyncOpenAI) -> str:
    raw = await c.responses.with_raw_response.create(model=MODEL, input="Say hello")
    return raw.parse().output_text


async def aresponses_streaming_response(c: openai.AsyncOpenAI) -> str:
    async with c.responses.with_streaming_response.create(model=MODEL, input="Say hello") as response:
        return (await response.parse()).output_text


SYNC_STYLES: list[tuple[Callable[[Any], str], str, bool, bool]] = [
    # (style, api type, streamed, parse)
    (chat_create, "chat_completions", False, False),
    (chat_stream, "chat_completions", True, False),
    (chat_helper, "chat_completions", True, False),
    (chat_parse, "chat_completions", False, True),
    (chat_raw, "chat_completions", False, False),
    (chat_raw_stream, "chat_completions", True, False),
    (chat_streaming_response, "chat_completions", False, False),
    (responses_create, "responses", False, False),
    (responses_stream, "responses", True, False),
    (responses_helper, "responses", True, False),
    (responses_parse, "responses", False, True),
    (responses_raw, "responses", False, False),
    (responses_streaming_response, "responses", True, False),
]
ASYNC_STYLES: list[tuple[Callable[[Any], Any], str, bool, bool]] = [
    (achat_create, "chat_completions", False, False),
    (achat_stream, "chat_completions", True, False),
    (achat_helper, "chat_completions", True, False),
    (achat_parse, "chat_completions", False, True),
    (achat_raw, "chat_completions", False, False),
    (achat_streaming_response, "chat_completions", True, False),
    (aresponses_create, "responses", False, False),
    (aresponses_stream, "responses", True, False),
    (aresponses_helper, "responses", True, False),
    (aresponses_parse, "responses", False, True),
    (aresponses_raw, "responses", False, False),
    (aresponses_streaming_response, "responses", False, False),
]


def _scenario(parse: bool) -> Scenario:
    return Scenario(
        text=GREETING_JSON if parse else TEXT,
        json_text=GREETING_JSON if parse else None,
        prompt_tokens=21,
        completion_tokens=9,
        cached_tokens=4,
        cache_write_tokens=3,  # openai 3.x's field; the older SDKs keep it as an extra field
        reasoning_tokens=2,
    )


def _assert_one_normalized_span(telemetry: Any, api_type: str, streamed: bool) -> None:
    span = telemetry.one_span()
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a["gen_ai.operation.name"] == "chat"
    assert a["openai.api.type"] == api_type
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 21
    assert a["gen_ai.usage.output_tokens"] == 9
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 3
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    assert a["server.address"] == "127.0.0.1"
    assert "error.type" not in a
    if streamed:
        assert a["gen_ai.request.stream"] is True
        assert a["tracewrap.stream.outcome"] == "completed"
        assert a["tracewrap.stream.chunks"] > 3
        assert a["gen_ai.response.time_to_first_chunk"] > 0
        assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == 1
    else:
        assert "tracewrap.stream.outcome" not in a
    if api_type == "responses":
        assert a["openai.response.status"] == "completed"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in telemetry.points("gen_ai.client.token.usage")}
    assert tokens == {"input": 21, "output": 9}
    counted = {
        p.attributes["gen_ai.token.type"]: p.value for p in telemetry.points("tracewrap.client.token.usage")
    }
    assert counted == {"input": 21, "output": 9, "cache_read": 4, "reasoning": 2}
    (finish,) = telemetry.points("tracewrap.client.finishes")
    assert finish.attributes["tracewrap.finish_reason"] == "stop" and finish.value == 1


@pytest.mark.parametrize(
    ("style", "api_type", "streamed", "parse"), SYNC_STYLES, ids=lambda v: getattr(v, "__name__", None)
)
def test_sync_call_styles(server, telemetry, style, api_type, streamed, parse) -> None:
    server.enqueue(_scenario(parse))
    client = sync_client(server, telemetry)
    text = style(client)
    assert text == (GREETING_JSON if parse else TEXT)
    _assert_one_normalized_span(telemetry, api_type, streamed)


@pytest.mark.parametrize(
    ("style", "api_type", "streamed", "parse"), ASYNC_STYLES, ids=lambda v: getattr(v, "__name__", None)
)
def test_async_call_styles(server, telemetry, style, api_type, streamed, parse) -> None:
    server.enqueue(_scenario(parse))
    client = async_client(server, telemetry)
    text = asyncio.run(style(client))
    assert text == (GREETING_JSON if parse else TEXT)
    _assert_one_normalized_span(telemetry, api_type, streamed)

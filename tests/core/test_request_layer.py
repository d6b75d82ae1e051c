"""Calls that reach the client's request layer without a traced resource method (litellm's
``client.post(...)``, the ``beta`` resources): one span per call, never two for a resource call."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

import tracewrap
from tests.core.helpers import API_KEY, GREETING_JSON, MESSAGES, Greeting, attrs
from tracewrap.testing import Scenario

RAW = {"X-Stainless-Raw-Response": "true"}  # what with_raw_response (and litellm) ask the SDK for


def _client(server: Any, telemetry: Any, mode: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if mode == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
        return client
    return tracewrap.wrap(client, **telemetry.wrap_kwargs())


def _chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


def _tracewrap_spans(telemetry: Any) -> list[Any]:
    return [s for s in telemetry.spans() if s.instrumentation_scope.name == "tracewrap"]


@pytest.mark.parametrize("mode", ["module", "client"])
def test_low_level_post_is_one_span_per_call(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    completion = client.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
    raw = client.post(
        "/chat/completions", body=_chat_body(), cast_to=ChatCompletion, options={"headers": RAW}
    )
    stream = client.post(
        "/chat/completions",
        body=_chat_body(stream=True, stream_options={"include_usage": True}),
        cast_to=ChatCompletion,
        stream=True,
        stream_cls=openai.Stream[ChatCompletionChunk],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    embeddings = client.post(
        "/embeddings",
        body={"model": "text-embedding-3-small", "input": "hi"},
        cast_to=CreateEmbeddingResponse,
    )
    response = client.post("/responses", body={"model": "gpt-4.1-mini", "input": "hi"}, cast_to=Response)
    fetched = client.get(f"/responses/{response.id}", cast_to=Response)
    cancelled = client.post(f"/responses/{response.id}/cancel", cast_to=Response)

    assert completion.choices[0].message.content == text == "Hello! How can I help?"
    assert raw.parse().usage.prompt_tokens == 12 and len(embeddings.data) == 1 and fetched.id == response.id
    spans = _tracewrap_spans(telemetry)
    assert cancelled.status == "cancelled"
    assert len(spans) == len(server.requests) == 7
    chat, raw_chat, streamed, embedded, created, fetch, cancel = (attrs(s) for s in spans)
    for one in (chat, raw_chat, streamed):
        assert one["gen_ai.operation.name"] == "chat"
        assert (one["gen_ai.usage.input_tokens"], one["gen_ai.usage.output_tokens"]) == (12, 7)
        assert one["openai.api.type"] == "chat_completions"
    assert streamed["tracewrap.stream.outcome"] == "completed"
    assert raw_chat["gen_ai.response.id"] == raw.parse().id
    assert (embedded["gen_ai.operation.name"], embedded["gen_ai.usage.input_tokens"]) == ("embeddings", 12)
    assert created["openai.api.type"] == "responses" and created["gen_ai.response.id"] == response.id
    assert fetch["gen_ai.operation.name"] == "fetch_response"
    assert fetch["gen_ai.response.id"] == response.id
    assert (
        "gen_ai.usage.input_tokens" not in fetch
    )  # a completed response's usage is told once, by its create
    assert cancel["gen_ai.operation.name"] == "cancel_response"
    assert cancel["gen_ai.response.id"] == response.id and "gen_ai.usage.input_tokens" not in cancel


@pytest.mark.parametrize("mode", ["module", "client"])
def test_async_low_level_post(server, telemetry, mode) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if mode == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
    else:
        client = tracewrap.wrap(client, **telemetry.wrap_kwargs())

    async def main() -> str:
        completion = await client.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
        stream = await client.post(
            "/chat/completions",
            body=_chat_body(stream=True),
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        await client.close()
        return completion.choices[0].message.content + "|" + text

    assert asyncio.run(main()) == "Hello! How can I help?|Hello! How can I help?"
    first, streamed = (attrs(s) for s in _tracewrap_spans(telemetry))
    assert first["gen_ai.usage.output_tokens"] == 7
    assert streamed["tracewrap.stream.outcome"] == "completed"
    assert "gen_ai.usage.input_tokens" not in streamed  # the request did not ask for stream usage


@pytest.mark.parametrize("mode", ["module", "client"])
def test_resource_calls_stay_one_span(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES).parse()
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        stream.get_final_completion()
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert len(_tracewrap_spans(telemetry)) == len(server.requests) == 4


@pytest.mark.parametrize("mode", ["module", "client"])
def test_beta_paths_are_traced(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    calls = 0
    beta_chat = client.beta.chat.completions
    beta_chat.create(model="gpt-4o-mini", messages=MESSAGES)
    calls += 1
    if hasattr(beta_chat, "parse"):
        server.enqueue(Scenario(json_text=GREETING_JSON))
        parsed = beta_chat.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting)
        assert parsed.choices[0].message.parsed == Greeting(greeting="hi")
        server.enqueue(Scenario(json_text=GREETING_JSON))
        with beta_chat.stream(model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting) as stream:
            assert stream.get_final_completion().choices[0].message.parsed == Greeting(greeting="hi")
        calls += 2
    beta_responses = getattr(client.beta, "responses", None)  # openai >= 2
    if beta_responses is not None:
        created = beta_responses.create(model="gpt-4.1-mini", input="hi")
        beta_responses.retrieve(created.id)
        calls += 2
    spans = _tracewrap_spans(telemetry)
    assert len(spans) == len(server.requests) == calls
    for span, request in zip(spans, server.requests, strict=True):
        body = request.body or {}
        told = request.method == "POST" and not body.get("stream")  # a stream without include_usage has none
        assert attrs(span).get("gen_ai.usage.input_tokens") == (12 if told else None), request.path


def test_paths_limit_the_request_layer_and_unwrap_removes_it(server, telemetry) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    tracewrap.wrap(openai, paths=["embeddings.create"], **telemetry.wrap_kwargs())
    client.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
    with pytest.raises(openai.NotFoundError):  # an endpoint tracewrap does not know (the fake has none)
        client.post("/fine_tuning/jobs", body={"model": "gpt-4o-mini"}, cast_to=object)
    assert _tracewrap_spans(telemetry) == []
    tracewrap.wrap(openai, **telemetry.wrap_kwargs())
    client.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
    assert len(_tracewrap_spans(telemetry)) == 1
    tracewrap.unwrap(openai)
    client.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
    wrapped = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key=API_KEY), **telemetry.wrap_kwargs()
    )
    tracewrap.unwrap(wrapped)
    wrapped.post("/chat/completions", body=_chat_body(), cast_to=ChatCompletion)
    assert len(_tracewrap_spans(telemetry)) == 1

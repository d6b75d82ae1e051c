"""langchain-openai, every road it takes into the SDK.

Chat Completions: ``invoke`` (``with_raw_response.create``), ``stream`` with and without
``stream_usage``, ``include_response_headers`` (the stream through ``with_raw_response.create``),
structured output (``with_raw_response.parse``) and structured output streamed
(``beta.chat.completions.stream``), ``ainvoke`` / ``astream`` (the async client). Responses API
(``use_responses_api=True``): ``invoke`` (``responses.with_raw_response.create``), structured output
(``responses.with_raw_response.parse``) and streamed, ``stream`` (``responses.create(stream=True)``)
and the stream with headers (``client.with_raw_response.responses.create``). Its first request is a
Responses stream the server ends with an ``error`` event: langchain raises on that event, closing the
stream before its end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel


class Person(BaseModel):
    name: str
    age: int


def _text(message: BaseMessage | BaseMessageChunk) -> str:
    return message.text if isinstance(message.text, str) else message.text()


def _streamed(chunks: list[Any]) -> list[Any]:
    """The streamed text and the usage langchain reports (None when the wire had none)."""
    usage = next((dict(c.usage_metadata) for c in chunks if c.usage_metadata), None)
    return ["".join(_text(c) for c in chunks), usage]


def chat_settings(base_url: str) -> dict[str, Any]:
    """``ChatOpenAI``'s arguments against the fake server (``langchain_langsmith_app`` too)."""
    return {"model": "gpt-4o-mini", "base_url": base_url, "api_key": "sk-test", "max_retries": 0}


def run(base_url: str) -> dict[str, Any]:
    common = chat_settings(base_url)
    responses = ChatOpenAI(**common, use_responses_api=True)
    try:  # the fake answers this first request with an error event (tests/frameworks)
        list(responses.stream("Say hello"))
        stream_error = None
    except ValueError as error:
        stream_error = str(error)
    llm = ChatOpenAI(**common)
    reply = llm.invoke("Say hello")
    # langchain asks for stream usage (stream_options.include_usage) only with stream_usage=True
    # (by default only when it talks to api.openai.com itself)
    counted = ChatOpenAI(**common, stream_usage=True)
    headed = ChatOpenAI(**common, include_response_headers=True)
    headed_reply = headed.invoke("Say hello")
    structured = llm.with_structured_output(Person, method="json_schema")
    parts = list(structured.stream("Who is Ada?"))

    async def aio() -> list[Any]:
        answer = await llm.ainvoke("Say hello")
        chunks = [c async for c in counted.astream("Say hello")]
        return [_text(answer), _streamed(chunks)]

    responses_headed = ChatOpenAI(**common, use_responses_api=True, include_response_headers=True)
    responses_reply = responses.invoke("Say hello")
    return {
        "stream_error": stream_error,
        "invoke": [_text(reply), dict(reply.usage_metadata or {})],
        "stream": _streamed(list(llm.stream("Say hello"))),
        "stream_usage": _streamed(list(counted.stream("Say hello"))),
        "headers": [_text(headed_reply), "headers" in headed_reply.response_metadata],
        "headers_stream": _streamed(list(headed.stream("Say hello"))),
        "structured": structured.invoke("Who is Ada?").model_dump(),
        "structured_stream": [len(parts) > 0, parts[-1].model_dump() if parts else None],
        "async": asyncio.run(aio()),
        "responses": [_text(responses_reply), dict(responses_reply.usage_metadata or {})],
        "responses_structured": responses.with_structured_output(Person).invoke("Who is Ada?").model_dump(),
        "responses_structured_stream": [
            p.model_dump() for p in responses.with_structured_output(Person).stream("Who is Ada?")
        ][-1:],
        "responses_stream": _streamed(list(responses.stream("Say hello"))),
        "responses_headers_stream": _streamed(list(responses_headed.stream("Say hello"))),
    }

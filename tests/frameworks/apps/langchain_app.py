"""langchain-openai: invoke, a stream, and structured output streamed (``beta.chat.completions.stream``)."""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI
from pydantic import BaseModel


class Person(BaseModel):
    name: str
    age: int


def run(base_url: str) -> dict[str, Any]:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=base_url, api_key="sk-test", max_retries=0)
    reply = llm.invoke("Say hello")
    streamed = "".join(str(chunk.content) for chunk in llm.stream("Say hello"))
    # langchain asks for stream usage (stream_options.include_usage) only with stream_usage=True
    counted = ChatOpenAI(
        model="gpt-4o-mini", base_url=base_url, api_key="sk-test", max_retries=0, stream_usage=True
    )
    chunks = list(counted.stream("Say hello"))
    usage = next((dict(c.usage_metadata) for c in chunks if c.usage_metadata), None)
    parts = list(llm.with_structured_output(Person, method="json_schema").stream("Who is Ada?"))
    return {
        "invoke": [reply.content, dict(reply.usage_metadata or {})],
        "stream": streamed,
        "stream_with_usage": ["".join(str(c.content) for c in chunks), usage],
        "structured": [len(parts) > 0, parts[-1].model_dump() if parts else None],
    }

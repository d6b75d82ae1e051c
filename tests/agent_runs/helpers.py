"""Agents on the fake server, and reading the span tree they leave."""

from __future__ import annotations

from typing import Any

import openai
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel
from opentelemetry.sdk.trace import ReadableSpan

from tests.conftest import API_KEY, Telemetry
from tracewrap import wrap
from tracewrap.testing import FakeOpenAIServer

MODES = ("responses", "chat")


def traced_client(server: FakeOpenAIServer, telemetry: Telemetry, **options: Any) -> Any:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    return wrap(client, **telemetry.wrap_kwargs(), **options)


def model_for(mode: str, client: Any, name: str = "gpt-4.1-mini") -> Any:
    if mode == "responses":
        return OpenAIResponsesModel(name, openai_client=client)
    return OpenAIChatCompletionsModel(name, openai_client=client)


def agent(mode: str, client: Any, name: str = "weather", **kwargs: Any) -> Agent[Any]:
    return Agent(name=name, instructions="Answer briefly.", model=model_for(mode, client), **kwargs)


class Tree:
    """The finished spans by name, with parent lookups."""

    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self.by_id = {s.context.span_id: s for s in spans}

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, (name, [s.name for s in self.spans])
        return found[0]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self.by_id.get(span.parent.span_id) if span.parent else None

    def children(self, span: ReadableSpan) -> list[str]:
        return sorted(s.name for s in self.spans if s.parent and s.parent.span_id == span.context.span_id)

    def model_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans if s.attributes.get("gen_ai.operation.name") == "chat"]

    def roots(self) -> list[ReadableSpan]:
        return [s for s in self.spans if s.parent is None]

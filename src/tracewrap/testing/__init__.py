"""Test helpers: a stdlib-only fake OpenAI server and pure wire-format body builders."""

from tracewrap.testing.bodies import (
    OUTCOMES,
    Scenario,
    SSEEvent,
    chat_completion_body,
    chat_completion_events,
    completion_body,
    completion_events,
    embeddings_body,
    encode_sse,
    error_body,
    resolve_model,
    response_body,
    response_events,
    split_text,
    stream_ends_with_done,
)
from tracewrap.testing.server import FakeOpenAIServer, RecordedRequest

__all__ = [
    "OUTCOMES",
    "FakeOpenAIServer",
    "RecordedRequest",
    "SSEEvent",
    "Scenario",
    "chat_completion_body",
    "chat_completion_events",
    "completion_body",
    "completion_events",
    "embeddings_body",
    "encode_sse",
    "error_body",
    "resolve_model",
    "response_body",
    "response_events",
    "split_text",
    "stream_ends_with_done",
]

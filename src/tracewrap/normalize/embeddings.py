"""Embeddings: a model, usage (``prompt_tokens`` only) and nothing that finishes."""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.usage import read_usage
from tracewrap.normalize.values import as_str, field
from tracewrap.record import CallRecord


def read_embeddings(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    record.response_model = as_str(field(response, "model")) or record.response_model
    usage = field(response, "usage")
    if usage is not None:
        record.usage = read_usage(usage)
        # an embedding has no output tokens; total equals input and is not an output count
        record.usage.output_tokens = None


def read_generic(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """A path with no known endpoint: read what any OpenAI object may carry, by duck typing."""
    record.response_id = as_str(field(response, "id"))
    record.response_model = as_str(field(response, "model"))
    usage = field(response, "usage")
    if usage is not None:
        record.usage = read_usage(usage)

"""Opt-in content on spans and events: JSON, redacted by the user's hook, then size-limited."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from tracewrap.options import Redactor
from tracewrap.record import CallRecord

TRUNCATION_MARKER = "…[truncated {} chars]"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"


def _redacted(messages: list[dict[str, Any]], redact: Redactor) -> list[dict[str, Any]]:
    def part(p: dict[str, Any]) -> dict[str, Any]:
        out = dict(p)
        for key in ("content", "arguments", "response"):
            if isinstance(out.get(key), str):
                out[key] = redact(out[key])
        return out

    return [
        {**m, "parts": [part(p) for p in m.get("parts", ())]} if "parts" in m else part(m) for m in messages
    ]


def limit(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    cut = len(text) - max_length
    return text[:max_length] + TRUNCATION_MARKER.format(cut)


def content_attributes(record: CallRecord, max_length: int, redact: Redactor | None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key, messages in (
        (GenAI.GEN_AI_INPUT_MESSAGES, record.input_messages),
        (GenAI.GEN_AI_SYSTEM_INSTRUCTIONS, record.system_instructions),
        (GenAI.GEN_AI_OUTPUT_MESSAGES, record.output_messages),
    ):
        if messages:
            if redact is not None:
                messages = _redacted(messages, redact)
            attrs[key] = limit(json.dumps(messages, ensure_ascii=False, default=str), max_length)
    return attrs

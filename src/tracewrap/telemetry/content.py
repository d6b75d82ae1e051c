"""Opt-in content on spans and events: JSON, redacted by the user's hook, then size-limited."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from tracewrap.options import Redactor
from tracewrap.record import CallRecord
from tracewrap.settings import warn_once

TRUNCATION_MARKER = "…[truncated {} chars]"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"


def _redacted(messages: list[dict[str, Any]], redact: Redactor) -> list[dict[str, Any]]:
    def part(p: dict[str, Any]) -> dict[str, Any]:
        out = dict(p)
        response = out.get("response")
        if response is not None and not isinstance(response, str):
            # a tool result given as content parts (Responses function_call_output): the hook sees it
            # as the JSON text that would be recorded, rather than letting it through unredacted
            out["response"] = json.dumps(response, ensure_ascii=False, default=str)
        for key in ("content", "arguments", "response"):
            if isinstance(out.get(key), str):
                out[key] = redacted = redact(out[key])
                if not isinstance(redacted, str):
                    raise TypeError(f"the redact hook returned {type(redacted).__name__}, not str")
        return out

    return [
        {**m, "parts": [part(p) for p in m.get("parts", ())]} if "parts" in m else part(m) for m in messages
    ]


def redact_record(record: CallRecord, redact: Redactor | None) -> None:
    """Run the user's hook over the record's content once, in place, before anything reads it:
    span attributes, the content event and observers (the LangSmith exporter) all see its output.

    A hook that raises (or returns something other than a str) drops the call's content, so
    nothing unredacted is recorded; the span, its other attributes and the metrics are kept. The
    warning names only the exception's type: its message might quote the text being redacted.
    """
    if redact is None:
        return
    found = (record.input_messages, record.system_instructions, record.output_messages)
    if not any(found):
        return
    try:
        redacted = [_redacted(messages, redact) if messages else messages for messages in found]
    except Exception as exc:
        warn_once(
            "redact",
            "tracewrap: the redact hook raised %s; the content of such calls is not recorded",
            type(exc).__name__,
        )
        record.input_messages = record.system_instructions = record.output_messages = None
        return
    record.input_messages, record.system_instructions, record.output_messages = redacted


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

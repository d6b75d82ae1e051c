"""Opt-in content on spans and events: JSON, redacted by the user's hook, then size-limited
(each text value cut with a marker, so the attribute always parses; the whole attribute bounded)."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from tracewrap.logs import warn_once
from tracewrap.options import Redactor
from tracewrap.record import CallRecord

TRUNCATION_MARKER = "…[truncated {} chars]"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"


def _redacted(messages: list[dict[str, Any]], redact: Redactor) -> list[dict[str, Any]]:
    def part(p: dict[str, Any]) -> dict[str, Any]:
        out = dict(p)
        response = out.get("response")
        if isinstance(response, list) and all(isinstance(r, dict) for r in response):
            out["response"] = [part(r) for r in response]  # a tool result as parts: each part's text
        elif response is not None and not isinstance(response, str):
            # any other shape: the hook sees it as the JSON text that would be recorded, rather than
            # letting it through unredacted
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


# the whole attribute is bounded too: at this many times the per-value limit
ATTRIBUTE_BOUND_FACTOR = 4
_SCALARS = (int, float, bool, type(None))
STRUCTURE_KEYS = frozenset({"role", "type", "id", "name", "finish_reason"})


def limit(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    cut = len(text) - max_length
    return text[:max_length] + TRUNCATION_MARKER.format(cut)


def cut_values(value: Any, max_length: int) -> Any:
    """A copy of a JSON-like structure with every text value cut at ``max_length`` (+ marker);
    the structure's own short fields (role, type, id, name, finish reason) are kept whole."""
    if isinstance(value, str):
        return limit(value, max_length)
    if isinstance(value, dict):
        return {
            key: item if key in STRUCTURE_KEYS and isinstance(item, str) else cut_values(item, max_length)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [cut_values(item, max_length) for item in value]
    if isinstance(value, _SCALARS):
        return value
    return limit(str(value), max_length)  # what json.dumps(default=str) would have written, cut


def bounded_json(messages: Any, max_length: int) -> str:
    """``messages`` as JSON that always parses, with every message present.

    Each text value is cut at ``max_length`` characters with a visible marker (never the JSON
    text itself, which would no longer parse). When the result is still longer than
    ``ATTRIBUTE_BOUND_FACTOR * max_length`` (many messages), the values are cut shorter, evenly,
    until it fits; only when the messages' structure alone (roles, types, markers) is larger than
    the bound does the attribute stay over it.
    """
    text = json.dumps(cut_values(messages, max_length), ensure_ascii=False)
    bound = ATTRIBUTE_BOUND_FACTOR * max_length
    value_limit = max_length
    while len(text) > bound and value_limit > 0:
        value_limit = max(0, min(value_limit - 1, value_limit * bound // len(text)))
        text = json.dumps(cut_values(messages, value_limit), ensure_ascii=False)
    return text


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
            attrs[key] = bounded_json(messages, max_length)
    return attrs

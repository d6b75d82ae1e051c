"""Prompts as GenAI-convention message structures, for opt-in content capture only.

Never called unless capture is on. Structures follow ``gen_ai.input.messages``:
``[{"role": ..., "parts": [{"type": "text", "content": ...}, ...]}]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tracewrap.normalize.values import as_list, as_str, field


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in as_list(content):
        text = as_str(field(part, "text"))
        if text is not None:
            parts.append({"type": "text", "content": text})
        else:
            kind = as_str(field(part, "type")) or "unknown"
            parts.append({"type": kind})  # images, audio, files: the kind only, never the bytes
    return parts


def _reusable_iterable(value: Any) -> bool:
    """An iterable that can be read again (a deque, a view), not a one-shot iterator: the SDK
    accepts any ``Iterable`` of messages, and reading a generator here would leave it none to send."""
    return isinstance(value, Iterable) and not isinstance(value, (Iterator, str, bytes, bytearray, Mapping))


def chat_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    messages = kwargs.get("messages")
    if not isinstance(messages, (list, tuple)):
        if _reusable_iterable(messages):
            messages = list(messages)
        else:  # absent, a NotGiven / Omit sentinel, or an iterator that reading would use up
            prompt = kwargs.get("prompt")  # legacy completions
            return [{"role": "user", "parts": _text_parts(prompt)}] if isinstance(prompt, str) else None
    result = []
    for message in messages:
        parts = _text_parts(field(message, "content"))
        for call in as_list(field(message, "tool_calls")):
            function = field(call, "function")
            parts.append(
                {
                    "type": "tool_call",
                    "id": as_str(field(call, "id")),
                    "name": as_str(field(function, "name")),
                    "arguments": as_str(field(function, "arguments")),
                }
            )
        result.append({"role": as_str(field(message, "role")) or "user", "parts": parts})
    return result


def responses_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    items = kwargs.get("input")
    if isinstance(items, str):
        return [{"role": "user", "parts": _text_parts(items)}]
    result = []
    for item in as_list(items):
        kind = as_str(field(item, "type"))
        if kind == "function_call_output":
            result.append(
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": as_str(field(item, "call_id")),
                            "response": field(item, "output"),
                        }
                    ],
                }
            )
        elif kind in (None, "message"):
            result.append(
                {"role": as_str(field(item, "role")) or "user", "parts": _text_parts(field(item, "content"))}
            )
    return result or None


def responses_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    instructions = as_str(kwargs.get("instructions"))
    return [{"type": "text", "content": instructions}] if instructions else None

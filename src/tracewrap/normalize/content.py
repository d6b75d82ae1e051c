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


_TOOL_CALLS = {"function_call": "arguments", "custom_tool_call": "input"}  # item type -> its arguments field
_TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})


def responses_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The input items as messages: messages, the prompt's own tool calls (the assistant's, as in a
    chat prompt) and their results. A tool result given as content parts is read as a message's
    are: text, and only the kind of an image or file (never its bytes or URL)."""
    items = kwargs.get("input")
    if isinstance(items, str):
        return [{"role": "user", "parts": _text_parts(items)}]
    result: list[dict[str, Any]] = []
    for item in as_list(items):
        kind = as_str(field(item, "type"))
        if kind in _TOOL_OUTPUTS:
            output = field(item, "output")
            response = output if isinstance(output, str) else _text_parts(output)
            part = {"type": "tool_call_response", "id": as_str(field(item, "call_id")), "response": response}
            result.append({"role": "tool", "parts": [part]})
        elif kind in _TOOL_CALLS:
            call = {
                "type": "tool_call",
                "id": as_str(field(item, "call_id")),
                "name": as_str(field(item, "name")),
                "arguments": as_str(field(item, _TOOL_CALLS[kind])),
            }
            if result and result[-1]["role"] == "assistant":  # one turn: its text and its calls
                result[-1]["parts"].append(call)
            else:
                result.append({"role": "assistant", "parts": [call]})
        elif kind in (None, "message"):
            result.append(
                {"role": as_str(field(item, "role")) or "user", "parts": _text_parts(field(item, "content"))}
            )
    return result or None


def responses_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    instructions = as_str(kwargs.get("instructions"))
    return [{"type": "text", "content": instructions}] if instructions else None

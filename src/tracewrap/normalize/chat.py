"""Chat completions (and legacy text completions): full responses and streamed chunks.

A chat stream reports its finish reason per choice in some chunk, and its usage only in a last
chunk with empty ``choices``, and only when the request asked for
``stream_options={"include_usage": True}``; without it usage stays absent.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.usage import read_usage
from tracewrap.normalize.values import as_int, as_list, as_str, field
from tracewrap.record import CallRecord


def _read_envelope(response: Any, record: CallRecord) -> None:
    record.response_id = as_str(field(response, "id")) or record.response_id
    record.response_model = as_str(field(response, "model")) or record.response_model
    record.system_fingerprint = as_str(field(response, "system_fingerprint")) or record.system_fingerprint
    record.service_tier = as_str(field(response, "service_tier")) or record.service_tier


def read_chat_completion(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """A ``chat.completion`` (also ``ParsedChatCompletion``) or a ``text_completion`` body."""
    _read_envelope(response, record)
    choices = as_list(field(response, "choices"))
    reasons = tuple(r for r in (as_str(field(c, "finish_reason")) for c in choices) if r)
    record.finish_reasons = reasons or None
    usage = field(response, "usage")
    if usage is not None:
        record.usage = read_usage(usage)
    if capture_content and choices:
        record.output_messages = [_output_message(choice) for choice in choices]


def _output_message(choice: Any) -> dict[str, Any]:
    message = field(choice, "message")
    parts: list[dict[str, Any]] = []
    text = as_str(field(message, "content")) if message is not None else as_str(field(choice, "text"))
    if text:
        parts.append({"type": "text", "content": text})
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
    return {
        "role": as_str(field(message, "role")) or "assistant",
        "parts": parts,
        "finish_reason": as_str(field(choice, "finish_reason")),
    }


class ChatStreamAccumulator:
    """Folds ``chat.completion.chunk`` (or streamed ``text_completion``) objects as they pass.

    Keeps only scalars and one finish reason per choice; text is kept only when content capture
    is on, so memory does not grow with the length of the stream.
    """

    __slots__ = ("_capture", "_envelope_read", "_last", "_reasons", "_texts", "_tool_calls", "_usage")

    def __init__(self, capture_content: bool = False) -> None:
        self._capture = capture_content
        self._reasons: dict[int, str] = {}
        self._texts: dict[int, list[str]] = {}
        self._tool_calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._usage: Any = None
        self._envelope_read = False
        self._last: Any = None

    def add(self, chunk: Any) -> None:
        if not self._envelope_read:
            self._envelope_read = True
            self._last = chunk
        choices = field(chunk, "choices")
        if isinstance(choices, (list, tuple)):  # anything else (a broken server's scalar) is skipped
            for choice in choices:
                reason = field(choice, "finish_reason")
                # "" (sent on every chunk by some compatible servers) is not a finish
                if reason and isinstance(reason, str):
                    self._reasons[as_int(field(choice, "index")) or 0] = reason
                if self._capture:
                    self._capture_delta(choice)
        usage = field(chunk, "usage")
        if usage is not None:
            self._usage = usage
            self._last = chunk  # the usage chunk carries the final envelope too

    def _capture_delta(self, choice: Any) -> None:
        index = as_int(field(choice, "index")) or 0
        delta = field(choice, "delta")
        text = field(delta, "content") if delta is not None else field(choice, "text")
        if isinstance(text, str) and text:
            self._texts.setdefault(index, []).append(text)
        for call in as_list(field(delta, "tool_calls")):
            slot = self._tool_calls.setdefault(index, {}).setdefault(
                as_int(field(call, "index")) or 0, {"type": "tool_call", "arguments": ""}
            )
            call_id = as_str(field(call, "id"))
            if call_id:
                slot["id"] = call_id
            function = field(call, "function")
            name = as_str(field(function, "name"))
            if name:
                slot["name"] = name
            arguments = field(function, "arguments")
            if isinstance(arguments, str):
                slot["arguments"] += arguments

    @property
    def finished(self) -> bool:
        """Whether a finish reason arrived: a stream that ends without one was cut off."""
        return bool(self._reasons)

    def finish(self, record: CallRecord) -> None:
        if self._last is not None:
            _read_envelope(self._last, record)
        if self._reasons:
            record.finish_reasons = tuple(self._reasons[i] for i in sorted(self._reasons))
        if self._usage is not None:
            record.usage = read_usage(self._usage)
        if self._capture:
            indexes = sorted(set(self._texts) | set(self._tool_calls) | set(self._reasons))
            record.output_messages = [
                {
                    "role": "assistant",
                    "parts": (
                        [{"type": "text", "content": "".join(self._texts[i])}] if i in self._texts else []
                    )
                    + [self._tool_calls[i][k] for k in sorted(self._tool_calls.get(i, {}))],
                    "finish_reason": self._reasons.get(i),
                }
                for i in indexes
            ]

"""The Responses API: ``Response`` objects and the semantic stream events.

Responses have no per-choice finish reason; it is derived from ``status`` (see the table in the
README): ``completed`` → ``stop`` (``tool_calls`` when the output ends with a tool call item),
``incomplete`` → ``length`` / ``content_filter`` / the reason as sent, ``failed`` → ``error``,
``cancelled`` (a background response someone cancelled) → ``cancelled``, not an error, as in the
Realtime API. ``queued`` / ``in_progress`` (``background=True``) have no finish reason yet.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.usage import read_usage_into
from tracewrap.normalize.values import as_list, as_str, field, fields_of
from tracewrap.record import CallRecord

_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# every event the stream accumulator reads; the rest (the deltas: nearly all of a stream) are passed
# over with this one set lookup: the 58-event stream's adds 7.5-9.1 -> 5.3-5.4 µs in a timeit loop
# (paired benchmarks/ab.py: -0.8 to -6.7 µs in three of four passes, +2.1 in one; IQR ~300 µs)
_READ_EVENTS = TERMINAL_EVENTS | {"response.created", "response.in_progress", "response.queued", "error"}


def _ends_with_tool_call(output: list[Any]) -> bool:
    if not output:
        return False
    last = output[-1]
    try:  # an SDK model's own attribute; a dict or anything odd goes through field()
        kind = last.type
    except Exception:
        kind = field(last, "type")
    kind = as_str(kind) or ""
    # function_call, custom_tool_call, computer_call, local_shell_call...: the app must act next
    # (a *_call_output item is the app's answer, and does not end with "_call"); a call the server
    # ran itself (a hosted tool: an image generation's last item is its image_generation_call)
    # leaves the app nothing to do
    return (kind.endswith("_call") and kind not in HOSTED_TOOL_CALLS) or kind == "mcp_approval_request"


# output items of the tools OpenAI runs itself, results included (``mcp_list_tools`` does not end
# with "_call" and needs no entry)
HOSTED_TOOL_CALLS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "mcp_call",
        "tool_search_call",
    }
)


def finish_reason_for(status: str | None, incomplete_reason: str | None, output: list[Any]) -> str | None:
    if status == "completed":
        return "tool_calls" if _ends_with_tool_call(output) else "stop"
    if status == "incomplete":
        if incomplete_reason is None:
            return "incomplete"
        return _INCOMPLETE_REASONS.get(incomplete_reason, incomplete_reason)
    if status == "failed":
        return "error"
    if status == "cancelled":
        return "cancelled"
    return None


def read_response(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """Read a ``Response`` (also ``ParsedResponse`` and retrieved / background ones).

    A field that is not a non-empty string leaves the record's value as it was (checked with
    ``isinstance``, as in ``normalize.chat._read_envelope``, for the same measured reason).
    """
    get = fields_of(response).get
    value = get("id")
    if isinstance(value, str) and value:
        record.response_id = value
    value = get("model")
    if isinstance(value, str) and value:
        record.response_model = value
    value = get("service_tier")
    if isinstance(value, str) and value:
        record.service_tier = value
    status = get("status")
    if isinstance(status, str) and status:
        record.status = status
    else:
        status = None
    output = get("output")
    if not isinstance(output, (list, tuple)):
        output = []
    details = get("incomplete_details")
    incomplete_reason = None if details is None else as_str(field(details, "reason"))
    reason = finish_reason_for(status, incomplete_reason, output)
    if reason is not None:
        record.finish_reasons = (reason,)
    if status == "failed":
        error = get("error")
        record.error_type = as_str(field(error, "code")) or status
        record.error_message = as_str(field(error, "message"))
    usage = get("usage")
    if usage is not None:
        read_usage_into(usage, record.usage)
    if capture_content and output:
        record.output_messages = output_messages(list(output), reason)


def output_messages(
    output: list[Any], finish_reason: str | None, other_text: str = "refusal"
) -> list[dict[str, Any]]:
    """The output items as one assistant message. A content part's text is its ``text``, else its
    ``other_text`` field: a Responses refusal, or a realtime response's audio ``transcript``."""
    parts: list[dict[str, Any]] = []
    for item in output:
        kind = as_str(field(item, "type"))
        if kind == "message":
            for content in as_list(field(item, "content")):
                text = as_str(field(content, "text")) or as_str(field(content, other_text))
                if text:
                    parts.append({"type": "text", "content": text})
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": as_str(field(item, "call_id")),
                    "name": as_str(field(item, "name")),
                    "arguments": as_str(field(item, "arguments")),
                }
            )
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]


class ResponsesStreamAccumulator:
    """Folds Responses stream events; the terminal event carries the whole final ``response``.

    Nothing but a reference to the latest ``response`` snapshot is kept, so memory is flat in the
    length of the stream. Unknown event types are ignored.
    """

    __slots__ = ("_capture", "_error_code", "_error_message", "_response", "_terminal")

    def __init__(self, capture_content: bool = False) -> None:
        self._capture = capture_content
        self._response: Any = None
        self._terminal = False
        self._error_code: str | None = None
        self._error_message: str | None = None

    def add(self, event: Any) -> None:
        try:  # every event passes here: the SDK model's attribute directly, field() for the rest
            kind = event.type
        except Exception:
            kind = field(event, "type")
        try:
            if kind not in _READ_EVENTS:  # a delta, an unknown event, or absent (None)
                return
        except Exception:  # unhashable (a broken proxy): an unknown event
            return
        if not isinstance(kind, str):  # an odd object equal to one of the names: not an event type
            return
        if kind in TERMINAL_EVENTS:
            self._terminal = True
            self._response = field(event, "response")
        elif kind == "response.created" or kind == "response.in_progress" or kind == "response.queued":
            if not self._terminal:
                self._response = field(event, "response")
        elif kind == "error":
            # SSE: code / message on the event; WebSocket mode: in its ``error`` object
            detail = field(event, "error")
            source = event if detail is None else detail
            self._error_code = as_str(field(source, "code")) or as_str(field(detail, "type")) or "error"
            self._error_message = as_str(field(source, "message"))

    @property
    def finished(self) -> bool:
        return self._terminal or self._error_code is not None

    @property
    def errored(self) -> bool:
        """An ``error`` event ended the response (the SDK yields it; the stream's outcome is ``error``,
        as in WebSocket mode)."""
        return self._error_code is not None and not self._terminal

    def final(self) -> Any:
        """The stream's final ``Response`` (the terminal event's), or the latest snapshot."""
        return self._response

    def finish(self, record: CallRecord) -> None:
        if self._response is not None:
            read_response(self._response, record, self._capture)
        if self._error_code is not None and record.error_type is None:
            record.error_type = self._error_code
            record.error_message = self._error_message
            record.finish_reasons = ("error",)
            if not self._terminal:  # the last snapshot's "in_progress" is not how the response ended
                record.status = None

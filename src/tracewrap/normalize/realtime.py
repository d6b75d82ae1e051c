"""The Realtime API (``client.realtime.connect()``): one ``response`` from ``response.created`` to
``response.done``.

A realtime response names no model (the session does: the connection's ``model=`` or
``session.created``), so the interception sets the model. Its finish reason comes from
``status`` / ``status_details.reason``: ``completed`` → ``stop`` (``tool_calls`` when it ends with
a function call), ``incomplete`` → ``length`` / ``content_filter``, ``cancelled`` → ``cancelled``
(a barge-in, ``turn_detected``, or ``response.cancel``: not an error), ``failed`` → ``error`` with
the status details' error code as ``error.type``. Usage (text, audio, cached tokens) is read as
for the other APIs (``input_token_details`` / ``output_token_details``).
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.responses import finish_reason_for, output_messages
from tracewrap.normalize.usage import read_usage_into
from tracewrap.normalize.values import as_str, field, fields_of
from tracewrap.record import CallRecord


def read_realtime_response(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    get = fields_of(response).get
    response_id = as_str(get("id"))
    if response_id:
        record.response_id = response_id
    status = as_str(get("status")) or None
    record.status = status or record.status
    details = get("status_details")
    reason = as_str(field(details, "reason"))
    output = get("output")
    if not isinstance(output, (list, tuple)):
        output = []
    finish = finish_reason_for(status, reason, list(output))
    if finish is not None:
        record.finish_reasons = (finish,)
    if status == "failed":
        error = field(details, "error")
        record.error_type = as_str(field(error, "code")) or as_str(field(error, "type")) or status
        record.error_message = as_str(field(error, "message"))
    usage = get("usage")
    if usage is not None:
        read_usage_into(usage, record.usage)
    if capture_content and output:
        record.output_messages = output_messages(list(output), finish, other_text="transcript")


class RealtimeAccumulator:
    """Folds one realtime response's events: ``response.done`` carries the whole final response."""

    __slots__ = ("_capture", "_error_code", "_error_message", "_response", "_terminal")

    def __init__(self, capture_content: bool = False) -> None:
        self._capture = capture_content
        self._response: Any = None
        self._terminal = False
        self._error_code: str | None = None
        self._error_message: str | None = None

    def add(self, event: Any) -> None:
        try:
            kind = event.type
        except Exception:
            kind = field(event, "type")
        if kind == "response.done":
            self._terminal = True
            self._response = field(event, "response")
        elif kind == "response.created":
            if not self._terminal:
                self._response = field(event, "response")
        elif kind == "error":
            error = field(event, "error")
            self._error_code = as_str(field(error, "code")) or as_str(field(error, "type")) or "error"
            self._error_message = as_str(field(error, "message"))

    @property
    def finished(self) -> bool:
        return self._terminal or self._error_code is not None

    def final(self) -> Any:
        return self._response

    def finish(self, record: CallRecord) -> None:
        if self._response is not None:
            read_realtime_response(self._response, record, self._capture)
        if self._error_code is not None and record.error_type is None:
            record.error_type = self._error_code
            record.error_message = self._error_message
            record.finish_reasons = ("error",)

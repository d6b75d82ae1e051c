"""Generic API calls (files, batches, vector stores, ...): what a span may say about them.

These calls are not model calls: no content, no usage (a batch reports usage that is billed
elsewhere), no finish reason. The span carries the model
the request names and the one the response names, if any; its status and error come from the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracewrap.normalize.values import as_str, field
from tracewrap.record import CallRecord


def read_api_call_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    record.request_model = as_str(kwargs.get("model"))
    record.counted = False  # counts no tokens, cost or finish: its duration only


def read_api_call(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    record.response_model = as_str(field(response, "model"))

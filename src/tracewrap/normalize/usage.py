"""Usage from both API shapes onto one set of keys.

Chat completions and legacy completions report ``prompt_tokens / completion_tokens`` with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``; the
Responses API reports ``input_tokens / output_tokens`` with ``input_tokens_details`` and
``output_tokens_details``. Both land on :class:`~tracewrap.record.Usage`.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.values import as_int, field, fields_of
from tracewrap.record import Usage


def read_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    # both shapes' names are probed (Responses first), so a compatible server's mix reads the same;
    # on an SDK model a name of the other shape is a dict miss, not pydantic's AttributeError
    get = fields_of(usage).get
    input_tokens = as_int(get("input_tokens"))
    if input_tokens is None:
        input_tokens = as_int(get("prompt_tokens"))
    output_tokens = as_int(get("output_tokens"))
    if output_tokens is None:
        output_tokens = as_int(get("completion_tokens"))

    input_details = get("input_tokens_details")
    if input_details is None:
        input_details = get("prompt_tokens_details")
    output_details = get("output_tokens_details")
    if output_details is None:
        output_details = get("completion_tokens_details")

    cache_read = None if input_details is None else as_int(field(input_details, "cached_tokens"))
    reasoning = None if output_details is None else as_int(field(output_details, "reasoning_tokens"))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        reasoning_tokens=reasoning,
        total_tokens=as_int(get("total_tokens")),
    )

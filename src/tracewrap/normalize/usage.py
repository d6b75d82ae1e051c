"""Usage from both API shapes onto one set of keys.

Chat completions and legacy completions report ``prompt_tokens / completion_tokens`` with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``; the
Responses API reports ``input_tokens / output_tokens`` with ``input_tokens_details`` and
``output_tokens_details``. Both land on :class:`~tracewrap.record.Usage`.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.values import as_int, field
from tracewrap.record import Usage


def read_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    input_tokens = as_int(field(usage, "input_tokens"))
    if input_tokens is None:
        input_tokens = as_int(field(usage, "prompt_tokens"))
    output_tokens = as_int(field(usage, "output_tokens"))
    if output_tokens is None:
        output_tokens = as_int(field(usage, "completion_tokens"))

    input_details = field(usage, "input_tokens_details")
    if input_details is None:
        input_details = field(usage, "prompt_tokens_details")
    output_details = field(usage, "output_tokens_details")
    if output_details is None:
        output_details = field(usage, "completion_tokens_details")

    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=as_int(field(input_details, "cached_tokens")),
        reasoning_tokens=as_int(field(output_details, "reasoning_tokens")),
        total_tokens=as_int(field(usage, "total_tokens")),
    )

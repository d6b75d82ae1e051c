"""Usage from both API shapes onto one set of keys.

Chat completions and legacy completions report ``prompt_tokens / completion_tokens`` with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``; the
Responses API reports ``input_tokens / output_tokens`` with ``input_tokens_details`` and
``output_tokens_details``. Both land on :class:`~tracewrap.record.Usage`.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.values import INT64_MAX, as_int, field, fields_of
from tracewrap.record import Usage

# (Responses name, chat name) of the details objects
_INPUT_DETAILS = ("input_tokens_details", "prompt_tokens_details")
_OUTPUT_DETAILS = ("output_tokens_details", "completion_tokens_details")


def read_usage(usage: Any) -> Usage:
    """A new :class:`Usage` from a usage object or dict of either shape."""
    counts = Usage()
    if usage is not None:
        read_usage_into(usage, counts)
    return counts


def read_usage_into(usage: Any, counts: Usage) -> None:
    """Set the counts ``usage`` reports on ``counts`` (a record's own, so no new object per call).

    Both shapes' names are probed (Responses first), so a compatible server's mix reads the same;
    on an SDK model a name of the other shape is a dict miss, not pydantic's AttributeError. An
    exact int in range is taken as it is; anything else goes through ``as_int`` (once per call,
    every avoided call and lookup counts: benchmarks/README.md).
    """
    get = fields_of(usage).get
    counts.input_tokens = _count(get, ("input_tokens", "prompt_tokens"))
    counts.output_tokens = _count(get, ("output_tokens", "completion_tokens"))
    counts.total_tokens = _count(get, ("total_tokens",))
    counts.cache_read_tokens = _detail(
        get, ("input_tokens_details", "prompt_tokens_details"), "cached_tokens"
    )
    counts.reasoning_tokens = _detail(
        get, ("output_tokens_details", "completion_tokens_details"), "reasoning_tokens"
    )


def _count(get: Any, names: tuple[str, ...]) -> int | None:
    """The first of ``names`` that holds a valid count."""
    for name in names:
        value = get(name)
        if value.__class__ is not int or not 0 <= value <= INT64_MAX:
            value = None if value is None else as_int(value)
        if value is not None:
            return value
    return None


def _detail(get: Any, names: tuple[str, ...], count: str) -> int | None:
    """``count`` in the first of the details objects ``names`` that is present."""
    for name in names:
        details = get(name)
        if details is not None:
            return as_int(field(details, count))
    return None

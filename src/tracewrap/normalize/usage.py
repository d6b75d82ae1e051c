"""Usage from both API shapes onto one set of keys.

Chat completions and legacy completions report ``prompt_tokens / completion_tokens`` with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``; the
Responses API reports ``input_tokens / output_tokens`` with ``input_tokens_details`` and
``output_tokens_details``. Both land on :class:`~tracewrap.record.Usage`.

Cache writes (``cache_write_tokens``, openai 3.x) are read from the input details too.
Audio and image tokens are read from the same details objects (``audio_tokens`` /
``image_tokens``; transcriptions name theirs ``input_token_details``, realtime splits its cached
tokens in ``cached_tokens_details``): a part of the input or output count, absent when not reported.
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.values import INT64_MAX, as_int, field, fields_of
from tracewrap.record import Usage


def read_usage(usage: Any) -> Usage:
    """A new :class:`Usage` from a usage object or dict of either shape."""
    counts = Usage()
    if usage is not None:
        read_usage_into(usage, counts)
    return counts


def read_usage_into(usage: Any, counts: Usage) -> None:
    """Set the counts ``usage`` reports on ``counts`` (a record's own, so no new object per call).

    Both shapes' names are probed (Responses first), so a compatible server's mix reads the same;
    on an SDK model a name of the other shape is a dict miss, not pydantic's AttributeError.

    The usual count (the first name present holds an exact int in range) is read inline; any other
    value goes to ``_first_count``, which gives the same answer the slow way. Measured: calling
    ``_first_count`` / ``as_int`` for every count, with ``as_str`` in the response readers, cost
    +6 to +9 µs per call (paired benchmarks/ab.py).
    """
    get = fields_of(usage).get
    value = get("input_tokens")
    if value is None:
        value = get("prompt_tokens")
    if value.__class__ is not int or not 0 <= value <= INT64_MAX:
        value = _first_count(get, "input_tokens", "prompt_tokens")
    counts.input_tokens = value
    value = get("output_tokens")
    if value is None:
        value = get("completion_tokens")
    if value.__class__ is not int or not 0 <= value <= INT64_MAX:
        value = _first_count(get, "output_tokens", "completion_tokens")
    counts.output_tokens = value
    value = get("total_tokens")
    if value.__class__ is not int or not 0 <= value <= INT64_MAX:
        value = None if value is None else as_int(value)
    counts.total_tokens = value
    # the first details object present (Responses name, then chat name) holds the count
    details = get("input_tokens_details")
    if details is None:
        details = get("prompt_tokens_details")
        if details is None:
            details = get("input_token_details")  # transcriptions and realtime
    if details is None:
        counts.cache_read_tokens = counts.input_audio_tokens = counts.input_image_tokens = None
        counts.cache_audio_read_tokens = counts.cache_write_tokens = None
    else:
        dget = fields_of(details).get  # one lookup per name: most details hold two or three
        counts.cache_read_tokens = _count(dget("cached_tokens"))
        counts.cache_write_tokens = _count(dget("cache_write_tokens"))
        counts.input_audio_tokens = _count(dget("audio_tokens"))
        counts.input_image_tokens = _count(dget("image_tokens"))
        cached = dget("cached_tokens_details")
        counts.cache_audio_read_tokens = None if cached is None else as_int(field(cached, "audio_tokens"))
    details = get("output_tokens_details")
    if details is None:
        details = get("completion_tokens_details")
        if details is None:
            details = get("output_token_details")
    if details is None:
        counts.reasoning_tokens = counts.output_audio_tokens = counts.output_image_tokens = None
    else:
        dget = fields_of(details).get
        counts.reasoning_tokens = _count(dget("reasoning_tokens"))
        counts.output_audio_tokens = _count(dget("audio_tokens"))
        counts.output_image_tokens = _count(dget("image_tokens"))


def _count(value: Any) -> int | None:
    """``as_int`` with the usual cases (absent, an exact int in range) answered inline."""
    if value is None:
        return None
    if value.__class__ is int and 0 <= value <= INT64_MAX:
        return value
    return as_int(value)


def _first_count(get: Any, *names: str) -> int | None:
    """The first of ``names`` that holds a valid count (a wrong-typed one is skipped)."""
    for name in names:
        value = as_int(get(name))
        if value is not None:
            return value
    return None

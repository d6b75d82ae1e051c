"""Defensive readers for values that come from the wire or from the user's call arguments.

Responses are pydantic models in the normal case, but compatible servers, raw responses and
other wrappers hand us dicts, ``None`` or fields of the wrong type. Every reader returns a value
of the promised type or ``None``; none of them raises. ``NotGiven`` / ``Omit`` sentinels fail
every type check, so they read as absent without importing openai.
"""

from __future__ import annotations

from typing import Any

# one field of a dict, an SDK model or anything else (pydantic's internals are read there only)
from tracewrap.normalize.fields import field, fields_of

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "as_bool",
    "as_float",
    "as_int",
    "as_int64",
    "as_list",
    "as_str",
    "as_str_tuple",
    "field",
    "fields_of",
]

# OTLP encodes ints as signed 64-bit: a bigger one is dropped by the exporter (an error per span)
# and overflows a metric sum, so it reads as absent like any other value that cannot be recorded
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def as_int(value: Any) -> int | None:
    """A non-negative int that fits a signed 64-bit int (counts, sizes, indexes), else ``None``."""
    # bool is an int subclass; a True token count is nonsense, not 1
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    # a compatible server's JSON `12.0` (the SDK keeps it a float): 12; `12.5` is no count
    if isinstance(value, float) and value.is_integer() and 0 <= value <= INT64_MAX:
        return int(value)
    return None


def as_int64(value: Any) -> int | None:
    """Any int that fits a signed 64-bit int (e.g. a ``seed``, which may be negative), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, float):
        return float(value)  # a plain float, also for subclasses such as numpy.float64
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range (10**400)
            return None
    return None


def as_str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    return None


def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return []


def as_str_tuple(value: Any) -> tuple[str, ...] | None:
    """A string or a sequence of strings (e.g. ``stop``) as a tuple; anything else is absent."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        strings = []  # a plain loop: on Python 3.11 a comprehension is one more function call
        for item in value:
            if isinstance(item, str):
                strings.append(item)
        return tuple(strings) or None
    return None

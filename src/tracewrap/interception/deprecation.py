"""The SDK's own deprecation warnings, still naming the line that called the SDK.

The SDK marks some traced methods deprecated (``images.create_variation`` and
``audio.translations.create`` in openai 3.x) with ``typing_extensions.deprecated``: its wrapper
warns with a ``stacklevel`` that names the wrapper's caller. Traced, that caller is tracewrap's
wrapper, so the warning would name a line of tracewrap, and Python's default filters (which show a
``DeprecationWarning`` only where it names ``__main__``) would hide from a script what it sees
without tracewrap. For such a method tracewrap's wrapper warns itself, with the marker's own
message, category and stacklevel, one frame further up, and calls the undecorated function: one
warning, at the line it names without tracewrap.

Only a wrapper of exactly that shape is handled (a closure over ``msg``, ``category``,
``stacklevel`` and ``arg``, as ``typing_extensions.deprecated`` and Python 3.13's
``warnings.deprecated`` build it); anything else is called as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


class Deprecation:
    """A deprecated SDK method: what its marker warns, and the function it wraps."""

    __slots__ = ("category", "message", "stacklevel", "undecorated")

    def __init__(
        self, message: str, category: type[Warning], stacklevel: int, undecorated: Callable[..., Any]
    ) -> None:
        self.message = message
        self.category = category
        self.stacklevel = stacklevel
        self.undecorated = undecorated

    def warn_and_bind(self, instance: Any, depth: int) -> Callable[..., Any]:
        """Warn as the marker would, ``depth`` frames above the caller of this method, and return
        the undecorated method bound to ``instance``."""
        warnings.warn(self.message, self.category, stacklevel=self.stacklevel + depth + 1)
        return self.undecorated.__get__(instance, type(instance))


def deprecation_of(method: Any) -> Deprecation | None:
    """The :class:`Deprecation` of a function or bound method the SDK marked deprecated, else None
    (a marker with ``category=None`` warns nothing and wraps nothing: None too)."""
    function = getattr(method, "__func__", method)
    message = getattr(function, "__deprecated__", None)
    undecorated = getattr(function, "__wrapped__", None)
    code = getattr(function, "__code__", None)
    cells = getattr(function, "__closure__", None)
    if not isinstance(message, str) or undecorated is None or code is None or not cells:
        return None
    try:
        free = dict(zip(code.co_freevars, (cell.cell_contents for cell in cells), strict=True))
    except ValueError:  # an empty cell
        return None
    category, stacklevel = free.get("category"), free.get("stacklevel")
    if (
        free.get("msg") != message
        or free.get("arg") is not undecorated
        or not (isinstance(category, type) and issubclass(category, Warning))
        or not isinstance(stacklevel, int)
    ):
        return None
    return Deprecation(message, category, stacklevel, undecorated)

"""Zero-code instrumentation: trace every OpenAI client a program builds, without editing it.

Three ways in, all ending in :func:`instrument`:

* ``TRACEWRAP_ENABLED=true python app.py``: the wheel's ``tracewrap_autoinstrument.pth`` runs
  :mod:`tracewrap.auto.boot` at interpreter start-up (:mod:`tracewrap.auto.startup` once the program
  imports ``openai``);
* ``tracewrap run -- python app.py``: the same through a ``sitecustomize`` (no ``.pth`` needed);
* ``opentelemetry-instrument python app.py``: the ``tracewrap`` ``opentelemetry_instrumentor``
  entry point (:class:`tracewrap.instrumentor.TraceWrapInstrumentor`).

Or from code: ``tracewrap.auto.instrument()`` / ``tracewrap.auto.uninstrument()``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: the start-up stage (auto.boot) imports this package
if TYPE_CHECKING:
    from typing import Any

    from tracewrap.auto.patching import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]


def __getattr__(name: str) -> Any:
    # lazy: importing tracewrap.auto.* (the start-up stage, the launcher) must not import openai
    if name in __all__:
        from tracewrap.auto import patching

        return getattr(patching, name)
    raise AttributeError(f"module 'tracewrap.auto' has no attribute {name!r}")

"""Start-up stage of auto-instrumentation: standard library only, so it costs well under a millisecond.

The wheel's ``tracewrap_autoinstrument.pth`` imports this module when ``TRACEWRAP_ENABLED`` is set
(``tracewrap run``'s sitecustomize does the same); it is the only copy of the start-up code, so the
``.pth``, the sitecustomize and ``configure()`` share one module and one set of hooks. Importing
``tracewrap`` itself is cheap (its ``__init__`` loads nothing until used), but ``tracewrap.wrap``'s
modules (~40 ms) and wrapt (~70 ms) are not: a price every Python process with the variable set
would pay, OpenAI or not. So this stage only registers post-import hooks and returns:

* ``openai``: when it has been imported (or at once if it already is), the real work starts in
  :func:`tracewrap.auto.startup.on_openai_import` (instrument every client; the first traced call
  sets up export);
* the ends of a process that skip ``atexit`` are watched (:mod:`tracewrap.process_ends`).

Nothing here may stop the program: failures are one line on stderr.
"""

from tracewrap import environment, process_ends
from tracewrap.auto.import_hooks import when_imported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

_started = False


def start() -> None:
    """Register the hooks; once per process, however many start-up paths (``.pth``, sitecustomize) call it."""
    global _started
    # start-up runs on the main thread before any program code: no lock needed
    if _started or not environment.auto_instrumentation_requested():
        return
    _started = True
    try:
        when_imported("openai", _on_openai)
        process_ends.watch()
    except Exception as exc:
        from tracewrap.logs import say

        say(f"auto-instrumentation failed to start ({type(exc).__name__}: {exc}); the program runs untraced")


def _on_openai(module: "ModuleType") -> None:
    from tracewrap.auto.startup import on_openai_import

    on_openai_import(module)

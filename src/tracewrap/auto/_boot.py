"""Start-up stage of auto-instrumentation: standard library only, so it costs well under a millisecond.

The wheel ships this file at its root as ``tracewrap_autoinstrument.py`` (hatch's force-include
moves it there), the module the ``.pth`` line imports when ``TRACEWRAP_ENABLED=true``; in a source
checkout it is ``tracewrap.auto._boot``, which ``tracewrap run``'s sitecustomize falls back to.
Importing any ``tracewrap.*`` module at start-up would run ``tracewrap/__init__`` (~40 ms) and wrapt
(~70 ms: wrapt 2.x imports asyncio and importlib.metadata), a price every Python process with the
variable set would pay, OpenAI or not. So this stage only registers post-import hooks (a small
``sys.meta_path`` finder doing what ``wrapt.register_post_import_hook`` does) and returns:

* ``openai``: when it has been imported (or at once if it already is), the real work starts in
  :func:`tracewrap.auto.startup.on_openai_import` (exporters, then instrument every client);
* ``multiprocessing.process``: children leave through ``os._exit``, past ``atexit``, so
  ``BaseProcess._bootstrap`` flushes what the child recorded before it returns; and a pool's
  ``terminate()`` (``with Pool(...)``) ends its workers with SIGTERM, so a worker flushes on SIGTERM
  (bounded by ``TRACEWRAP_EXIT_TIMEOUT``), then dies by it as it would have.

``configure()`` installs the same process-end flushes (:func:`flush_at_process_ends`).

Nothing here may stop the program: failures are one line on stderr.
"""

import os
import sys

# typing, collections.abc, even __future__ (0.2 ms) are not loaded yet at start-up: importing them
# would cost more than the rest of this file, so annotations are strings, read by type checkers only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Hook = Callable[[ModuleType], None]

_TRUE = ("1", "true", "yes", "on")
_started = False


def enabled() -> bool:
    """TRACEWRAP_ENABLED true and OTEL_SDK_DISABLED not (``tracewrap.settings`` rules, no import)."""
    on = os.environ.get("TRACEWRAP_ENABLED", "").strip().lower() in _TRUE
    return on and os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() not in _TRUE


def start() -> None:
    """Register the hooks; once per process, however many start-up paths (``.pth``, sitecustomize) call it."""
    global _started
    # start-up runs on the main thread before any program code: no lock needed
    if _started or not enabled():
        return
    _started = True
    try:
        when_imported("openai", _on_openai)
        flush_at_process_ends()
    except Exception as exc:
        _say(f"auto-instrumentation failed to start ({type(exc).__name__}: {exc}); the program runs untraced")


def _on_openai(module: "ModuleType") -> None:
    from tracewrap.auto.startup import on_openai_import

    on_openai_import(module)


def flush_at_process_ends() -> None:
    """Flush what a process recorded at the ends that skip ``atexit``; idempotent."""
    when_imported("multiprocessing.process", _patch_process_bootstrap)
    flush_at_uvicorn_shutdown()
    # set up inside a process multiprocessing started (spawn, or a first traced call in a worker),
    # whose _bootstrap is already running: its own end runs multiprocessing's exit finalizers
    process_module = sys.modules.get("multiprocessing.process")
    if process_module is not None and process_module.parent_process() is not None:
        _flush_on_sigterm()
        _flush_at_child_end()


_child_end_pid = 0


def _flush_at_child_end() -> None:
    global _child_end_pid
    if _child_end_pid == os.getpid():
        return
    _child_end_pid = os.getpid()
    from multiprocessing import util

    # run by util._exit_function in the finally of BaseProcess._bootstrap, before os._exit
    util.Finalize(None, _flush_this_process, exitpriority=100)


class _Terminated(SystemExit):
    """SIGTERM in a multiprocessing child, turned into an exit that unwinds to a safe point."""


_terminated_by = 0  # the signal this process was told to end by, once it is winding down
_flushing = False


def _flush_on_sigterm() -> None:
    """In a multiprocessing child: on SIGTERM flush, then die by the signal as before.

    The flush cannot run inside the handler: the interrupted code may hold an import lock or
    another lock the exporters need (seen: a worker ending normally, its flush importing, SIGTERM
    from ``with Pool(...)``, the flush thread's lazy import waiting on the interrupted import: a
    hang). So the handler unwinds the child as an exit (``BaseProcess._bootstrap`` takes a
    ``SystemExit`` quietly); its end runs the flush at a safe point and then re-raises the signal
    with the default handler, so the process still dies by SIGTERM. A flush already under way
    when it arrives is left to finish.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the program (or we, already) chose what SIGTERM does

    signal.signal(signal.SIGTERM, _unwind_then_flush)


def _unwind_then_flush(signum: int, frame: "Any") -> None:
    global _terminated_by
    import signal

    signal.signal(signum, signal.SIG_IGN)  # a pool may signal twice
    _terminated_by = signum
    util = sys.modules.get("multiprocessing.util")
    if _flushing or getattr(util, "_exiting", False):
        return  # already on the way out: the end-of-process flush re-raises the signal when done
    raise _Terminated(128 + signum)


def _patch_process_bootstrap(module: "ModuleType") -> None:
    process_class: Any = module.BaseProcess
    original = process_class._bootstrap
    if getattr(original, "_tracewrap_flushes", False):
        return

    def _bootstrap(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        try:
            if "tracewrap.telemetry.lifecycle" in sys.modules:  # a fork child of a traced process
                _flush_on_sigterm()  # (a spawn child gets it when its first traced call sets up export)
        except Exception as exc:
            _say(f"cannot flush on SIGTERM in this worker ({type(exc).__name__}: {exc})")
        try:
            return original(self, *args, **kwargs)
        finally:
            _flush_this_process()

    _bootstrap._tracewrap_flushes = True  # type: ignore[attr-defined]
    process_class._bootstrap = _bootstrap


def flush_at_uvicorn_shutdown() -> None:
    """Export at the end of uvicorn's graceful shutdown (for ``start()`` and ``configure()``).

    uvicorn (0.29+) re-raises the signal that stopped it once it has shut down gracefully, with the
    default handler back in place: the process dies by SIGTERM / SIGINT, past ``atexit`` and past
    ``BaseProcess._bootstrap``'s ``finally``, so whatever the batch processors still held was lost.
    """
    when_imported("uvicorn.server", _patch_uvicorn_shutdown)


def _patch_uvicorn_shutdown(module: "ModuleType") -> None:
    server_class: Any = getattr(module, "Server", None)
    original = getattr(server_class, "shutdown", None)
    if original is None or getattr(original, "_tracewrap_flushes", False):
        return

    async def shutdown(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        try:
            return await original(self, *args, **kwargs)
        finally:  # the app's lifespan shutdown has run: its last calls are recorded
            _flush_this_process()

    shutdown._tracewrap_flushes = True  # type: ignore[attr-defined]
    server_class.shutdown = shutdown


def _flush_this_process() -> None:
    """Export now, for a process about to end past ``atexit``; only one that traced has anything.

    Then, in a child told to end by SIGTERM, die by it as it would have without tracewrap.
    """
    global _flushing
    if "tracewrap.telemetry.lifecycle" in sys.modules and not _flushing:
        _flushing = True
        try:
            from tracewrap.auto.startup import flush_quietly

            flush_quietly()
        finally:
            _flushing = False
    import signal

    if _terminated_by:
        signal.signal(_terminated_by, signal.SIG_DFL)
        os.kill(os.getpid(), _terminated_by)
    elif signal.getsignal(signal.SIGTERM) is _unwind_then_flush:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # flushed: from here SIGTERM kills as it would


# ---------------------------------------------------------------------------------- post-import hooks


def when_imported(name: str, hook: "Hook") -> None:
    """Call ``hook(module)`` once ``name`` has been imported: now if it already is, else right after."""
    module = sys.modules.get(name)
    if module is not None:
        _call(hook, module)
        return
    _finder().hooks.setdefault(name, []).append(hook)


def _call(hook: "Hook", module: "ModuleType") -> None:
    try:
        hook(module)
    except Exception as exc:  # a failing hook must never fail the application's import
        _say(f"auto-instrumentation hook for {module.__name__} failed ({type(exc).__name__}: {exc})")


class _PostImportFinder:
    """A ``sys.meta_path`` entry that finds nothing itself: it asks the finders after it and wraps the
    loader of a watched module, so the hooks run once the module's code has executed."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Hook]] = {}
        self._searching: set[str] = set()

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if fullname not in self.hooks or fullname in self._searching:
            return None
        self._searching.add(fullname)  # a finder that calls importlib.util.find_spec must not loop here
        try:
            spec = None
            for finder in list(sys.meta_path):
                find_spec = getattr(finder, "find_spec", None)
                if finder is self or find_spec is None:
                    continue
                spec = find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        # the hooks stay registered until the module really executes: a find_spec / pkgutil probe
        # (libraries checking optional dependencies) gets a spec and never loads it
        spec.loader = _NotifyingLoader(spec.loader, self, fullname)
        return spec


class _NotifyingLoader:
    def __init__(self, loader: "Any", finder: _PostImportFinder, name: str) -> None:
        self.loader = loader
        self.finder = finder
        self.name = name

    def create_module(self, spec: "Any") -> "Any":
        return self.loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        # the module's own code and everything after it see the real loader, never this wrapper
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        loaded = sys.modules.get(module.__name__, module)
        for hook in self.finder.hooks.pop(self.name, ()):
            _call(hook, loaded)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self.loader, name)


_the_finder: _PostImportFinder | None = None


def _finder() -> _PostImportFinder:
    global _the_finder
    if _the_finder is None:
        _the_finder = _PostImportFinder()
        sys.meta_path.insert(0, _the_finder)
    return _the_finder


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"tracewrap: {message}\n")
    except Exception:
        pass  # no usable stderr (pythonw, closed fd): stay silent rather than break the program

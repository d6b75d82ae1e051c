"""Export at the ends of a process that skip ``atexit``; a neutral module start-up and exporting share.

* ``multiprocessing`` children leave through ``os._exit``, past ``atexit``: ``BaseProcess._bootstrap``
  flushes what the child recorded before it returns; billiard's (Celery's prefork pool) the same, and
  its pool workers, which leave by ``os._exit`` from inside their target, flush in ``Worker._do_exit``;
* a pool's ``terminate()`` (``with Pool(...)``) ends its workers with SIGTERM: a worker flushes
  (bounded by ``TRACEWRAP_EXIT_TIMEOUT``) in a thread, then dies by the signal as it would have;
* uvicorn (0.29+) re-raises the signal that stopped it after its graceful shutdown, past ``atexit``.

Who has something to flush registers it (:func:`register_flush`: ``configure()`` and the first
traced call do); who wants the ends watched calls :func:`watch` (start-up, ``wrap()``,
``configure()``, the first traced call). This module imports nothing of tracewrap's above it, so
neither side imports the other. Standard library only, like the start-up stage that imports it.

It also holds the ``atexit`` hook of the exit flush (:func:`reserve_exit_flush`), registered as soon
as tracewrap starts rather than when export is set up at the first call: ``atexit`` runs the last
registered first, and a handler the program registered between the two ran after the flush had shut
the exporters down, so a call it made was lost.
"""

import _thread
import os
import sys

from tracewrap.auto.import_hooks import when_imported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

_flushes: "list[Callable[[], None]]" = []


def register_flush(flush: "Callable[[], None]") -> None:
    """Have ``flush`` (bounded, never raising) run when this process ends past ``atexit``."""
    if flush not in _flushes:
        _flushes.append(flush)


def has_flushes() -> bool:
    return bool(_flushes)


_exit_flush: "Callable[[], None] | None" = None
_exit_hook_registered = False


def reserve_exit_flush() -> None:
    """Register the ``atexit`` hook the exit flush will run from, now; idempotent, and cheap (one
    ``atexit.register``, nothing imported): start-up, ``wrap()`` and ``instrument()`` call it before
    the program registers its own handlers, which then run first, their calls still exported.
    Code that must run before the exit flush (``telemetry.deferred``'s hook for what is still open)
    registers later: at the first traced call at the earliest."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        import atexit

        atexit.register(_run_exit_flush)


def set_exit_flush(flush: "Callable[[], None]") -> None:
    """What the exit hook runs (``configure()``'s bounded shutdown); reserves the hook if not yet."""
    global _exit_flush
    _exit_flush = flush
    reserve_exit_flush()


def _run_exit_flush() -> None:
    flush = _exit_flush
    if flush is not None:
        flush()


def watch() -> None:
    """Flush what a process recorded at the ends that skip ``atexit``, and reserve the exit flush's
    place in ``atexit``; idempotent."""
    reserve_exit_flush()
    when_imported("multiprocessing.process", _patch_process_bootstrap)
    when_imported("billiard.process", _patch_process_bootstrap)
    when_imported("billiard.pool", _patch_billiard_worker_exit)
    when_imported("uvicorn.server", _patch_uvicorn_shutdown)
    # set up inside a process multiprocessing or billiard started (spawn, or a first traced call in a
    # worker), whose _bootstrap is already running: its own end runs multiprocessing's exit finalizers
    # (billiard's util runs the same ones)
    if _started_by_multiprocessing():
        _flush_on_sigterm()
        _flush_at_child_end()


def _started_by_multiprocessing() -> bool:
    process_module = sys.modules.get("multiprocessing.process")
    if process_module is not None and process_module.parent_process() is not None:
        return True
    # billiard sets no parent process; a process object it started knows its parent's pid
    billiard_process = sys.modules.get("billiard.process")
    current = getattr(billiard_process, "current_process", None)
    return current is not None and getattr(current(), "_parent_pid", None) is not None


_child_end_pid = 0


def _flush_at_child_end() -> None:
    global _child_end_pid
    if _child_end_pid == os.getpid():
        return
    _child_end_pid = os.getpid()
    from multiprocessing import util

    # run by util._exit_function: in BaseProcess._bootstrap's finally, before os._exit (Python 3.13+:
    # at atexit, which multiprocessing children run there)
    util.Finalize(None, _flush_this_process, exitpriority=100)


_terminated_by = 0  # the signal this process was told to end by, once it is winding down
_flushing = False  # _run_flushes is running
_leaving = False  # the process's own end-of-process flush has begun (_flush_this_process, flush_at_exit)
# held while a SIGTERM's flush runs (_thread's: the code a signal interrupts may hold threading's own)
_sigterm_flush = _thread.allocate_lock()


def _flush_on_sigterm() -> None:
    """In a multiprocessing child: on SIGTERM flush (bounded), then die by the signal as before.

    The handler does no work itself: it puts the default action back and starts a thread that
    flushes and then sends the process the same signal. Two earlier designs hung: flushing inside
    the handler (the interrupted code may hold a lock the exporters need, e.g. an import lock),
    and raising an exit from the handler to flush at a safe point: an exception raised wherever
    the main thread happens to be can be swallowed there (any ``except BaseException``), after
    which the worker, its SIGTERM handled, idles forever in its pool queue's lock while the pool's
    ``terminate()`` joins it (caught by tests/exporting/test_processes.py's stack dump). Now the
    process ends within ``TRACEWRAP_EXIT_TIMEOUT`` + 1 s whatever its main thread is doing, or,
    when it was already leaving, once its own exit flush is done (within twice that at most).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _flush_then_die)
    elif current is not _flush_then_die:
        return  # the program chose what SIGTERM does
    _forward_from_any_thread()


# The read end of this process's signal wakeup pipe, while a thread forwards SIGTERM from it.
_wakeup_read: "int | None" = None
_wakeup_write: "int | None" = None


def _forward_from_any_thread() -> None:
    """Make a SIGTERM that another thread caught reach the main thread's handler.

    Python runs a signal's handler only in the main thread, between bytecodes. The kernel may hand a
    process's SIGTERM to any thread that does not block it (an exporter's, the program's); the main
    thread then learns of it only when it next runs Python code, and a pool worker's main thread can
    wait for good in its task queue's lock (``terminate()`` holds that lock in the parent): the
    worker outlives the signal and ``terminate()``'s join never returns. Without tracewrap's handler
    the default action would have ended it. Python's C-level handler also writes the signal's number
    to the wakeup fd, from whichever thread it runs in: a thread reading that pipe sends SIGTERM to
    the main thread itself (``pthread_kill``), which interrupts its wait, when tracewrap's handler
    has not run a moment later (:func:`_forward_wanted`). A signal the main thread got is not sent
    again, nor one for a handler the program installed over tracewrap's. Left alone when the program
    (asyncio's ``add_signal_handler``) already uses the wakeup fd.
    """
    global _wakeup_read, _wakeup_write
    import signal
    import threading

    if _wakeup_read is not None or not hasattr(signal, "pthread_kill"):  # (Windows: no signals to forward)
        return
    try:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
    except OSError:
        return
    try:
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):
        previous = None
    if previous != -1:  # someone else's, or none possible: theirs stays
        if previous is not None:
            signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        return
    _wakeup_read, _wakeup_write = read_fd, write_fd
    _thread.start_new_thread(_forward_sigterm, (read_fd, threading.main_thread().ident))


# How long a SIGTERM may wait for the main thread to handle it before it is forwarded there.
_FORWARD_AFTER = 0.1
# Held while the forwarding thread decides and sends, and by tracewrap's handler while it puts the
# default action back: a forwarded signal reaches the process while the handler is still installed.
_forwarding = _thread.allocate_lock()


def _forward_sigterm(read_fd: int, main_thread: int) -> None:
    import signal
    import time

    while True:
        try:
            caught = os.read(read_fd, 64)
        except OSError:  # closed (a fork child closes its copy)
            return
        if not caught:
            return
        if signal.SIGTERM not in caught:
            continue
        # The C-level handler writes the pipe whichever thread the signal reached, the main thread
        # too (Linux hands a kill() to the main thread when it can): forwarded again, that one would
        # be delivered twice. The main thread runs the handler at once when it has the signal; only
        # one still unhandled a moment later is sent on (another thread caught it).
        deadline = time.monotonic() + _FORWARD_AFTER
        while _forward_wanted() and time.monotonic() < deadline:
            time.sleep(0.005)
        with _forwarding:
            if not _forward_wanted():
                continue
            try:
                signal.pthread_kill(main_thread, signal.SIGTERM)
            except (OSError, ValueError):
                return


def _forward_wanted() -> bool:
    """A SIGTERM is for tracewrap's handler, which has not run yet.

    Not once the handler ran: it put the default action back, and a forwarded signal would end the
    process before its flush. Not once the program installed its own handler either: SIGTERM is the
    program's then, handled as it would be without tracewrap (a second delivery of the one signal
    would run that handler twice: a worker's "second SIGTERM forces the exit" cut its graceful
    shutdown short, a ``sys.exit`` handler's second exit broke out of its cleanup)."""
    import signal

    return not _terminated_by and signal.getsignal(signal.SIGTERM) is _flush_then_die


def _stop_forwarding_in_child() -> None:
    """A fork child shares the parent's pipe: its caught signals must not reach the parent's thread.
    Its own is started again when it installs the handler (its multiprocessing bootstrap does)."""
    global _wakeup_read, _wakeup_write
    if _wakeup_read is None:
        return
    import signal

    try:
        previous = signal.set_wakeup_fd(-1)
        if previous != _wakeup_write:
            signal.set_wakeup_fd(previous)  # not ours any more: leave it
    except (ValueError, OSError):
        # still the wakeup fd: left open (closed, its number could be reused by a file or socket
        # the signal bytes would then land in)
        _wakeup_read = _wakeup_write = None
        return
    for fd in (_wakeup_read, _wakeup_write):
        try:
            os.close(fd)  # type: ignore[arg-type]
        except OSError:
            pass
    _wakeup_read = _wakeup_write = None


def _start_over_in_child() -> None:
    """A fork child is a new process, not told to end (even if forked while its parent was)."""
    global _terminated_by, _flushing, _leaving, _sigterm_flush, _forwarding
    _terminated_by, _flushing, _leaving = 0, False, False
    _sigterm_flush = _thread.allocate_lock()
    _forwarding = _thread.allocate_lock()
    _stop_forwarding_in_child()
    if _child_end_pid:
        # forked inside a worker that flushes through multiprocessing's exit finalizers: this child
        # unwinds into the same _bootstrap, whose finalizers skip those of another pid
        try:
            _flush_at_child_end()
        except Exception as exc:
            _say(f"cannot flush at this child's end ({type(exc).__name__}: {exc})")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_start_over_in_child)


def _flush_then_die(signum: int, frame: "Any") -> None:
    global _terminated_by
    import signal

    if _terminated_by:  # one more delivery of the same signal (the forwarding thread's)
        return
    _terminated_by = signum
    # a forward already decided on reaches this process first (this handler, set above, ignores
    # it): it would end the process before its flush once the default action is back. The
    # forwarding thread holds the lock only to send; a delivery meanwhile runs this handler nested,
    # which returns at once.
    with _forwarding:
        signal.signal(signum, signal.SIG_DFL)  # a second signal kills at once, as without tracewrap
    # no blocking here: the main thread, which runs this handler, may hold the lock for a moment
    # (_wait_for_the_sigterm_flush); it then flushes itself, and this flush need not be waited for
    holds = _sigterm_flush.acquire(False)
    try:
        # _thread, not threading: the interrupted code may hold threading's own bookkeeping lock
        _thread.start_new_thread(_flush_and_die, (signum, holds))
    except RuntimeError:  # no thread can start this late in an exit (3.12): the exit path ends it
        if holds:
            _sigterm_flush.release()


def _flush_and_die(signum: int, holds_lock: bool) -> None:
    import threading
    import time

    from tracewrap.environment import exit_timeout

    bound = exit_timeout() + 1.0
    try:
        flusher = threading.Thread(target=_run_flushes, name="tracewrap-flush-on-sigterm", daemon=True)
        try:
            flusher.start()
        except RuntimeError:  # no thread can start once exit has begun (Python 3.12): here, then
            _run_flushes()
        else:
            flusher.join(bound)  # each flush is bounded; this bounds them all, locks or not
    finally:
        if holds_lock:
            _sigterm_flush.release()
    if _on_the_way_out():
        # its exit may be flushing (a shutdown, which made the flush above a no-op): it dies by
        # the signal when done; this ends it if it is not done by then (an exit that waits for good)
        time.sleep(bound)
    os.kill(os.getpid(), signum)  # the default action is back: the process dies by the signal


def _run_flushes() -> None:
    global _flushing
    _flushing = True
    try:
        for flush in list(_flushes):
            try:
                flush()
            except Exception as exc:  # registered flushes never raise; this is the last guard
                _say(f"could not flush telemetry at process end ({type(exc).__name__}: {exc})")
    finally:
        _flushing = False


def _patch_process_bootstrap(module: "ModuleType") -> None:
    process_class: Any = module.BaseProcess
    original = process_class._bootstrap
    if getattr(original, "_tracewrap_flushes", False):
        return

    def _bootstrap(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        try:
            # here, on the child's main thread, whether or not anything was traced yet: a signal
            # handler can only be installed from the main thread, and a worker whose first traced
            # call runs in one of its threads would otherwise lose everything to a pool's terminate()
            _flush_on_sigterm()
        except Exception as exc:
            _say(f"cannot flush on SIGTERM in this worker ({type(exc).__name__}: {exc})")
        try:
            return original(self, *args, **kwargs)
        finally:
            _flush_this_process()

    _bootstrap._tracewrap_flushes = True  # type: ignore[attr-defined]
    process_class._bootstrap = _bootstrap


def _patch_billiard_worker_exit(module: "ModuleType") -> None:
    """billiard's pool workers (Celery's prefork pool) end inside their process target:
    ``Worker._do_exit`` reports the worker's death and calls ``os._exit``, whether its loop ended
    (``maxtasksperchild``, the pool's close) or a signal's exit unwound it (billiard's own SIGTERM
    handler raises ``SystemExit``): the bootstrap's flush never runs. Flush before it, then end as
    billiard does."""
    worker_class: Any = getattr(module, "Worker", None)
    original = getattr(worker_class, "_do_exit", None)
    if original is None or getattr(original, "_tracewrap_flushes", False):
        return

    def _do_exit(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        try:
            _flush_holding_sigterm()
        except BaseException:
            # The program's SIGTERM handler ran before the flush held the signal: a pool's
            # terminate() can land there as a worker leaves on its own (``with Pool``'s has its task
            # handler send each worker a sentinel, then SIGTERMs them). billiard's handler raises
            # SystemExit, which skipped the flush: the worker ended with its export unsent. It has
            # put the default action back (a further SIGTERM ends the worker, as billiard means it
            # to); flush now.
            if not _leaving:  # (not begun: past its start, the signal is held or the flush done)
                _flush_this_process()
            raise
        finally:  # whatever happened, the worker ends as billiard ends it
            try:
                _term_signal_waits_for_the_main_thread()
            except Exception as exc:
                _say(
                    f"cannot keep this worker's end signal for its main thread ({type(exc).__name__}: {exc})"
                )
            return_value = original(self, *args, **kwargs)
        return return_value

    _do_exit._tracewrap_flushes = True  # type: ignore[attr-defined]
    worker_class._do_exit = _do_exit


def _term_signal_waits_for_the_main_thread() -> None:
    """Let billiard's guard of its death notice hold in a process with tracewrap's threads.

    ``Worker._do_exit`` writes its death notice to the pool's result queue with the pool's end
    signal (``TERM_SIGNAL``) blocked, because the pool answers that notice with that very signal:
    dying half-way through the write would leave the queue's lock held, and the pool and every
    other worker would wait for it for good. A signal mask is a thread's own: the threads of
    tracewrap's export (the SDK's batch processor and metric reader, the flush runners) do not block
    the signal, the kernel hands it to one of them, and its default action ends the process there
    and then (a Celery worker told to end by SIGTERM hung at its warm shutdown, every pool process
    with it). Where the default action is set (billiard's own handler puts it back once it ran), a
    handler takes its place that sends each delivery on to the main thread, where it waits while
    billiard blocks it (the handler stays: the pool's answer to the notice may come while the lock
    is still held); once unblocked, the handler puts the default action back and the signal ends
    the process, as billiard meant it to."""
    import signal
    import threading

    common = sys.modules.get("billiard.common")
    signum = getattr(common, "TERM_SIGNAL", signal.SIGTERM)
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return  # (Windows: billiard blocks nothing there)
    if signal.getsignal(signum) is signal.SIG_DFL:
        signal.signal(signum, _on_to_the_main_thread)


def _on_to_the_main_thread(signum: int, frame: "Any") -> None:
    import signal
    import threading

    # Python runs a handler in the main thread, whichever thread the kernel gave the signal to
    if signum not in signal.pthread_sigmask(signal.SIG_BLOCK, ()):
        signal.signal(signum, signal.SIG_DFL)  # the main thread takes it now: the process ends
    signal.pthread_kill(threading.main_thread().ident, signum)  # type: ignore[arg-type]


def _flush_holding_sigterm() -> None:
    """:func:`_flush_this_process`, with a SIGTERM that lands meanwhile handed to the program's
    handler once the flush is done (bounded), on this, the main, thread.

    A billiard worker leaving on its own can be told to end as it goes (a pool's ``terminate()``):
    billiard's handler raises ``SystemExit``, which would cut the flush off wherever the main thread
    waits in it, and the process ends at once, its export under way with it. As the process ends
    right after either way, the handler runs after the flush instead."""
    import signal

    handler = signal.getsignal(signal.SIGTERM)
    if not callable(handler) or handler is _flush_then_die:  # the default action, or tracewrap's
        _flush_this_process()
        return
    held: list[Any] = []

    def hold(signum: int, frame: "Any") -> None:
        held.append(frame)

    signal.signal(signal.SIGTERM, hold)
    try:
        _flush_this_process()
    finally:
        if signal.getsignal(signal.SIGTERM) is hold:
            signal.signal(signal.SIGTERM, handler)
        if held:
            handler(signal.SIGTERM, held[0])


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
    flush_at_exit(_run_flushes_unless_running)
    import signal

    if signal.getsignal(signal.SIGTERM) is _flush_then_die:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # flushed: from here SIGTERM kills as it would


def _run_flushes_unless_running() -> None:
    if _flushes and not _flushing:  # (not while a SIGTERM's flusher, abandoned at its bound, runs them)
        _run_flushes()


def flush_at_exit(flush: "Callable[[], None]") -> None:
    """Run this process's ``atexit`` flush (``flush`` bounded, never raising).

    A multiprocessing child runs ``atexit`` too (a spawn child leaves by ``sys.exit``; on Python
    3.13+ a fork child as well), and a pool's ``terminate()`` can SIGTERM a worker that is already
    in it, leaving on its own: the signal then waits for this flush and ends the process after it.
    """
    global _leaving
    _leaving = True  # set first: a signal handled from here on leaves this flush time to finish
    _wait_for_the_sigterm_flush()
    flush()
    _die_if_terminated()


def _on_the_way_out() -> bool:
    """The process is already ending, and its exit flushes run or are about to.

    A SIGTERM must not end it as soon as its own flush is done then: the exit flush may have shut
    the exporters down, which made that flush a no-op, and ending the process at once would cut off
    the export the shutdown has under way (Python 3.13 pool workers lost spans so: see
    ``flush_at_exit``). ``threading._shutdown()`` marks the main thread ended before ``atexit``
    (and before a multiprocessing child's ``_bootstrap`` returns)."""
    import threading

    util = sys.modules.get("multiprocessing.util")
    return _leaving or getattr(util, "_exiting", False) or not threading.main_thread().is_alive()


def _wait_for_the_sigterm_flush() -> None:
    """Let a SIGTERM's flush finish before the exit path flushes or shuts the exporters down (a
    shutdown would turn that flush into a no-op half-way). Bounded like that flush."""
    from tracewrap.environment import exit_timeout

    if _sigterm_flush.acquire(timeout=exit_timeout() + 2.0):
        _sigterm_flush.release()


def _die_if_terminated() -> None:
    """Told to end by a signal while on the way out: die by it now, as without tracewrap."""
    if _terminated_by:
        import signal

        signal.signal(_terminated_by, signal.SIG_DFL)
        os.kill(os.getpid(), _terminated_by)


def _say(message: str) -> None:
    from tracewrap.logs import say

    say(message)

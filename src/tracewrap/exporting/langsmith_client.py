"""The LangSmith client tracewrap sends runs through, made so it cannot hold the process open.

``langsmith.Client`` batches in background threads that are not daemons unless
``LANGSMITH_USE_DAEMON`` is set; Python joins such threads before any ``atexit`` handler runs, so a
refused endpoint delays exit by ~15 s and a silent one by minutes. The client tracewrap creates is
built with daemon threads, and its final flush is bounded by :func:`close_bounded`.

The application's own ``@traceable`` runs go through langsmith's default client, which would have
the same problem; :func:`share_as_default_client` makes tracewrap's client that default while the
application has none (only in a process where tracewrap set LangSmith export up).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from tracewrap.exporting.bounded import run_bounded
from tracewrap.fork_safe import module_lock

_DAEMON_ENV = "LANGSMITH_USE_DAEMON"
_env_lock = module_lock(globals(), "_env_lock")


def _clear_env_cache() -> None:
    from langsmith import utils as ls_utils

    # langsmith caches env reads; ours must be seen, then forgotten
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]


def new_client(hide_inputs: bool, hide_outputs: bool) -> Any:
    """A ``langsmith.Client`` from the ``LANGSMITH_*`` environment, with daemon sender threads."""
    import langsmith

    with _env_lock:
        previous = os.environ.get(_DAEMON_ENV)
        os.environ[_DAEMON_ENV] = "true"  # the client reads it once, when its threads start
        _clear_env_cache()
        try:
            return langsmith.Client(hide_inputs=hide_inputs or None, hide_outputs=hide_outputs or None)
        finally:
            if previous is None:
                os.environ.pop(_DAEMON_ENV, None)
            else:
                os.environ[_DAEMON_ENV] = previous
            _clear_env_cache()


def flush_bounded(client: Any, timeout: float) -> bool:
    """Send what is queued, waiting at most ``timeout`` seconds (its own ``flush`` may block longer)."""
    return run_bounded("langsmith-flush", lambda: client.flush(timeout=timeout), timeout)


def close_bounded(client: Any, timeout: float) -> bool:
    """Flush within ``timeout``, stop the client's threads, and wait for them in what is left of it.

    The wait matters at exit: once the main thread is gone, langsmith's compression thread takes the
    last frame and, the thread pool refusing work by then, sends it itself, outside what
    ``Client.flush`` waits for. ``flush`` then finds nothing left and returns at once, and the process
    ended while that frame was still leaving.
    """
    deadline = time.monotonic() + timeout
    done = flush_bounded(client, timeout)
    run_bounded("langsmith-cleanup", lambda: client.cleanup(timeout=0), 0.2)
    for thread in _compression_threads_of(client):
        thread.join(max(0.0, deadline - time.monotonic()))
        done = done and not thread.is_alive()
    return done


# what the thread that compresses and sends the client's frames runs; its other threads' sends are
# queue items, which ``Client.flush`` waits for
_COMPRESSION_THREAD = "tracing_control_thread_func_compress_parallel"


def _compression_threads_of(client: Any) -> list[threading.Thread]:
    """langsmith's compression thread for ``client`` (started with a weak reference to it)."""
    found = []
    for thread in threading.enumerate():
        # a Thread keeps its target and arguments while the target runs (CPython's Thread.run)
        target, args = getattr(thread, "_target", None), getattr(thread, "_args", None)
        if (
            getattr(target, "__name__", None) == _COMPRESSION_THREAD
            and isinstance(args, tuple)
            and args
            and isinstance(args[0], weakref.ref)
            and args[0]() is client
        ):
            found.append(thread)
    return found


def share_as_default_client(client: Any) -> bool:
    """Make ``client`` langsmith's default (the one ``@traceable`` uses) if none exists yet.

    True when it was made the default. An application that already has a default client (it
    traced before tracewrap was set up, or called ``langsmith.configure(client=...)``) keeps it.
    """
    try:
        from langsmith import run_trees

        with run_trees._LOCK:  # the lock get_cached_client creates the default under
            if run_trees._CLIENT is not None:
                return False
            run_trees._CLIENT = client
            return True
    except Exception:  # private names: if they move, @traceable keeps langsmith's own client
        return False


def release_default_client(client: Any) -> None:
    """Undo :func:`share_as_default_client` if ``client`` is still the default."""
    try:
        from langsmith import run_trees

        with run_trees._LOCK:
            if run_trees._CLIENT is client:
                run_trees._CLIENT = None
    except Exception:
        pass


def repair_after_fork() -> None:
    """Give langsmith a working send pool in a forked child.

    Its compressed sends go through a module-level ThreadPoolExecutor whose workers do not survive
    ``fork()`` while the executor still counts them as idle: jobs would wait forever. Private API,
    so guarded: if it moves, the child merely loses compressed sends, as it would anyway.
    """
    try:
        from concurrent.futures import ThreadPoolExecutor

        from langsmith._internal import _background_thread as background

        old = background.LANGSMITH_CLIENT_THREAD_POOL
        background.LANGSMITH_CLIENT_THREAD_POOL = ThreadPoolExecutor(max_workers=old._max_workers)
    except Exception:
        pass

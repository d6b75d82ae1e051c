"""Run a flush or shutdown with a hard deadline.

Exporter calls can block far longer than asked (the SDK's ``force_flush`` ignores its timeout;
OTLP retries until its own timeout; LangSmith retries against a silent endpoint for minutes).
Running them in a daemon thread and waiting a bounded time is the only way to promise a caller,
and the process exit, a deadline: a daemon thread still stuck at exit is simply abandoned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tracewrap.logs import logger


def run_bounded(name: str, work: Callable[[], Any], timeout: float) -> bool:
    """True when ``work`` finished (without raising, and without returning False) within ``timeout``."""
    outcome: list[bool] = []

    def target() -> None:
        try:
            outcome.append(work() is not False)
        except Exception as exc:
            logger.debug("%s failed: %r", name, exc)
            outcome.append(False)

    thread = threading.Thread(target=target, name=f"tracewrap-{name}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no thread can start (interpreter shutdown on Python 3.12): here, then
        target()  # (on an exit runner, itself a daemon thread the exit abandons: still bounded)
        return bool(outcome and outcome[0])
    thread.join(max(0.0, timeout))
    if thread.is_alive():
        logger.info("%s did not finish within %.1f s; not waiting longer", name, timeout)
        return False
    return bool(outcome and outcome[0])

"""Constants and helpers shared by the export tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import tracewrap

API_KEY = "sk-proj-SECRET-openai-key-4242"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


def call_and_flush_in_fork(call: Callable[[], object]) -> int:
    """Run ``call`` in a forked child, then ``tracewrap.flush``; the child's exit code (0: flushed).

    The child reports through its exit code only and never returns into pytest.
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            call()
            code = 0 if tracewrap.flush(5.0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def sigterm_the_leaving_worker(
    command: list[str], env: dict[str, str], receiver: Any
) -> tuple[Any, str, str, float]:
    """Run ``command`` (an app that prints ``WORKER <pid>`` for a worker leaving on its own), send
    that worker SIGTERM once its exit flush's export reached ``receiver``; (process, stdout, stderr,
    the monotonic time of the signal)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        worker = int(process.stdout.readline().split("WORKER ", 1)[1])
        assert receiver.store.wait_for(lambda: len(receiver.store.raw) >= 1, timeout=30)
        signalled = time.monotonic()
        os.kill(worker, signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process, stdout, stderr, signalled

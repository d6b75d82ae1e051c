"""Constants and helpers shared by the export tests."""

from __future__ import annotations

import os
from collections.abc import Callable

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

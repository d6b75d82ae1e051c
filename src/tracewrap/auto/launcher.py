"""``tracewrap run -- COMMAND``: run a program with auto-instrumentation on, without the ``.pth``.

For installs where the wheel's ``.pth`` is never read (tracewrap vendored onto ``PYTHONPATH``, zip
apps, some platform layers) or unwelcome: the launcher sets ``TRACEWRAP_ENABLED=true`` and puts a
folder holding a ``sitecustomize`` first on ``PYTHONPATH``. Both are inherited, so the program's own
subprocesses (multiprocessing spawn, gunicorn/uvicorn workers) are instrumented too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SITE_DIR = Path(__file__).resolve().with_name("_site")
ENABLED_ENV = "TRACEWRAP_ENABLED"


def child_environment(base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    if not env.get(ENABLED_ENV, "").strip():
        env[ENABLED_ENV] = "true"
    # an explicit TRACEWRAP_ENABLED=false is left alone: the kill switch beats the launcher
    site_dir = str(SITE_DIR)
    current = env.get("PYTHONPATH", "")
    # empty entries are kept: Python reads each as the current directory (PYTHONPATH=":/opt/lib",
    # what Docker's ENV PYTHONPATH="${PYTHONPATH}:/opt/lib" gives). An empty PYTHONPATH adds nothing.
    rest = [p for p in current.split(os.pathsep) if p != site_dir] if current else []
    env["PYTHONPATH"] = os.pathsep.join([site_dir, *rest])
    return env


def run(command: Sequence[str]) -> int:
    """Replace this process with ``command`` (POSIX) so signals and the exit code are the program's."""
    if not command:
        raise ValueError("tracewrap run: no command given; usage: tracewrap run -- python app.py")
    env = child_environment(os.environ)
    executable = shutil.which(command[0], path=env.get("PATH"))
    if executable is None:
        sys.stderr.write(f"tracewrap run: command not found: {command[0]}\n")
        return 127
    if os.name != "posix":  # no real exec on Windows: wait for the child and pass its exit code on
        return subprocess.call([executable, *command[1:]], env=env)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(executable, list(command), env)
    raise AssertionError("unreachable")  # pragma: no cover

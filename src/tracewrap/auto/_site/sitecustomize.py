"""``tracewrap run``'s start-up hook, for interpreters that never read the wheel's ``.pth``.

``tracewrap run`` puts this folder first on ``PYTHONPATH``; Python imports ``sitecustomize`` at
start-up, which is this file. It does what the ``.pth`` line does, then runs the ``sitecustomize``
it shadows (a distribution's or a virtualenv's), so nothing the environment relied on is lost.
"""

from __future__ import annotations

import os
import sys


def _start() -> None:
    if not os.environ.get("TRACEWRAP_ENABLED"):
        return  # which values mean "on" is tracewrap.environment's rule, applied by start()
    try:
        from tracewrap.auto import boot  # the .pth may have started it already: then start() is a no-op
    except ImportError as exc:  # the command runs an interpreter where tracewrap is not installed
        sys.stderr.write(f"tracewrap: cannot auto-instrument, tracewrap is not importable here ({exc})\n")
        return
    boot.start()


def _run_shadowed_sitecustomize() -> None:
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # site.py would have reported it and gone on; so do we
        sys.stderr.write(f"tracewrap: error in {spec.origin} ({type(exc).__name__}: {exc})\n")


_start()
_run_shadowed_sitecustomize()

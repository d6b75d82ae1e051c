"""How tracewrap speaks: the ``tracewrap`` logger, one-time warnings, and a last-resort stderr line.

Messages go to the ``tracewrap`` logger and do not repeat its name (an application's ``%(name)s:``
format shows it once); with no logging set up at all Python prints the bare message
(``logging.lastResort``), so only then is ``tracewrap: `` put in front. :func:`say` is for the
start-up stage and process ends, where logging may not be usable: one line straight on stderr.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("tracewrap")
PREFIX = "tracewrap: "
_warned: set[str] = set()


class _NameWhenUnconfigured(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.msg.startswith(PREFIX) and not logger.hasHandlers():
            record.msg = PREFIX + record.msg
        return True


if not any(isinstance(f, _NameWhenUnconfigured) for f in logger.filters):
    logger.addFilter(_NameWhenUnconfigured())


def warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning the first time ``key`` is seen in this process (a bad setting, a lost feature)."""
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)


def say(message: str) -> None:
    """One line on stderr; never raises (no usable stderr: pythonw, a closed fd: stay silent)."""
    try:
        sys.stderr.write(f"{PREFIX}{message}\n")
        sys.stderr.flush()
    except Exception:
        pass

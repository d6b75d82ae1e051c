"""Fixtures for the dashboard tests (real Prometheus; never skipped when it is missing)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers are plain modules beside this file; make them importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from prometheus_server import (
    PROMETHEUS_BIN,
    PROMTOOL_BIN,
    PrometheusMissing,
    require_binary,
)


def _require(path: str) -> str:
    try:
        return require_binary(path)
    except PrometheusMissing as exc:
        pytest.fail(str(exc), pytrace=False)  # CI installs prometheus: missing is a failure, not a skip


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _require(PROMETHEUS_BIN)


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    return _require(PROMTOOL_BIN)


@pytest.fixture(scope="module")
def live(prometheus_bin: str) -> Iterator[object]:
    """One Prometheus + traced workload (fake OpenAI server) run shared by every live test in a module."""
    from live import live_run

    with live_run() as run:
        yield run

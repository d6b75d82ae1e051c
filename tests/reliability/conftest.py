"""Fixtures for the reliability tests (the session fake server comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracewrap import logs

from .helpers import Pipeline


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    pipeline = Pipeline()
    yield pipeline
    pipeline.shutdown()


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    """Forget which one-time warnings were given, so a test can see its own."""
    saved = set(logs._warned)
    logs._warned.clear()
    yield
    logs._warned.clear()
    logs._warned.update(saved)

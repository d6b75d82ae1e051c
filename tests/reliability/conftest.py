"""Fixtures for the reliability tests (the session fake server comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import Pipeline


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    pipeline = Pipeline()
    yield pipeline
    pipeline.shutdown()

"""Fixtures of the auto-instrumentation tests: the session venv (see ``harness``), a clean fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auto.harness import AutoVenv, create_auto_venv
from tracewrap.testing import FakeOpenAIServer


@pytest.fixture(scope="session")
def auto_venv(tmp_path_factory: pytest.TempPathFactory, fake_server: FakeOpenAIServer) -> Iterator[AutoVenv]:
    yield create_auto_venv(tmp_path_factory.mktemp("auto"), fake_server.base_url)


@pytest.fixture
def venv(auto_venv: AutoVenv, server: FakeOpenAIServer) -> AutoVenv:
    # `server` clears the shared fake server's queue and records for this test
    return auto_venv

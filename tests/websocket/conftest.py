"""Responses WebSocket mode exists from openai 3.x (``client.responses.connect()``): these tests
belong to the openai 3 lane only. On 1.x / 2.x they are not collected; on 3.x they are, and a
missing piece (``websockets``, ``connect()``) is an import error, never a skip."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

collect_ignore_glob = [] if int(openai.__version__.split(".")[0]) >= 3 else ["test_*.py"]


@pytest.fixture(scope="session")
def ws_server_session() -> Iterator[object]:
    from tracewrap.testing.websocket import FakeResponsesWebSocketServer

    with FakeResponsesWebSocketServer() as server:
        yield server


@pytest.fixture
def ws_server(ws_server_session: object) -> Iterator[object]:
    ws_server_session.clear()  # type: ignore[attr-defined]
    yield ws_server_session
    ws_server_session.clear()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def rt_server_session() -> Iterator[object]:
    from tracewrap.testing.websocket import FakeRealtimeWebSocketServer

    with FakeRealtimeWebSocketServer() as server:
        yield server


@pytest.fixture
def rt_server(rt_server_session: object) -> Iterator[object]:
    rt_server_session.clear()  # type: ignore[attr-defined]
    yield rt_server_session
    rt_server_session.clear()  # type: ignore[attr-defined]

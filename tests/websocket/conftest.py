"""Responses WebSocket mode and realtime connections (``client.responses.connect()``,
``client.realtime.connect()``) exist in late openai 2.x and in 3.x; lanes (``stream_id`` on a
connection's ``response.create``) only in 3.x. Tests are collected where the SDK has what they
use and not collected where it does not (openai 1.x: none of them); a missing piece the SDK should
have (``websockets``) is an import error, never a skip."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest


def _has_connections() -> bool:
    from openai.resources.responses import Responses

    return hasattr(Responses, "connect")


def _has_lanes() -> bool:
    try:
        from openai.resources.responses.responses import ResponsesResponseResource
    except ImportError:
        return False
    return "stream_id" in inspect.signature(ResponsesResponseResource.create).parameters


collect_ignore_glob = [] if _has_connections() else ["test_*.py"]
if not _has_lanes():
    collect_ignore_glob.append("test_responses_websocket_lanes.py")


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

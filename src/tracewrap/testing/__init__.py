"""Test helpers: a stdlib-only fake OpenAI server, pure wire-format body builders, and an in-process
mock client (``MockOpenAI``: the SDK's own client on a ``MockTransport``, no socket; it imports the
``openai`` SDK only when a client is built)."""

from tracewrap.testing import bodies
from tracewrap.testing.bodies import *  # noqa: F403 (the builders are this package's API too)
from tracewrap.testing.mock_client import MockOpenAI, http_library
from tracewrap.testing.server import FakeOpenAIServer, RecordedRequest

__all__ = [*bodies.__all__, "FakeOpenAIServer", "MockOpenAI", "RecordedRequest", "http_library"]

"""Test helpers: a stdlib-only fake OpenAI server and pure wire-format body builders."""

from tracewrap.testing import bodies
from tracewrap.testing.bodies import *  # noqa: F403 (the builders are this package's API too)
from tracewrap.testing.server import FakeOpenAIServer, RecordedRequest

__all__ = [*bodies.__all__, "FakeOpenAIServer", "RecordedRequest"]

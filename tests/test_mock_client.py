"""tracewrap.testing.MockOpenAI answers as FakeOpenAIServer does, without a socket.

Each case makes the same SDK call against the fake server (over HTTP on 127.0.0.1) and against the
in-process mock, and compares what the SDK parsed: equal but for the per-request ids and timestamps
the server makes up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tracewrap.testing import FakeOpenAIServer, MockOpenAI, Scenario, http_library

MSGS = [{"role": "user", "content": "hi"}]
VOLATILE = {"id", "created", "created_at", "item_id", "call_id"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def _plain(value: Any) -> Any:
    """An SDK object as plain data, without the values the server draws per request."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


CALLS: dict[str, Callable[[Any], Any]] = {
    "chat": lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MSGS, n=2, temperature=0.1),
    "chat_stream": lambda c: list(
        c.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
    ),
    "chat_tools": lambda c: c.chat.completions.create(model="m", messages=MSGS, tools=TOOLS),
    "responses": lambda c: c.responses.create(model="gpt-4o-mini", input="hi", instructions="be brief"),
    "responses_stream": lambda c: list(c.responses.create(model="gpt-4o-mini", input="hi", stream=True)),
    "embeddings": lambda c: c.embeddings.create(model="text-embedding-3-small", input=["a", "b"]),
    "completions": lambda c: c.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi"),
    "completions_stream": lambda c: list(
        c.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", stream=True)
    ),
}
SCENARIOS = {
    "ok": Scenario(chunks=4, cached_tokens=3, reasoning_tokens=2),
    "length": Scenario(outcome="length", text="one two three"),
    "tool_calls": Scenario(outcome="tool_calls"),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("call", CALLS)
def test_mock_parses_like_the_fake_server(fake: FakeOpenAIServer, call: str, scenario: str) -> None:
    fake.clear()
    fake.default = SCENARIOS[scenario]
    over_http = CALLS[call](openai.OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0))
    mock = MockOpenAI(SCENARIOS[scenario])
    in_process = CALLS[call](mock.client())
    assert _plain(in_process) == _plain(over_http)
    assert mock.count == 1 and len(fake.requests) == 1


def test_async_stream_and_http_error() -> None:
    mock = MockOpenAI(Scenario(text="a b c d", chunks=4))
    mock.enqueue(Scenario(outcome="http_error", status_code=429, error_message="slow down"))
    client = mock.async_client()

    async def run() -> tuple[str, list[str]]:
        try:
            await client.chat.completions.create(model="m", messages=MSGS)
        except openai.RateLimitError as exc:
            error = str(exc)
        else:  # pragma: no cover
            raise AssertionError("the queued scenario answers 429")
        stream = await client.chat.completions.create(model="m", messages=MSGS, stream=True)
        return error, [c.choices[0].delta.content or "" async for c in stream if c.choices]

    error, pieces = asyncio.run(run())
    assert "slow down" in error
    assert "".join(pieces) == "a b c d" and len([p for p in pieces if p]) == 4
    assert mock.count == 2


def test_scenario_and_id_per_request_records_headers_and_reuses_answers() -> None:
    mock = MockOpenAI(
        scenario_for=lambda body: Scenario(prompt_tokens=int(body["metadata"]["n"])),
        id_suffix=lambda body: body["metadata"]["n"],
        api_key="sk-mock-KEY",
        record=True,
    )
    client = mock.client()
    first = client.responses.create(model="m", input="hi", metadata={"n": "41"})
    again = client.responses.create(model="m", input="hi", metadata={"n": "41"})
    other = client.responses.create(model="m", input="hi", metadata={"n": "7"})
    assert (first.id, first.usage.input_tokens) == ("resp_41", 41)  # type: ignore[union-attr]
    assert again.model_dump() == first.model_dump()
    assert (other.id, other.usage.input_tokens) == ("resp_7", 7)  # type: ignore[union-attr]
    assert len(mock._answers) == 2  # the repeated request was answered from the kept bytes
    assert [r.body["metadata"]["n"] for r in mock.requests if r.body] == ["41", "41", "7"]
    assert mock.requests[0].headers["authorization"] == "Bearer sk-mock-KEY"
    assert mock.requests[0].path == "/v1/responses"


def test_unknown_path_is_404_and_socket_outcomes_are_refused() -> None:
    mock = MockOpenAI()
    with pytest.raises(openai.NotFoundError):
        mock.client().models.list()
    mock.enqueue(Scenario(outcome="cut"))
    # openai 1.x reports any transport exception as a connection error, with the cause kept
    with pytest.raises((ValueError, openai.APIConnectionError)) as caught:
        mock.client().chat.completions.create(model="m", messages=MSGS)
    error = caught.value if isinstance(caught.value, ValueError) else caught.value.__cause__
    assert isinstance(error, ValueError) and "FakeOpenAIServer" in str(error)


def test_embeddings_fail_as_on_the_fake_server() -> None:
    mock = MockOpenAI()
    mock.enqueue(Scenario(outcome="invalid_json"), Scenario(outcome="stream_error"))
    with pytest.raises(json.JSONDecodeError):
        mock.client().embeddings.create(model="e", input="x")
    with pytest.raises(openai.InternalServerError):
        mock.client().embeddings.create(model="e", input="x")


def test_http_library_is_the_sdks() -> None:
    import openai._base_client as base

    expected = getattr(base, "httpx2", None) or base.httpx
    assert http_library() is expected
    assert isinstance(openai.OpenAI(api_key="k")._client, expected.Client)  # the SDK's own default

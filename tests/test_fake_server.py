"""Drive the real OpenAI SDK against tracewrap.testing.FakeOpenAIServer and check parsed values."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tracewrap.testing import (
    FakeOpenAIServer,
    Scenario,
    chat_completion_events,
    embeddings_body,
    encode_sse,
    error_body,
    response_events,
    split_text,
)

MSGS = [{"role": "user", "content": "hi"}]


def _is_cut_error(exc: BaseException) -> bool:
    # openai 3.x wraps transport errors mid-stream; 1.x/2.x let httpx's RemoteProtocolError through.
    return isinstance(exc, openai.APIConnectionError) or type(exc).__name__ == "RemoteProtocolError"


class Weather(BaseModel):
    city: str
    temp_c: int


class GetWeather(BaseModel):
    city: str


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def srv(server: FakeOpenAIServer) -> FakeOpenAIServer:
    # One server for the module (fast); reset per test so queues/records don't leak.
    server.clear()
    server.default = Scenario()
    return server


@pytest.fixture
def client(srv: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0, timeout=10)
    yield c
    c.close()


# --------------------------------------------------------------------------- lifecycle / recording


def test_base_url_and_start_stop() -> None:
    srv = FakeOpenAIServer()
    srv.start()
    try:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
        assert c.chat.completions.create(model="gpt-4o", messages=MSGS).model == "gpt-4o-2024-07-18"
        c.close()
    finally:
        srv.stop()
    srv.stop()  # idempotent


def test_requests_recorded_and_fifo_queue(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(text="first"), Scenario(text="second"))
    texts = [
        client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content for _ in range(3)
    ]
    assert texts == ["first", "second", Scenario().text]
    assert srv.pending == 0
    assert len(srv.requests) == 3
    req = srv.requests[0]
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.body == {"messages": MSGS, "model": "m"}
    assert req.headers["authorization"] == "Bearer sk-test"
    srv.enqueue(Scenario())
    srv.clear()
    assert srv.requests == [] and srv.pending == 0


def test_unknown_path_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.get("/nope", cast_to=object)
    assert ei.value.status_code == 404


# --------------------------------------------------------------------------- chat completions


def test_chat_json_defaults(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.service_tier == "default" and r.system_fingerprint == "fp_test"
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "Hello! How can I help?" and choice.message.refusal is None
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 7, 19)
    assert r.usage.prompt_tokens_details is None and r.usage.completion_tokens_details is None


def test_chat_json_details_n_and_no_usage(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(cached_tokens=4, reasoning_tokens=3, model="o-custom", service_tier=None))
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, n=2)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.model == "o-custom" and r.service_tier is None
    assert r.usage and r.usage.prompt_tokens_details and r.usage.completion_tokens_details
    assert r.usage.prompt_tokens_details.cached_tokens == 4
    assert r.usage.completion_tokens_details.reasoning_tokens == 3

    srv.enqueue(Scenario(usage=False))
    assert client.chat.completions.create(model="m", messages=MSGS).usage is None


@pytest.mark.parametrize("outcome", ["length", "content_filter"])
def test_chat_json_finish_reasons(srv: FakeOpenAIServer, client: openai.OpenAI, outcome: str) -> None:
    srv.enqueue(Scenario(outcome=outcome))  # type: ignore[arg-type]
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].finish_reason == outcome


def test_chat_json_tool_calls(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="tool_calls"))
    r = client.chat.completions.create(
        model="m", messages=MSGS, tools=[openai.pydantic_function_tool(GetWeather)]
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    assert msg.tool_calls and msg.tool_calls[0].function.name == "GetWeather"  # type: ignore[union-attr]
    assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_chat_stream_without_include_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! How can I help?"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.usage is None and c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_with_include_usage(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(chunks=3, cached_tokens=2))
    chunks = list(
        client.chat.completions.create(
            model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
    )
    # role chunk + 3 content chunks + finish chunk + usage chunk
    assert len(chunks) == 6
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == 19 and last.usage.prompt_tokens_details.cached_tokens == 2  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_chat_stream_helper_tool_calls(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="tool_calls", tool_arguments='{"city":"Lyon"}'))
    with client.chat.completions.stream(
        model="m", messages=MSGS, tools=[openai.pydantic_function_tool(GetWeather)]
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "GetWeather" and call.function.arguments == '{"city":"Lyon"}'
    assert call.function.parsed_arguments == GetWeather(city="Lyon")
    assert srv.requests[-1].body["stream"] is True  # type: ignore[index]


def test_chat_parse_structured(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(json_text='{"city":"Oslo","temp_c":-3}'))
    r = client.chat.completions.parse(model="m", messages=MSGS, response_format=Weather)
    assert r.choices[0].message.parsed == Weather(city="Oslo", temp_c=-3)
    assert srv.requests[-1].body["response_format"]["type"] == "json_schema"  # type: ignore[index]


def test_chat_stream_error_raises_mid_iteration(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="stream_error", error_message="boom"))
    got = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in client.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk)
    assert got, "some chunks arrive before the error"


def test_chat_cut_stream_has_no_terminal_chunk(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="cut"))
    got = []
    with pytest.raises(Exception) as ei:  # exact type depends on the SDK major version
        for chunk in client.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk)
    assert _is_cut_error(ei.value)
    assert got and all(c.choices[0].finish_reason is None for c in got)
    # The server keeps serving after an aborted connection.
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].finish_reason == "stop"


def test_chat_invalid_json_chunk(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="invalid_json"))
    with pytest.raises(ValueError):  # json.JSONDecodeError from the SDK's SSE decoder
        list(client.chat.completions.create(model="m", messages=MSGS, stream=True))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (400, openai.BadRequestError, None),
        (500, openai.InternalServerError, None),
    ],
)
def test_http_errors(
    srv: FakeOpenAIServer,
    client: openai.OpenAI,
    status: int,
    exc: type[openai.APIStatusError],
    code: str | None,
) -> None:
    srv.enqueue(
        Scenario(outcome="http_error", status_code=status), Scenario(outcome="http_error", status_code=status)
    )
    with pytest.raises(exc) as ei:
        client.chat.completions.create(model="m", messages=MSGS)
    assert ei.value.status_code == status and ei.value.code == code
    assert ei.value.request_id and ei.value.request_id.startswith("req_")
    with pytest.raises(exc):  # stream requests fail before any SSE
        client.responses.create(model="m", input="hi", stream=True)


# --------------------------------------------------------------------------- responses


def test_responses_json(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    r = client.responses.create(
        model="gpt-4o-mini", input="hi", instructions="be brief", temperature=0.2, max_output_tokens=50
    )
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.output_text == "Hello! How can I help?"
    assert (r.instructions, r.temperature, r.max_output_tokens) == ("be brief", 0.2, 50)
    assert r.error is None and r.incomplete_details is None and r.tool_choice == "auto"
    assert r.usage and (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (12, 7, 19)
    assert r.usage.input_tokens_details is None and r.usage.output_tokens_details is None

    srv.enqueue(Scenario(cached_tokens=5, reasoning_tokens=2))
    r = client.responses.create(model="o4-mini", input="hi")
    assert [o.type for o in r.output] == ["reasoning", "message"]
    assert r.usage and r.usage.input_tokens_details.cached_tokens == 5
    assert r.usage.output_tokens_details.reasoning_tokens == 2


@pytest.mark.parametrize(
    ("outcome", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_responses_json_incomplete(
    srv: FakeOpenAIServer, client: openai.OpenAI, outcome: str, reason: str
) -> None:
    srv.enqueue(Scenario(outcome=outcome))  # type: ignore[arg-type]
    r = client.responses.create(model="m", input="hi")
    assert r.status == "incomplete" and r.incomplete_details and r.incomplete_details.reason == reason


def test_responses_json_failed_queued_tool_calls(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="failed"), Scenario(outcome="queued"), Scenario(outcome="tool_calls"))
    failed = client.responses.create(model="m", input="hi")
    assert failed.status == "failed" and failed.error and failed.error.code == "server_error"
    queued = client.responses.create(model="m", input="hi", background=True)
    assert queued.status == "queued" and queued.background is True and queued.usage is None
    tools = client.responses.create(
        model="m",
        input="hi",
        tools=[{"type": "function", "name": "lookup", "parameters": {}, "strict": False}],
    )
    last = tools.output[-1]
    assert last.type == "function_call" and last.name == "lookup" and last.arguments == '{"city":"Paris"}'


def test_responses_stream_completed(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") == 5
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.status == "completed" and final.output_text == "Hello! How can I help?"
    assert final.usage and final.usage.total_tokens == 19


def test_responses_stream_incomplete(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="length"))
    with client.responses.stream(model="m", input="hi", max_output_tokens=16) as stream:
        events = list(stream)
        # The SDK helper only finalizes on response.completed, even for incomplete responses.
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    terminal = events[-1]
    assert terminal.type == "response.incomplete"
    assert terminal.response.status == "incomplete"
    assert terminal.response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert terminal.response.usage and terminal.response.usage.output_tokens == 7
    assert terminal.response.max_output_tokens == 16


def test_responses_stream_tool_calls_and_failed(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="tool_calls", tool_name="lookup"))
    with client.responses.stream(model="m", input="hi") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert (
        "response.function_call_arguments.delta" in types and "response.function_call_arguments.done" in types
    )
    assert final.output[-1].type == "function_call" and final.output[-1].arguments == '{"city":"Paris"}'

    srv.enqueue(Scenario(outcome="failed"))
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "server_error"  # type: ignore[union-attr]


def test_responses_parse_structured(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(json_text='{"city":"Rome","temp_c":21}'))
    r = client.responses.parse(model="m", input="hi", text_format=Weather)
    assert r.output_parsed == Weather(city="Rome", temp_c=21)
    assert srv.requests[-1].body["text"]["format"]["type"] == "json_schema"  # type: ignore[index]


def test_responses_stream_error_and_cut(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="stream_error"))
    events = list(client.responses.create(model="m", input="hi", stream=True))
    err = events[-1]
    # Responses errors arrive as a typed `error` event (the SDK does not raise for them).
    assert err.type == "error" and err.code == "server_error"  # type: ignore[union-attr]
    assert err.sequence_number == len(events) - 1
    assert not any(e.type.startswith("response.completed") for e in events)

    srv.enqueue(Scenario(outcome="cut"))
    got: list[str] = []
    with pytest.raises(Exception) as ei:  # exact type depends on the SDK major version
        for e in client.responses.create(model="m", input="hi", stream=True):
            got.append(e.type)
    assert _is_cut_error(ei.value)
    assert "response.output_text.delta" in got and "response.completed" not in got


def test_responses_retrieve(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    created = client.responses.create(model="gpt-4.1", input="hi", background=True, temperature=0.5)
    assert created.status == "queued" and created.usage is None and created.output == []
    running = client.responses.retrieve(created.id)
    assert running.status == "in_progress" and running.usage is None
    got = client.responses.retrieve(created.id)
    assert got.id == created.id and got.status == "completed"
    assert got.usage is not None and got.usage.input_tokens == 12 and got.usage.output_tokens == 7
    assert got.output_text == "Hello! How can I help?"
    assert got.model == "gpt-4.1-2024-07-18" and got.temperature == 0.5 and got.background is True
    assert srv.requests[-1].method == "GET" and srv.requests[-1].path == f"/v1/responses/{created.id}"

    events = list(client.responses.retrieve(created.id, stream=True, starting_after=2))
    assert events[0].sequence_number == 3 and events[-1].type == "response.completed"
    assert events[-1].response.id == created.id
    assert srv.requests[-1].query == {"stream": "true", "starting_after": "2"}


# --------------------------------------------------------------------------- embeddings / legacy


def test_background_polls_and_final_scenario(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Scenario(outcome="length", background_polls=2, prompt_tokens=30))
    created = client.responses.create(model="m", input="hi", background=True)
    statuses = [client.responses.retrieve(created.id).status for _ in range(4)]
    assert created.status == "queued"
    assert statuses == ["in_progress", "in_progress", "incomplete", "incomplete"]
    final = client.responses.retrieve(created.id)
    assert final.usage is not None and final.usage.input_tokens == 30
    assert final.incomplete_details is not None and final.incomplete_details.reason == "max_output_tokens"


def test_embeddings_default_and_float(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    r = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"])
    sent = srv.requests[-1].body
    assert sent is not None
    assert [d.index for d in r.data] == [0, 1, 2] and r.model == "text-embedding-3-small"
    assert r.usage.prompt_tokens == 12 and r.usage.total_tokens == 12
    # Whatever encoding the SDK asked for (3.x: base64), it decodes to the same float vector.
    assert r.data[0].embedding == [(j % 64 + 1) / 64 for j in range(8)]
    f = client.embeddings.create(model="e", input="x", encoding_format="float", dimensions=4)
    assert srv.requests[-1].body["encoding_format"] == "float"  # type: ignore[index]
    assert len(f.data) == 1 and f.data[0].embedding == [1 / 64, 2 / 64, 3 / 64, 4 / 64]


def test_embeddings_fail_as_the_scenario_says(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    """The failures a non-streamed call can meet apply to embeddings too (they used to answer 200)."""
    srv.enqueue(Scenario(outcome="cut"), Scenario(outcome="invalid_json"), Scenario(outcome="stream_error"))
    with pytest.raises(openai.APIConnectionError):
        client.embeddings.create(model="e", input="x")
    with pytest.raises(json.JSONDecodeError):
        client.embeddings.create(model="e", input="x")
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x")
    assert len(srv.requests) == 3


def test_legacy_completions(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    r = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    assert r.object == "text_completion" and r.model == "gpt-3.5-turbo-instruct"
    assert r.choices[0].text == "Hello! How can I help?" and r.choices[0].finish_reason == "stop"
    assert r.usage and r.usage.total_tokens == 19

    srv.enqueue(Scenario(outcome="length"))
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="hi", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello! How can I help?"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens == 7


# --------------------------------------------------------------------------- async SDK


def test_async_client(srv: FakeOpenAIServer) -> None:
    async def main() -> None:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0) as c:
            r = await c.chat.completions.create(model="m", messages=MSGS)
            assert r.choices[0].message.content == "Hello! How can I help?"
            stream = await c.chat.completions.create(
                model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}
            )
            chunks = [ch async for ch in stream]
            assert chunks[-1].usage and chunks[-1].usage.total_tokens == 19
            async with c.responses.stream(model="m", input="hi") as rs:
                final = await rs.get_final_response()
            assert final.output_text == "Hello! How can I help?"
            srv.enqueue(Scenario(outcome="http_error", status_code=429))
            with pytest.raises(openai.RateLimitError):
                await c.responses.create(model="m", input="hi")
            # Concurrent requests are served in parallel by the threading server.
            many = await asyncio.gather(*(c.embeddings.create(model="e", input="x") for _ in range(5)))
            assert all(len(m.data) == 1 for m in many)

    asyncio.run(main())


# --------------------------------------------------------------------------- raw wire format


def _raw(srv: FakeOpenAIServer, path: str, body: dict[str, object]) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_raw_wire_chat_stream_and_json(srv: FakeOpenAIServer) -> None:
    srv.enqueue(Scenario(chunks=1, text="Hi"))
    resp, data = _raw(srv, "/v1/chat/completions", {"model": "m", "messages": MSGS, "stream": True})
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert data.startswith(b'data: {"id":"chatcmpl-') and data.endswith(b"\n\ndata: [DONE]\n\n")
    assert b"event:" not in data

    resp, data = _raw(srv, "/v1/responses", {"model": "m", "input": "hi"})
    assert resp.getheader("Content-Length") == str(len(data)) and json.loads(data)["object"] == "response"

    resp, data = _raw(srv, "/v1/responses", {"model": "m", "input": "hi", "stream": True})
    assert data.startswith(b'event: response.created\ndata: {"type":"response.created","sequence_number":0,')
    assert b"[DONE]" not in data


def test_error_body_shape() -> None:
    assert error_body(429)["error"]["type"] == "requests"
    assert set(error_body(418)["error"]) == {"message", "type", "param", "code"}
    assert error_body(401, "nope") == {
        "error": {
            "message": "nope",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


# --------------------------------------------------------------------------- pure builders


def test_encode_sse_exact_bytes() -> None:
    events = [(None, {"a": 1}), ("response.created", {"type": "response.created", "b": [1, 2]})]
    assert encode_sse(events[:1], chat_style=True) == b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert encode_sse(events[:1], chat_style=True, done=False) == b'data: {"a":1}\n\n'
    assert encode_sse(events[1:], chat_style=False) == (
        b'event: response.created\ndata: {"type":"response.created","b":[1,2]}\n\n'
    )
    assert encode_sse([(None, "{not json")], chat_style=False) == b"data: {not json\n\n"


def test_builders_are_deterministic() -> None:
    req = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    assert chat_completion_events(Scenario(), req) == chat_completion_events(Scenario(), req)
    events = response_events(Scenario(outcome="content_filter"), {"model": "m"})
    assert events[-1][0] == "response.incomplete"
    b64 = embeddings_body(Scenario(), {"input": "x", "encoding_format": "base64", "dimensions": 2})
    raw = base64.b64decode(b64["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (1 / 64, 2 / 64)


def test_scenario_rejects_unknown_outcome() -> None:
    with pytest.raises(ValueError):
        Scenario(outcome="nope")  # type: ignore[arg-type]


@given(st.text(max_size=40), st.one_of(st.none(), st.integers(min_value=1, max_value=12)))
def test_split_text_roundtrip(text: str, chunks: int | None) -> None:
    pieces = split_text(text, chunks)
    assert "".join(pieces) == text
    if chunks is not None:
        assert len(pieces) == chunks


def test_agent_turn_calls_a_tool_then_answers_once_the_result_is_in(
    srv: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    turn = Scenario(agent_turn=True, text="It is sunny.")
    srv.enqueue(turn, turn, turn, turn)
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, tools=tools)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (first.choices[0].finish_reason, call.function.name) == ("tool_calls", "get_weather")  # type: ignore[union-attr]
    answered = [
        *MSGS,
        first.choices[0].message.model_dump(),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model="gpt-4o-mini", messages=answered, tools=tools)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "It is sunny."
    r_tools: list[Any] = [{"type": "function", "name": "get_weather", "parameters": {}}]
    r_first = client.responses.create(model="gpt-4o-mini", input="hi", tools=r_tools)
    fc = r_first.output[0]
    assert fc.type == "function_call" and fc.name == "get_weather"
    output = {"type": "function_call_output", "call_id": fc.call_id, "output": "sunny"}
    r_second = client.responses.create(model="gpt-4o-mini", input=[output], tools=r_tools)  # type: ignore[list-item]
    assert r_second.output_text == "It is sunny."

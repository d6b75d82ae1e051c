"""Raw responses read any way other than `.parse()` get the same telemetry as the parsed path."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tests.core.helpers import MESSAGES, async_client, attrs, sync_client
from tracewrap.interception import raw_body
from tracewrap.testing import Scenario
from tracewrap.testing.bodies import STREAM_ERROR_MESSAGE

# what the parsed path records for the default scenario (12 in, 7 out, stop)
CHAT_DONE = {
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.response.finish_reasons": ("stop",),
}


def finishes(telemetry: Any) -> dict[str, int]:
    return {
        p.attributes["tracewrap.finish_reason"]: p.value
        for p in telemetry.points("tracewrap.client.finishes")
    }


def tokens(telemetry: Any) -> dict[str, int]:
    return {
        p.attributes["gen_ai.token.type"]: p.value for p in telemetry.points("tracewrap.client.token.usage")
    }


def check_json_span(telemetry: Any, api: str, body: Any) -> None:
    a = attrs(telemetry.one_span())
    assert a["gen_ai.response.id"] == body["id"]
    assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.model"] == body["model"]
    assert a["http.response.status_code"] == 200
    assert "tracewrap.stream.outcome" not in a  # not "closed_early": the body was read
    if api == "responses":
        assert a["openai.response.status"] == "completed"
    assert tokens(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}


def _create(resource: Any, api: str, **extra: Any) -> Any:
    if api == "chat":
        return resource.create(model="gpt-4o-mini", messages=MESSAGES, **extra)
    return resource.create(model="gpt-4o-mini", input="hi", **extra)


def _resource(client: Any, api: str) -> Any:
    if api == "chat":
        return client.chat.completions.with_streaming_response
    return client.responses.with_streaming_response


@pytest.mark.parametrize("how", ["json", "read", "parse"])
def test_a_json_body_sent_as_text_plain_reads_as_the_sdk_parses_it(server, telemetry, how) -> None:
    """The SDK reads a model's body as JSON whatever its Content-Type says; so does the raw path."""
    server.enqueue(Scenario(content_type="text/plain; charset=utf-8"))
    client = sync_client(server, telemetry)
    with _create(_resource(client, "chat"), "chat") as response:
        assert response.headers["content-type"].startswith("text/plain")
        if how == "json":
            body = response.json()
        elif how == "read":
            body = json.loads(response.read())
        else:
            body = response.parse().model_dump()
    check_json_span(telemetry, "chat", body)


def _internal_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()]


def test_a_malformed_body_parsed_raw_fails_the_call_as_a_plain_create_does(server, telemetry, caplog) -> None:
    server.enqueue(*(Scenario(outcome="invalid_json") for _ in range(4)))
    client = sync_client(server, telemetry)
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(json.JSONDecodeError), _create(_resource(client, "chat"), "chat") as response:
        response.parse()
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(json.JSONDecodeError):
        raw.parse()

    async def parse_async() -> None:
        resource = async_client(server, telemetry).chat.completions.with_streaming_response
        async with _create(resource, "chat") as response:
            await response.parse()

    with pytest.raises(json.JSONDecodeError):
        asyncio.run(parse_async())
    spans = telemetry.spans()
    assert len(spans) == 4
    for span in spans:
        a = attrs(span)
        assert span.status.status_code is StatusCode.ERROR
        assert a["error.type"] == "JSONDecodeError"
        assert "tracewrap.stream.outcome" not in a  # not "closed_early": the body was read
    assert finishes(telemetry) == {"error": 4}
    assert _internal_errors(caplog) == []  # from the wire: not tracewrap's error


@pytest.mark.parametrize("how", ["read", "json"])
def test_a_malformed_body_read_raw_ends_the_call_as_read(server, telemetry, caplog, how) -> None:
    """Read as bytes, a body that is not JSON is nothing to report (the user's read succeeded;
    ``.json()`` raises in the user's hands, after the body was read): no usage, no error of
    tracewrap's, and the call ends when the body was read, not as closed unread."""
    server.enqueue(Scenario(outcome="invalid_json"))
    client = sync_client(server, telemetry)
    with _create(_resource(client, "chat"), "chat") as response:
        if how == "read":
            assert response.read().startswith(b'{"id": "broken"')
        else:
            with pytest.raises(json.JSONDecodeError):
                response.json()
    a = attrs(telemetry.one_span())
    assert a["http.response.status_code"] == 200
    assert "tracewrap.stream.outcome" not in a and "gen_ai.usage.input_tokens" not in a
    assert finishes(telemetry) == {"none": 1}
    assert _internal_errors(caplog) == []


def test_a_body_too_large_to_hold_ends_the_call_when_read(server, telemetry, monkeypatch) -> None:
    """Past MAX_BODY the body is passed through unkept (memory stays bounded): the call has no
    usage to report, but it ends when the body was read, not as a response closed unread."""
    monkeypatch.setattr(raw_body, "MAX_BODY", 100)
    client = sync_client(server, telemetry)
    with _create(_resource(client, "chat"), "chat") as response:
        body = response.json()
    assert len(json.dumps(body)) > 100
    a = attrs(telemetry.one_span())
    assert a["http.response.status_code"] == 200
    assert "tracewrap.stream.outcome" not in a and "gen_ai.usage.input_tokens" not in a


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["json", "read_then_parse", "text", "iter_bytes", "iter_lines"])
def test_json_body_read_raw_sync(server, telemetry, api, how) -> None:
    client = sync_client(server, telemetry)
    with _create(_resource(client, api), api) as response:
        if how == "json":
            body = response.json()
        elif how == "read_then_parse":
            body = json.loads(response.read())
            assert response.parse().id == body["id"]
        elif how == "text":
            body = json.loads(response.text())
        elif how == "iter_bytes":
            body = json.loads(b"".join(response.iter_bytes()))
        else:
            body = json.loads("".join(response.iter_lines()))
    check_json_span(telemetry, api, body)


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["json", "read_then_parse", "iter_bytes"])
def test_json_body_read_raw_async(server, telemetry, api, how) -> None:
    async def scenario() -> Any:
        client = async_client(server, telemetry)
        async with _create(_resource(client, api), api) as response:
            if how == "json":
                return await response.json()
            if how == "read_then_parse":
                body = json.loads(await response.read())
                assert (await response.parse()).id == body["id"]
                return body
            return json.loads(b"".join([chunk async for chunk in response.iter_bytes()]))

    check_json_span(telemetry, api, asyncio.run(scenario()))


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("how", ["parse", "json", "unread"])
def test_a_streaming_response_goes_with_its_last_reference_as_bare(server, telemetry, how, is_async) -> None:
    # tracewrap's hooks on the response (its parse, its HTTP response's close and byte iterator)
    # must not hold it from its own __dict__: what the bare SDK frees without the cyclic GC (the
    # response; httpx2's response too, httpx's own is in a cycle of its own) is freed so traced
    def read(response: Any) -> Any:
        return response.parse().id if how == "parse" else response.json()["id"] if how == "json" else None

    async def read_async(response: Any) -> Any:
        if how == "parse":
            return (await response.parse()).id
        return (await response.json())["id"] if how == "json" else None

    def sync_scenario(client: Any) -> tuple[Any, Any, Any]:
        with _create(_resource(client, "chat"), "chat") as response:
            read_id = read(response)
        return read_id, weakref.ref(response), weakref.ref(response.http_response)

    async def async_scenario(client: Any) -> tuple[Any, Any, Any]:
        async with _create(_resource(client, "chat"), "chat") as response:
            read_id = await read_async(response)
        return read_id, weakref.ref(response), weakref.ref(response.http_response)

    def freed(client: Any) -> tuple[Any, bool, bool]:
        gc.collect()
        gc.disable()
        try:
            scenario = async_scenario(client) if is_async else None
            read_id, response, http_response = asyncio.run(scenario) if scenario else sync_scenario(client)
            return read_id, response() is None, http_response() is None
        finally:
            gc.enable()

    make = openai.AsyncOpenAI if is_async else openai.OpenAI
    bare = freed(make(base_url=server.base_url, api_key="sk-test", max_retries=0))
    traced = freed((async_client if is_async else sync_client)(server, telemetry))
    assert traced[1:] == bare[1:] and traced[1] is True
    a = attrs(telemetry.one_span())
    if how == "unread":
        assert a["tracewrap.stream.outcome"] == "closed_early"
    else:
        assert a["gen_ai.response.id"] == traced[0] and a["gen_ai.usage.output_tokens"] == 7


def check_stream_span(telemetry: Any, api: str, events: int) -> None:
    span = telemetry.one_span()
    a = attrs(span)
    assert a["tracewrap.stream.outcome"] == "completed"
    assert a["tracewrap.stream.chunks"] == events
    assert a["http.response.status_code"] == 200  # the caller holds the response, as for a JSON body
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.id"].startswith("chatcmpl-" if api == "chat" else "resp_")
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    if api == "responses":
        assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 7
        assert tokens(telemetry) == {"input": 12, "output": 7}
    else:
        assert a["gen_ai.usage.input_tokens"] == 12  # stream_options include_usage
        assert tokens(telemetry) == {"input": 12, "output": 7}
    assert finishes(telemetry) == {"stop": 1}
    (ttfc,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1


def _stream_kwargs(api: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"stream": True}
    if api == "chat":
        extra["stream_options"] = {"include_usage": True}
    return extra


def _data_lines(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("data:") and line != "data: [DONE]")


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["iter_lines", "iter_bytes", "read", "parse"])
def test_stream_read_raw_sync(server, telemetry, api, how) -> None:
    server.enqueue(Scenario(chunks=4))
    client = sync_client(server, telemetry)
    with _create(_resource(client, api), api, **_stream_kwargs(api)) as response:
        if how == "iter_lines":
            events = _data_lines(list(response.iter_lines()))
        elif how == "iter_bytes":
            events = _data_lines(b"".join(response.iter_bytes()).decode().splitlines())
        elif how == "read":
            events = _data_lines(response.read().decode().splitlines())
        else:
            events = len(list(response.parse()))
    check_stream_span(telemetry, api, events)


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["iter_lines", "parse"])
def test_stream_read_raw_async(server, telemetry, api, how) -> None:
    server.enqueue(Scenario(chunks=4))

    async def scenario() -> int:
        client = async_client(server, telemetry)
        async with _create(_resource(client, api), api, **_stream_kwargs(api)) as response:
            if how == "iter_lines":
                return _data_lines([line async for line in response.iter_lines()])
            return len([event async for event in await response.parse()])

    check_stream_span(telemetry, api, asyncio.run(scenario()))


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["iter_lines", "iter_bytes", "parse"])
def test_stream_read_raw_with_any_sse_line_end(server, telemetry, api, how, line_end) -> None:
    """SSE lines may end in CRLF or a lone CR (the SDK reads both): the raw path reads them too."""
    server.enqueue(Scenario(chunks=4, line_end=line_end))
    client = sync_client(server, telemetry)
    with _create(_resource(client, api), api, **_stream_kwargs(api)) as response:
        if how == "iter_lines":
            events = _data_lines(list(response.iter_lines()))
        elif how == "iter_bytes":
            body = b"".join(response.iter_bytes())
            assert body.count(line_end.encode()) > body.count(b"\n\n")  # the server's line ends
            events = _data_lines(body.decode().splitlines())
        else:
            events = len(list(response.parse()))
    check_stream_span(telemetry, api, events)


def test_stream_read_raw_async_with_lone_cr_line_ends(server, telemetry) -> None:
    server.enqueue(Scenario(chunks=4, line_end="\r"))

    async def scenario() -> int:
        client = async_client(server, telemetry)
        resource = _resource(client, "responses")
        async with _create(resource, "responses", **_stream_kwargs("responses")) as response:
            return _data_lines([line async for line in response.iter_lines()])

    check_stream_span(telemetry, "responses", asyncio.run(scenario()))


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_mid_stream_error_read_raw_is_the_error_the_parsed_path_records(server, telemetry, api) -> None:
    """A chat stream's ``{"error": ...}`` event (the SDK's Stream raises APIError for it) and a
    Responses ``error`` event: read raw, the span says what the parsed path says."""
    server.enqueue(Scenario(chunks=3, outcome="stream_error"), Scenario(chunks=3, outcome="stream_error"))
    client = sync_client(server, telemetry)
    with _create(_resource(client, api), api, **_stream_kwargs(api)) as response:
        lines = list(response.iter_lines())
    assert any('"error"' in line for line in lines)  # the server did send its error event
    with _create(_resource(client, api), api, **_stream_kwargs(api)) as response:
        try:
            for _ in response.parse():
                pass
        except openai.APIError as exc:
            assert api == "chat" and str(exc) == STREAM_ERROR_MESSAGE
    raw, parsed = telemetry.spans()
    compared = (
        "error.type",
        "tracewrap.stream.outcome",
        "tracewrap.stream.chunks",
        "gen_ai.response.finish_reasons",
        "openai.response.status",
    )
    assert {k: attrs(raw).get(k) for k in compared} == {k: attrs(parsed).get(k) for k in compared}
    assert raw.status.status_code is parsed.status.status_code is StatusCode.ERROR
    assert raw.status.description == parsed.status.description
    if api == "chat":
        assert attrs(raw)["error.type"] == "APIError"
        assert attrs(raw)["tracewrap.stream.outcome"] == "error"
        assert raw.status.description == STREAM_ERROR_MESSAGE
    assert finishes(telemetry) == {"error": 2}


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("how", ["iter_lines", "iter_bytes", "read"])
def test_a_stream_cut_while_read_raw_is_the_error_the_reader_got(server, telemetry, api, how) -> None:
    """The connection drops mid-stream: the user's raw read raises, and the span says so (it said
    closed_early, as if the user had stopped reading)."""
    server.enqueue(Scenario(chunks=4, outcome="cut"))
    client = sync_client(server, telemetry)
    with (
        pytest.raises(Exception) as raised,
        _create(_resource(client, api), api, **_stream_kwargs(api)) as response,
    ):
        if how == "read":
            response.read()
        else:
            list(getattr(response, how)())
    a = attrs(telemetry.one_span())
    assert telemetry.one_span().status.status_code is StatusCode.ERROR
    assert a["error.type"] == type(raised.value).__name__
    assert a["tracewrap.stream.outcome"] == "error"
    assert a["tracewrap.stream.chunks"] >= 1  # what arrived before the cut was read
    assert finishes(telemetry) == {"error": 1}


def test_a_stream_cut_while_read_raw_async_is_the_error_the_reader_got(server, telemetry) -> None:
    server.enqueue(Scenario(chunks=4, outcome="cut"))

    async def scenario() -> None:
        client = async_client(server, telemetry)
        async with _create(_resource(client, "chat"), "chat", **_stream_kwargs("chat")) as response:
            async for _ in response.iter_lines():
                pass

    with pytest.raises(Exception) as raised:
        asyncio.run(scenario())
    a = attrs(telemetry.one_span())
    assert a["error.type"] == type(raised.value).__name__
    assert a["tracewrap.stream.outcome"] == "error"


def test_stream_left_early_raw_is_closed_early(server, telemetry) -> None:
    server.enqueue(Scenario(chunks=6))
    client = sync_client(server, telemetry)
    with _create(_resource(client, "chat"), "chat", stream=True) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
    assert first.startswith("data: {")
    a = attrs(telemetry.one_span())
    assert a["tracewrap.stream.outcome"] == "closed_early"
    assert a["tracewrap.stream.chunks"] == 1
    assert finishes(telemetry) == {"none": 1}


def test_legacy_raw_stream_read_from_http_response(server, telemetry) -> None:
    server.enqueue(Scenario(chunks=3))
    client = sync_client(server, telemetry)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, **_stream_kwargs("chat")
    )
    events = _data_lines(list(raw.http_response.iter_lines()))
    check_stream_span(telemetry, "chat", events)


def test_a_json_body_whose_read_fails_reports_the_failure_once_and_reraises() -> None:
    """The tap's own contract (a JSON body cut mid-way: the fake server cuts before answering)."""

    class CutResponse:
        headers = {"content-type": "application/json"}

        def iter_bytes(self) -> Any:
            yield b'{"id": "chatcmpl-1", '
            raise ConnectionResetError("peer reset")

    seen: dict[str, list[Any]] = {"body": [], "error": []}
    response = CutResponse()
    raw_body.tap_json_body(response, False, seen["body"].append, seen["error"].append, lambda: False)
    with pytest.raises(ConnectionResetError):
        b"".join(response.iter_bytes())
    assert seen["body"] == []
    assert [type(exc) for exc in seen["error"]] == [ConnectionResetError]


def test_a_raw_async_read_cancelled_mid_stream_is_a_cancelled_call(server, telemetry) -> None:
    server.enqueue(Scenario(chunks=6, chunk_delay_s=0.3))
    first_line = asyncio.Event()

    async def read() -> None:
        client = async_client(server, telemetry)
        async with _create(_resource(client, "chat"), "chat", **_stream_kwargs("chat")) as response:
            async for line in response.iter_lines():
                if line.startswith("data:"):
                    first_line.set()

    async def scenario() -> None:
        task = asyncio.ensure_future(read())
        await first_line.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    span = telemetry.one_span()
    a = attrs(span)
    assert a["tracewrap.cancelled"] is True
    assert a["tracewrap.stream.outcome"] == "cancelled"
    assert "error.type" not in a and span.status.status_code is StatusCode.UNSET

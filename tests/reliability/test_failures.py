"""Failures on the wire, with the real SDK: each ends its span exactly once, with the right status,
``error.type`` and ``tracewrap.stream.outcome``, and the user gets the very exception object the SDK
raised."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry.trace import StatusCode

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario, chat_completion_events, encode_sse, response_events

from .helpers import API_KEY, MESSAGES, Pipeline, http

LONG = Scenario(text=" ".join(f"w{i}" for i in range(30)))
# openai 3.x turns a transport error in the middle of a stream into APIConnectionError /
# APITimeoutError (the httpx error as its cause); 1.x and 2.x let httpx's own error through. Either
# way the user must get the SDK's very exception object, and the span names its class.
STREAM_ERRORS_MAPPED = int(openai.__version__.split(".")[0]) >= 3
STREAM_CONNECTION_ERROR: type[BaseException] = (
    openai.APIConnectionError if STREAM_ERRORS_MAPPED else http.TransportError
)
STREAM_TIMEOUT_ERROR: type[BaseException] = (
    openai.APITimeoutError if STREAM_ERRORS_MAPPED else http.TimeoutException
)


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def traced_client(server: FakeOpenAIServer, pipe: Pipeline, **client_kwargs: Any) -> openai.OpenAI:
    client_kwargs.setdefault("max_retries", 0)
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, **client_kwargs)
    return tracewrap.wrap(client, **pipe.kwargs())


def traced_async_client(server: FakeOpenAIServer, pipe: Pipeline, **client_kwargs: Any) -> openai.AsyncOpenAI:
    client_kwargs.setdefault("max_retries", 0)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, **client_kwargs)
    return tracewrap.wrap(client, **pipe.kwargs())


@pytest.fixture
def sdk_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Every exception that leaves the SDK's own stream generators (beneath tracewrap's)."""
    seen: list[BaseException] = []
    sync_original = openai.Stream.__stream__
    async_original = openai.AsyncStream.__stream__

    def recording(self: Any) -> Iterator[Any]:
        try:
            yield from sync_original(self)
        except GeneratorExit:
            raise
        except BaseException as exc:
            seen.append(exc)
            raise

    async def async_recording(self: Any) -> AsyncIterator[Any]:
        try:
            async for item in async_original(self):
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            seen.append(exc)
            raise

    monkeypatch.setattr(openai.Stream, "__stream__", recording)
    monkeypatch.setattr(openai.AsyncStream, "__stream__", async_recording)
    return seen


def record_inner_errors(resource: Any, method: str = "create", is_async: bool = False) -> list[BaseException]:
    """Every exception the SDK method beneath tracewrap's wrapper raises."""
    seen: list[BaseException] = []
    traced = resource.__dict__[method]

    def capture(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            return wrapped(*args, **kwargs)
        except BaseException as exc:
            seen.append(exc)
            raise

    async def capture_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as exc:
            seen.append(exc)
            raise

    traced.__wrapped__ = wrapt.FunctionWrapper(traced.__wrapped__, capture_async if is_async else capture)
    return seen


def assert_error_span(pipe: Pipeline, error_type: str, outcome: str | None) -> dict[str, Any]:
    span = pipe.one_span()
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR, span.status
    assert a["error.type"] == error_type
    assert a.get("tracewrap.stream.outcome") == outcome
    (finish,) = pipe.points("tracewrap.client.finishes")
    assert finish.attributes["tracewrap.finish_reason"] in ("error", "none") and finish.value == 1
    (duration,) = pipe.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == error_type and duration.count == 1
    return a


def assert_cancelled_span(pipe: Pipeline, outcome: str | None) -> dict[str, Any]:
    """A caller's cancellation: its own outcome, kept out of the error panels."""
    span = pipe.one_span()
    a = attrs(span)
    assert span.status.status_code is StatusCode.UNSET, span.status
    assert "error.type" not in a and a["tracewrap.cancelled"] is True
    assert a.get("tracewrap.stream.outcome") == outcome
    (finish,) = pipe.points("tracewrap.client.finishes")
    assert finish.attributes["tracewrap.finish_reason"] == "cancelled" and finish.value == 1
    (duration,) = pipe.points("gen_ai.client.operation.duration")
    assert "error.type" not in duration.attributes and duration.count == 1
    return a


# --------------------------------------------------------------------------- connection reset


class ResettingServer:
    """Answers one request with SSE headers and a few chunks, then resets the TCP connection (RST)."""

    def __init__(self, chunks: bytes) -> None:
        self.chunks = chunks
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n" % (len(self.chunks), self.chunks)
        )
        time.sleep(0.3)  # the client has read the chunks and waits for more
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger 0: RST, not FIN
        self.sock.close()


def test_connection_reset_mid_stream(pipe: Pipeline, sdk_errors: list[BaseException]) -> None:
    request = {"model": "m", "messages": MESSAGES, "stream": True}
    events = chat_completion_events(LONG, request)[:4]
    reset = ResettingServer(encode_sse(events, True, done=False))
    client = tracewrap.wrap(
        openai.OpenAI(base_url=reset.base_url, api_key=API_KEY, max_retries=0), **pipe.kwargs()
    )
    got = []
    with pytest.raises(STREAM_CONNECTION_ERROR) as error:
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            got.append(chunk)
    assert len(got) == 4
    assert sdk_errors and error.value is sdk_errors[-1]  # the SDK's own exception object
    if STREAM_ERRORS_MAPPED:
        assert isinstance(error.value.__cause__, http.TransportError)  # with its transport cause intact
    a = assert_error_span(pipe, type(error.value).__name__, "error")
    assert a["tracewrap.stream.chunks"] == 4
    reset.thread.join(5)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_fake_server_cut_mid_stream(server, pipe, sdk_errors, api) -> None:
    """The fake server's ``cut``: half the stream, then the socket is shut down mid chunked body."""
    client = traced_client(server, pipe)
    server.enqueue(Scenario(outcome="cut", text=LONG.text))
    with pytest.raises(STREAM_CONNECTION_ERROR) as error:
        if api == "chat":
            for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass
        else:
            for _ in client.responses.create(model="m", input="hi", stream=True):
                pass
    assert sdk_errors and error.value is sdk_errors[-1]
    a = assert_error_span(pipe, type(error.value).__name__, "error")
    assert a["tracewrap.stream.chunks"] > 1
    assert "gen_ai.usage.input_tokens" not in a  # nothing reported, nothing invented


# --------------------------------------------------------------------------- no terminal event


def _serve_bytes(body: bytes) -> Any:
    def handle(request: Any) -> Any:
        return http.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return http.Client(transport=http.MockTransport(handle))


@pytest.mark.parametrize("with_done", [False, True])
def test_chat_stream_ends_without_finish_reason(pipe: Pipeline, with_done: bool) -> None:
    """The body ends cleanly but the last chunks (finish reason, usage) never came."""
    request = {"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    body = encode_sse(
        chat_completion_events(Scenario(outcome="cut", text=LONG.text), request), True, done=with_done
    )
    client = tracewrap.wrap(
        openai.OpenAI(
            api_key=API_KEY, base_url="http://mock/v1", max_retries=0, http_client=_serve_bytes(body)
        ),
        **pipe.kwargs(),
    )
    chunks = list(client.chat.completions.create(**request))
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    a = assert_error_span(pipe, "incomplete_stream", "incomplete")
    assert a["tracewrap.stream.chunks"] == len(chunks)
    assert "gen_ai.response.finish_reasons" not in a and "gen_ai.usage.output_tokens" not in a


def test_responses_stream_ends_without_terminal_event(pipe: Pipeline) -> None:
    events = response_events(Scenario(outcome="cut", text=LONG.text), {"model": "m"})
    client = tracewrap.wrap(
        openai.OpenAI(
            api_key=API_KEY,
            base_url="http://mock/v1",
            max_retries=0,
            http_client=_serve_bytes(encode_sse(events, False)),
        ),
        **pipe.kwargs(),
    )
    got = [e.type for e in client.responses.create(model="m", input="hi", stream=True)]
    assert got[-1] == "response.output_text.delta"
    a = assert_error_span(pipe, "incomplete_stream", "incomplete")
    assert a["openai.response.status"] == "in_progress"  # the last snapshot seen
    assert "gen_ai.usage.input_tokens" not in a


# --------------------------------------------------------------------------- invalid JSON


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_invalid_json_chunk(server, pipe, sdk_errors, api) -> None:
    client = traced_client(server, pipe)
    server.enqueue(Scenario(outcome="invalid_json"))
    with pytest.raises(json.JSONDecodeError) as error:
        if api == "chat":
            for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass
        else:
            for _ in client.responses.create(model="m", input="hi", stream=True):
                pass
    assert sdk_errors and error.value is sdk_errors[-1]
    assert_error_span(pipe, "JSONDecodeError", "error")


def test_invalid_json_body_not_streamed(server, pipe) -> None:
    client = traced_client(server, pipe)
    inner = record_inner_errors(client.chat.completions)
    server.enqueue(Scenario(outcome="invalid_json"))
    with pytest.raises(json.JSONDecodeError) as error:  # openai 3.x lets the decode error through
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert inner == [error.value]
    assert error.value is inner[0]
    assert_error_span(pipe, "JSONDecodeError", None)


# --------------------------------------------------------------------------- retries


def test_429_then_success_on_retry_is_one_ok_span(server, pipe) -> None:
    client = traced_client(server, pipe, max_retries=2)
    server.enqueue(Scenario(outcome="http_error", status_code=429), Scenario(prompt_tokens=31))
    result = client.chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello! How can I help?"
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2  # the SDK did retry
    span = pipe.one_span()  # one logical call, one span
    a = attrs(span)
    assert span.status.status_code is StatusCode.UNSET  # instrumentations leave success UNSET (not ERROR)
    assert "error.type" not in a and "http.response.status_code" not in a
    assert a["gen_ai.usage.input_tokens"] == 31 and a["gen_ai.response.finish_reasons"] == ("stop",)
    (finish,) = pipe.points("tracewrap.client.finishes")
    assert finish.attributes["tracewrap.finish_reason"] == "stop"


def test_429_on_every_retry_is_one_error_span(server, pipe) -> None:
    client = traced_client(server, pipe, max_retries=1)
    inner = record_inner_errors(client.chat.completions)
    server.enqueue(*[Scenario(outcome="http_error", status_code=429)] * 2)
    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(server.requests) == 2
    assert inner == [error.value] and inner[0] is error.value
    a = assert_error_span(pipe, "RateLimitError", None)
    assert a["http.response.status_code"] == 429


def test_stream_429_then_success_on_retry(server, pipe) -> None:
    client = traced_client(server, pipe, max_retries=2)
    server.enqueue(Scenario(outcome="http_error", status_code=429), Scenario())
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        if c.choices
    )
    assert text == "Hello! How can I help?"
    span = pipe.one_span()
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span)["tracewrap.stream.outcome"] == "completed"


# --------------------------------------------------------------------------- timeouts


def test_timeout_before_response(server, pipe) -> None:
    client = traced_client(server, pipe, timeout=0.3)
    inner = record_inner_errors(client.chat.completions)
    server.enqueue(Scenario(delay_s=1.5))
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError) as error:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert time.perf_counter() - started < 1.4
    assert inner and error.value is inner[0]
    assert_error_span(pipe, "APITimeoutError", None)


def test_timeout_mid_stream(server, pipe, sdk_errors) -> None:
    client = traced_client(server, pipe, timeout=0.3)
    server.enqueue(Scenario(text="a b c d", chunk_delay_s=1.0))
    got = []
    with pytest.raises(STREAM_TIMEOUT_ERROR) as error:
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            got.append(chunk)
    assert len(got) == 1
    assert sdk_errors and error.value is sdk_errors[-1]
    a = assert_error_span(pipe, type(error.value).__name__, "error")
    assert a["tracewrap.stream.chunks"] == 1


def test_async_timeout(server, pipe) -> None:
    client = traced_async_client(server, pipe, timeout=0.3)
    inner = record_inner_errors(client.responses, is_async=True)
    server.enqueue(Scenario(delay_s=1.5))

    async def main() -> BaseException:
        with pytest.raises(openai.APITimeoutError) as error:
            await client.responses.create(model="m", input="hi")
        return error.value

    raised = asyncio.run(main())
    assert inner and raised is inner[0]
    assert_error_span(pipe, "APITimeoutError", None)


# --------------------------------------------------------------------------- KeyboardInterrupt


def test_keyboard_interrupt_in_consumer_loop_with_block(server, pipe) -> None:
    client = traced_client(server, pipe)
    server.enqueue(LONG)
    interrupt = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as error:
        with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            for i, _ in enumerate(stream):
                if i == 2:
                    raise interrupt
    assert error.value is interrupt
    span = pipe.one_span()  # ended by the with-block's close, before the interrupt reached pytest
    assert attrs(span)["tracewrap.stream.outcome"] == "closed_early"
    assert attrs(span)["tracewrap.stream.chunks"] == 3
    assert span.status.status_code is StatusCode.UNSET  # the consumer stopped; the call did not fail


def test_keyboard_interrupt_in_consumer_loop_without_close(server, pipe) -> None:
    import gc

    client = traced_client(server, pipe)
    server.enqueue(LONG)
    interrupt = KeyboardInterrupt()

    def consume() -> None:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        for i, _ in enumerate(stream):
            if i == 2:
                raise interrupt

    with pytest.raises(KeyboardInterrupt) as error:
        consume()
    assert error.value is interrupt
    assert pipe.traced_spans() == []  # still open: nothing told tracewrap the consumer stopped
    interrupt.__traceback__ = None  # the traceback holds the frame that holds the stream
    del error
    gc.collect()
    tracewrap.flush()  # the GC queued the end; flush carries it out
    span = pipe.one_span()
    assert attrs(span)["tracewrap.stream.outcome"] == "abandoned"
    assert span.status.status_code is StatusCode.UNSET


def test_keyboard_interrupt_while_the_sdk_reads(server, pipe, sdk_errors) -> None:
    """A real SIGINT arriving while the SDK blocks reading the next chunk."""
    assert threading.current_thread() is threading.main_thread()
    client = traced_client(server, pipe)
    server.enqueue(Scenario(text="a b c d e f", chunk_delay_s=1.0))
    main_id = threading.main_thread().ident
    assert main_id is not None
    timer = threading.Timer(0.4, signal.pthread_kill, (main_id, signal.SIGINT))
    got = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt) as error:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            timer.start()
            for chunk in stream:
                got.append(chunk)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert len(got) == 1
    assert sdk_errors and error.value is sdk_errors[-1]
    a = assert_error_span(pipe, "KeyboardInterrupt", "error")
    assert a["tracewrap.stream.chunks"] == 1


# --------------------------------------------------------------------------- asyncio cancellation


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_task_cancelled_mid_stream(server, pipe, sdk_errors, api) -> None:
    client = traced_async_client(server, pipe)
    server.enqueue(Scenario(text="a b c d e f g", chunk_delay_s=0.3))
    caught: list[BaseException] = []

    async def consume(got: list[Any]) -> None:
        if api == "chat":
            stream: Any = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        else:
            stream = await client.responses.create(model="m", input="hi", stream=True)
        try:
            async for item in stream:
                got.append(item)
        except asyncio.CancelledError as exc:
            caught.append(exc)
            raise

    async def main() -> int:
        got: list[Any] = []
        task = asyncio.create_task(consume(got))
        while not got:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        return len(got)

    count = asyncio.run(main())
    assert caught and sdk_errors and caught[0] is sdk_errors[-1]
    a = assert_cancelled_span(pipe, "cancelled")
    assert a["tracewrap.stream.chunks"] == count


def test_task_cancelled_while_waiting_for_headers(server, pipe) -> None:
    client = traced_async_client(server, pipe)
    inner = record_inner_errors(client.chat.completions, is_async=True)
    server.enqueue(Scenario(delay_s=1.0))

    async def main() -> None:
        task = asyncio.create_task(client.chat.completions.create(model="m", messages=MESSAGES))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(inner) == 1 and isinstance(inner[0], asyncio.CancelledError)
    assert_cancelled_span(pipe, None)

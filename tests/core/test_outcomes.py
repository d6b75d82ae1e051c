"""Finish reasons, statuses and failures, normalized the same way for both APIs."""

from __future__ import annotations

import asyncio
import gc
import inspect

import openai
import pytest
from opentelemetry.trace import StatusCode

import tracewrap
from tests.core.helpers import MESSAGES, Greeting, async_client, attrs, finishes, sync_client
from tracewrap.testing import Scenario


@pytest.mark.parametrize(
    ("outcome", "chat_reason", "responses_reason", "responses_status"),
    [
        ("ok", "stop", "stop", "completed"),
        ("length", "length", "length", "incomplete"),
        ("content_filter", "content_filter", "content_filter", "incomplete"),
        ("tool_calls", "tool_calls", "tool_calls", "completed"),
    ],
)
def test_finish_reasons_match_across_apis(
    server, telemetry, outcome, chat_reason, responses_reason, responses_status
) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(*(Scenario(outcome=outcome) for _ in range(3)))
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    response = client.responses.create(model="gpt-4o-mini", input="hi")
    assert chat.choices[0].finish_reason == chat_reason
    assert response.status == responses_status
    chat_span, responses_span = telemetry.spans()
    assert attrs(chat_span)["gen_ai.response.finish_reasons"] == (chat_reason,)
    assert attrs(responses_span)["gen_ai.response.finish_reasons"] == (responses_reason,)
    assert attrs(responses_span)["openai.response.status"] == responses_status
    reasons = sorted(
        (p.attributes["tracewrap.finish_reason"], p.value)
        for p in telemetry.points("tracewrap.client.finishes")
    )
    assert reasons == [(chat_reason, 2)] if chat_reason == responses_reason else len(reasons) == 2


def test_truncated_stream_is_visible(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="length"), Scenario(outcome="length"))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert [c.choices[0].finish_reason for c in stream if c.choices][-1] == "length"
    with client.responses.stream(model="m", input="hi") as rstream:
        events = [event.type for event in rstream]
    # the SDK's get_final_response() insists on response.completed; the events show the truncation
    assert events[-1] == "response.incomplete"
    chat_span, responses_span = telemetry.spans()
    assert attrs(chat_span)["gen_ai.response.finish_reasons"] == ("length",)
    assert attrs(responses_span)["gen_ai.response.finish_reasons"] == ("length",)
    # a chat stream without include_usage reports no usage: absent, never 0
    assert "gen_ai.usage.input_tokens" not in attrs(chat_span)
    assert attrs(responses_span)["gen_ai.usage.output_tokens"] == 7
    assert attrs(responses_span)["tracewrap.stream.outcome"] == "completed"


def test_failed_response_is_an_error_with_its_code(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="failed"), Scenario(outcome="failed"))
    response = client.responses.create(model="m", input="hi")
    assert response.status == "failed"
    with client.responses.stream(model="m", input="hi") as stream:
        events = [e.type for e in stream]
    assert events[-1] == "response.failed"
    for span in telemetry.spans():
        a = attrs(span)
        assert span.status.status_code is StatusCode.ERROR
        assert a["error.type"] == "server_error"
        assert a["gen_ai.response.finish_reasons"] == ("error",)
        assert a["openai.response.status"] == "failed"


def test_background_response_records_queued_status_and_counts_nothing_yet(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="queued"))
    response = client.responses.create(model="m", input="hi", background=True)
    assert response.status == "queued"
    a = attrs(telemetry.one_span())
    assert a["openai.response.status"] == "queued"
    assert a["openai.request.background"] is True
    assert "gen_ai.response.finish_reasons" not in a
    assert "gen_ai.usage.input_tokens" not in a
    # its finish (and usage) are counted once, by the call that sees it end (test_counting.py)
    assert telemetry.points("tracewrap.client.finishes") == []
    assert telemetry.points("tracewrap.client.token.usage") == []


def test_retrieve_is_fetch_response(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    created = client.responses.create(model="gpt-4o-mini", input="hi")
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id
    _, second = telemetry.spans()
    assert second.name == "fetch_response"
    a = attrs(second)
    assert a["gen_ai.operation.name"] == "fetch_response"
    assert a["gen_ai.response.id"] == created.id
    assert a["openai.response.status"] == "completed"


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_http_errors_reach_the_user_unchanged(server, telemetry, status, exc_type) -> None:
    client = sync_client(server, telemetry)
    bare = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
    server.enqueue(
        Scenario(outcome="http_error", status_code=status), Scenario(outcome="http_error", status_code=status)
    )
    with pytest.raises(exc_type) as bare_error:
        bare.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(exc_type) as traced_error:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert type(traced_error.value) is type(bare_error.value)
    assert traced_error.value.status_code == status
    assert str(traced_error.value) == str(bare_error.value)
    span = telemetry.one_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == exc_type.__name__
    assert attrs(span)["http.response.status_code"] == status
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == exc_type.__name__
    (finish,) = telemetry.points("tracewrap.client.finishes")
    assert finish.attributes["tracewrap.finish_reason"] == "error"


def test_same_exception_object_is_raised(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    seen = []

    def capture(wrapped, instance, args, kwargs):
        try:
            return wrapped(*args, **kwargs)
        except Exception as exc:
            seen.append(exc)
            raise

    import wrapt

    inner = client.chat.completions.create.__wrapped__
    client.chat.completions.__dict__["create"].__wrapped__ = wrapt.FunctionWrapper(inner, capture)
    server.enqueue(Scenario(outcome="http_error", status_code=429))
    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert seen and error.value is seen[0]


def test_mid_stream_error_is_an_error(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="stream_error"), Scenario(outcome="stream_error"))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
    with client.responses.stream(model="m", input="hi") as stream:
        # the SDK yields a Responses `error` event instead of raising: the span must still say error
        assert [e.type for e in stream][-1] == "error"
    chat_span, responses_span = telemetry.spans()
    assert chat_span.status.status_code is StatusCode.ERROR
    assert attrs(chat_span)["error.type"] == "APIError"
    assert attrs(chat_span)["tracewrap.stream.outcome"] == "error"
    assert responses_span.status.status_code is StatusCode.ERROR
    assert attrs(responses_span)["error.type"] == "server_error"
    assert attrs(responses_span)["gen_ai.response.finish_reasons"] == ("error",)
    # an error, as in WebSocket mode, not a stream that completed; and not the created snapshot's
    # "in_progress" as the response's status
    assert attrs(responses_span)["tracewrap.stream.outcome"] == "error"
    assert "openai.response.status" not in attrs(responses_span)


def test_a_responses_error_event_is_an_error_when_the_reader_stops_at_it(server, telemetry) -> None:
    """A reader that stops at the ``error`` event instead of reading on to the stream's end (langchain
    and the Agents SDK raise on it; a user breaks out) still ends the span as an error stream, not
    as one that completed because nothing was missing."""
    client = sync_client(server, telemetry)
    server.enqueue(*(Scenario(outcome="stream_error") for _ in range(4)))

    def stop_at_error(stream) -> str:
        for event in stream:
            if event.type == "error":
                return event.type
        return "no error event"

    with client.responses.create(model="m", input="hi", stream=True) as stream:  # closed after it
        assert stop_at_error(stream) == "error"
    with pytest.raises(ValueError):  # raised on it, closed by the `with`
        with client.responses.stream(model="m", input="hi") as helper:
            raise ValueError(stop_at_error(helper))
    dropped = client.responses.create(model="m", input="hi", stream=True)
    assert stop_at_error(dropped) == "error"
    del dropped  # dropped there: abandoned
    gc.collect()
    tracewrap.flush()

    async def closed_async() -> str:
        async with async_client(server, telemetry) as aclient:
            async with await aclient.responses.create(model="m", input="hi", stream=True) as astream:
                async for event in astream:
                    if event.type == "error":
                        return event.type
        return "no error event"

    assert asyncio.run(closed_async()) == "error"
    spans = telemetry.spans()
    assert len(spans) == 4
    for span in spans:
        a = attrs(span)
        assert a["tracewrap.stream.outcome"] == "error"
        assert a["error.type"] == "server_error"
        assert a["gen_ai.response.finish_reasons"] == ("error",)
        assert span.status.status_code is StatusCode.ERROR


def test_async_errors_and_cancellation(server, telemetry) -> None:
    client = async_client(server, telemetry)

    async def scenario() -> None:
        server.enqueue(Scenario(outcome="http_error", status_code=429))
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model="m", input="hi")
        server.enqueue(Scenario(delay_s=5))
        task = asyncio.ensure_future(client.chat.completions.create(model="m", messages=MESSAGES))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    rate_limited, cancelled = telemetry.spans()
    assert attrs(rate_limited)["error.type"] == "RateLimitError"
    # a cancellation is the caller's choice, not a failure (tests/core/test_cancellation.py)
    assert "error.type" not in attrs(cancelled)
    assert attrs(cancelled)["tracewrap.cancelled"] is True
    assert cancelled.status.status_code is StatusCode.UNSET


# the finish-reason errors of the parse helpers that carry the completion they refused
CARRIES_COMPLETION = {
    "length": True,
    "content_filter": "completion" in inspect.signature(openai.ContentFilterFinishReasonError).parameters,
}


@pytest.mark.parametrize("outcome", ["length", "content_filter"])
def test_a_parse_refused_for_its_finish_still_counts_the_billed_completion(
    server, telemetry, outcome
) -> None:
    """``chat.completions.parse`` raises LengthFinishReasonError / ContentFilterFinishReasonError for
    a completion it got and was billed for: the span is the user's error, with that completion's
    usage and finish reason, and the tokens are counted (ContentFilterFinishReasonError carries its
    completion from openai 3.x on; before, only the error is known)."""
    server.enqueue(*(Scenario(outcome=outcome) for _ in range(3)))
    error_type = {
        "length": openai.LengthFinishReasonError,
        "content_filter": openai.ContentFilterFinishReasonError,
    }
    with pytest.raises(error_type[outcome]):
        sync_client(server, telemetry).chat.completions.parse(
            model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting
        )

    async def parse_async() -> None:
        await async_client(server, telemetry).chat.completions.parse(
            model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting
        )

    with pytest.raises(error_type[outcome]):
        asyncio.run(parse_async())
    raw = sync_client(server, telemetry).chat.completions.with_raw_response.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting
    )
    with pytest.raises(error_type[outcome]):
        raw.parse()  # the raw response's parse raises it as the SDK's parse would
    assert len(telemetry.spans()) == 3
    for span in telemetry.spans():
        a = attrs(span)
        assert span.status.status_code is StatusCode.ERROR
        assert a["error.type"] == error_type[outcome].__name__
        if CARRIES_COMPLETION[outcome]:
            assert a["gen_ai.response.finish_reasons"] == (outcome,)
            assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 7
            assert a["gen_ai.response.id"].startswith("chatcmpl-")
        else:
            assert "gen_ai.usage.input_tokens" not in a and "gen_ai.response.finish_reasons" not in a
    finished = finishes(telemetry)
    tokens = {
        p.attributes["gen_ai.token.type"]: p.value for p in telemetry.points("tracewrap.client.token.usage")
    }
    if CARRIES_COMPLETION[outcome]:
        assert finished == {outcome: 3}
        assert tokens == {"input": 36, "output": 21}
    else:
        assert finished == {"error": 3} and tokens == {}


@pytest.mark.parametrize("outcome", ["length", "content_filter"])
@pytest.mark.parametrize("usage", [False, True])
def test_a_stream_helper_refused_for_its_finish_is_that_error(server, telemetry, outcome, usage) -> None:
    """``chat.completions.stream(response_format=...)`` raises LengthFinishReasonError /
    ContentFilterFinishReasonError out of the reader's ``with`` block for a completion cut at
    ``max_tokens`` or filtered: the call failed with that error, as the same completion through
    ``parse()`` does (it read as a stream completed, or closed early by its reader), counted under
    its finish reason. An exception of the reader's own in the same block leaves it closed early."""
    refusal = {
        "length": openai.LengthFinishReasonError,
        "content_filter": openai.ContentFilterFinishReasonError,
    }
    extra = {"stream_options": {"include_usage": True}} if usage else {}
    server.enqueue(Scenario(outcome=outcome, chunks=3), Scenario(outcome=outcome, chunks=3))
    with pytest.raises(refusal[outcome]):
        with sync_client(server, telemetry).chat.completions.stream(
            model="m", messages=MESSAGES, response_format=Greeting, **extra
        ) as stream:
            for _ in stream:
                pass

    async def read_async() -> None:
        async with async_client(server, telemetry).chat.completions.stream(
            model="m", messages=MESSAGES, response_format=Greeting, **extra
        ) as stream:
            async for _ in stream:
                pass

    with pytest.raises(refusal[outcome]):
        asyncio.run(read_async())
    server.enqueue(Scenario(chunks=3))
    with pytest.raises(KeyError):  # the reader's own error: not the call's
        with sync_client(server, telemetry).chat.completions.stream(
            model="m", messages=MESSAGES, response_format=Greeting
        ) as stream:
            for _ in stream:
                raise KeyError("the reader's")
    refused, own = telemetry.spans()[:2], telemetry.spans()[2]
    for span in refused:
        a = attrs(span)
        assert span.status.status_code is StatusCode.ERROR
        assert a["error.type"] == refusal[outcome].__name__
        assert a["tracewrap.stream.outcome"] == "error"
        assert a["gen_ai.response.finish_reasons"] == (outcome,)
    assert own.status.status_code is StatusCode.UNSET
    assert attrs(own)["tracewrap.stream.outcome"] == "closed_early" and "error.type" not in attrs(own)
    finished = finishes(telemetry)
    assert finished == {outcome: 2, "none": 1}
    errors = [p.attributes.get("error.type") for p in telemetry.points("gen_ai.client.operation.duration")]
    assert sorted(errors, key=str) == sorted([refusal[outcome].__name__, None], key=str)


def test_choices_listed_out_of_order_are_read_in_index_order(server, telemetry) -> None:
    """A compatible server may list ``n`` choices in any order: the span's finish reasons follow the
    choices' ``index`` (as a stream's do), and the call is counted under its first choice's."""
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(last_choice_finish="tool_calls", choices_reversed=True))
    server.enqueue(Scenario(last_choice_finish="tool_calls", chunks=3))
    response = client.chat.completions.create(model="m", messages=MESSAGES, n=2)
    assert [(c.index, c.finish_reason) for c in response.choices] == [(1, "tool_calls"), (0, "stop")]
    list(client.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True))
    reasons = [attrs(s)["gen_ai.response.finish_reasons"] for s in telemetry.spans()]
    assert reasons == [("stop", "tool_calls"), ("stop", "tool_calls")]
    finished = finishes(telemetry)
    assert finished == {"stop": 2}


def test_a_call_with_several_choices_is_counted_once_under_its_notable_finish(server, telemetry) -> None:
    """``n=2``, one choice truncated: the span lists both reasons; the finishes counter counts the call
    once, as ``length`` whichever choice it was (a dashboard's truncation panel must see it)."""
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(last_choice_finish="length"), Scenario(last_choice_finish="length", chunks=3))
    server.enqueue(
        Scenario(outcome="length", last_choice_finish="stop"), Scenario(last_choice_finish="content_filter")
    )
    client.chat.completions.create(model="m", messages=MESSAGES, n=2)
    list(client.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True))
    client.chat.completions.create(model="m", messages=MESSAGES, n=2)
    client.chat.completions.create(model="m", messages=MESSAGES, n=3)
    reasons = [attrs(s)["gen_ai.response.finish_reasons"] for s in telemetry.spans()]
    assert reasons == [
        ("stop", "length"),
        ("stop", "length"),
        ("length", "stop"),
        ("stop", "stop", "content_filter"),
    ]
    assert finishes(telemetry) == {"length": 3, "content_filter": 1}


def test_a_response_ending_with_a_call_the_server_ran_is_a_stop(server, telemetry) -> None:
    """``tool_calls`` means the app must act next (a function to run). A response whose last item is
    a call OpenAI ran itself (an image generation ends with its ``image_generation_call``) is done."""
    client = sync_client(server, telemetry)
    hosted = ["image_generation_call", "web_search_call", "code_interpreter_call", "mcp_call"]
    for kind in hosted:
        server.enqueue(Scenario(hosted_tool_call=kind))
        assert client.responses.create(model="m", input="hi").output[-1].type == kind
    server.enqueue(Scenario(outcome="tool_calls"), Scenario(hosted_tool_call="local_shell_call"))
    client.responses.create(model="m", input="hi")  # a function call: the app runs it
    client.responses.create(model="m", input="hi")  # the local shell: the app runs it too
    reasons = [attrs(s)["gen_ai.response.finish_reasons"] for s in telemetry.spans()]
    assert reasons == [("stop",)] * len(hosted) + [("tool_calls",), ("tool_calls",)]


def test_a_prompt_the_content_filter_refused_counts_as_filtered(server, telemetry) -> None:
    """Azure OpenAI refuses a prompt its content filter flags with a 400 whose code is
    ``content_filter``: the call is the SDK's error, and its finish is ``content_filter`` (the
    filtering dashboards see it); any other 400 stays a plain error."""
    import openai

    azure = openai.AzureOpenAI(
        azure_endpoint=f"http://127.0.0.1:{server.port}", api_key="k", api_version="2024-10-21", max_retries=0
    )
    client = tracewrap.wrap(azure, **telemetry.wrap_kwargs())
    server.enqueue(
        Scenario(outcome="http_error", status_code=400, error_code="content_filter"),
        Scenario(outcome="http_error", status_code=400),
    )
    for _ in range(2):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    filtered, other = telemetry.spans()
    for span in (filtered, other):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)["error.type"] == "BadRequestError"
    assert attrs(filtered)["gen_ai.response.finish_reasons"] == ("content_filter",)
    assert "gen_ai.response.finish_reasons" not in attrs(other)
    finished = finishes(telemetry)
    assert finished == {"content_filter": 1, "error": 1}

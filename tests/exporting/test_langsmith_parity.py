"""Side by side: ``langsmith.wrappers.wrap_openai`` and tracewrap, the same calls, one recorder.

Each call goes once through a client wrapped by LangSmith's own wrapper and once through a
client wrapped by tracewrap (both talking to ``api.openai.com``, rerouted to the fake server), and
the two runs the loopback LangSmith recorder received are compared field by field. What differs on
purpose is asserted as such here and listed in the README ("LangSmith runs").
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import langsmith
import openai
import pytest
from langsmith import traceable
from langsmith.wrappers import wrap_openai

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario, http_library
from tracewrap.testing.bodies import STREAM_ERROR_MESSAGE

from .common import API_KEY, MESSAGES
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver
from .test_langsmith import LS_KEY, _env

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
http: Any = http_library()  # httpx2 on openai 3.x, httpx on 1.x/2.x
# tracewrap's own additions to the run metadata; wrap_openai has none of them
TRACEWRAP_EXTRAS = {"status", "response_model", "response_id", "finish_reason", "finish_reasons"}


def _rerouted(request: Any, port: int) -> Any:
    request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
    return request


class _ToFakeServer(http.HTTPTransport):
    """Sends what the SDK addresses to api.openai.com to the fake server instead."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: Any) -> Any:
        return super().handle_request(_rerouted(request, self.port))


class _ToFakeServerAsync(http.AsyncHTTPTransport):
    """The same, for the async client."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def handle_async_request(self, request: Any) -> Any:
        return await super().handle_async_request(_rerouted(request, self.port))


def _configure(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, receiver: OTLPReceiver
) -> langsmith.Client:
    """tracewrap sending runs to the recorder (and spans to OTLP as well, so that its runs carry the
    ids of recorded spans); the langsmith client wrap_openai's runs go through."""
    _env(
        monkeypatch,
        recorder,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
    )
    tracewrap.configure()
    return langsmith.Client(api_url=recorder.url, api_key=LS_KEY)


@pytest.fixture
def pair(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
) -> Iterator[tuple[Any, Any, Any]]:
    """(wrap_openai's client, tracewrap's client, wrap_openai's langsmith.Client)."""
    ls_client = _configure(monkeypatch, recorder, receiver)

    def openai_client() -> openai.OpenAI:
        transport = _ToFakeServer(server.port)
        return openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=http.Client(transport=transport))

    theirs = wrap_openai(openai_client(), tracing_extra={"client": ls_client})
    ours = tracewrap.wrap(openai_client())
    yield theirs, ours, ls_client
    theirs.close()
    ours.close()
    ls_client.cleanup(timeout=1)


def _runs(recorder: LangSmithRecorder, flush: Callable[[], Any], count: int) -> list[dict[str, Any]]:
    flush()
    runs = recorder.wait_for_runs(count)
    assert len(runs) == count, recorder.runs
    recorder.clear()
    return sorted(runs, key=lambda r: r["dotted_order"])


def _side_by_side(
    recorder: LangSmithRecorder,
    server: FakeOpenAIServer,
    pair: tuple[Any, Any, Any],
    call: Callable[[Any], Any],
    scenario: Scenario | None = None,
    count: int = 1,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    theirs, ours, ls_client = pair
    recorder.clear()
    results = []
    for client, flush in ((theirs, ls_client.flush), (ours, lambda: tracewrap.flush(5.0))):
        if scenario is not None:
            server.enqueue(scenario)
        results.append(call(client))
        # each side's runs, alone in the recorder
        yield_runs = _runs(recorder, flush, count)
        results[-1] = yield_runs
    return results[0], results[1]


def _meta(run: dict[str, Any]) -> dict[str, Any]:
    return run["extra"]["metadata"]


def _ls(run: dict[str, Any]) -> dict[str, Any]:
    """The ls_* metadata that carries a value (wrap_openai sends absent ones as null).

    ``ls_method`` says which langsmith API made the run (``traceable`` for wrap_openai's): tracewrap
    does not go through ``@traceable`` and leaves it out, on purpose.
    """
    return {k: v for k, v in _meta(run).items() if k.startswith("ls_") and v is not None and k != "ls_method"}


def _same_fields(theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    assert ours["name"] == theirs["name"]
    assert ours["run_type"] == theirs["run_type"]
    assert set(ours["inputs"]) == set(theirs["inputs"]), (ours["inputs"], theirs["inputs"])
    assert ours["inputs"] == theirs["inputs"]
    assert _ls(ours) == _ls(theirs)
    assert _meta(theirs)["ls_method"] == "traceable" and "ls_method" not in _meta(ours)
    assert bool(ours.get("error")) == bool(theirs.get("error"))
    assert [e["name"] for e in ours.get("events") or []] == [e["name"] for e in theirs.get("events") or []]
    assert bool(ours.get("parent_run_id")) == bool(theirs.get("parent_run_id"))
    # tracewrap's own extras, beside the ls_* keys
    assert TRACEWRAP_EXTRAS & set(_meta(ours)) and not TRACEWRAP_EXTRAS & set(_meta(theirs))
    assert _meta(ours)["otel_trace_id"] and "otel_trace_id" not in _meta(theirs)


def _usage(run: dict[str, Any]) -> dict[str, Any] | None:
    """usage_metadata without what tracewrap leaves out on purpose: wrap_openai sends empty detail
    dicts where the response reported no details."""
    usage = run["outputs"].get("usage_metadata")
    if usage is None:
        return None
    return {key: value for key, value in usage.items() if value != {}}


def _same_outputs(theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    assert set(ours["outputs"]) == set(theirs["outputs"]), (ours["outputs"], theirs["outputs"])
    assert _usage(ours) == _usage(theirs) and _usage(ours)
    assert ours["outputs"]["usage_metadata"] == _usage(ours)  # never an empty dict nor a made-up 0


_PER_CALL = frozenset({"id", "call_id", "created", "created_at", "completed_at"})


def _stable(value: Any) -> Any:
    """``value`` without what the fake server makes anew for every call (ids, timestamps)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _PER_CALL}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _without_usage(run: dict[str, Any]) -> dict[str, Any]:
    return _stable({k: v for k, v in run["outputs"].items() if k != "usage_metadata"})


def test_chat(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=40, seed=7, stop="END"
        )

    scenario = Scenario(prompt_tokens=40, completion_tokens=9, cached_tokens=32, reasoning_tokens=4)
    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, scenario)
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["name"] == "ChatOpenAI" and ours["run_type"] == "llm"
    assert ours["inputs"] == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_tokens": 40,
        "seed": 7,
        "stop": "END",
    }
    assert _without_usage(ours) == _without_usage(theirs)  # the same dump of the same ChatCompletion
    assert ours["outputs"]["choices"][0]["message"]["content"] == Scenario().text
    assert ours["outputs"]["usage_metadata"] == {
        "input_tokens": 40,
        "output_tokens": 9,
        "total_tokens": 49,
        "input_token_details": {"cache_read": 32, "audio": 0},  # reported: 0, not absent
        "output_token_details": {"reasoning": 4, "audio": 0},
    }
    assert _ls(ours) == {
        "ls_provider": "openai",
        "ls_model_type": "chat",
        "ls_model_name": "gpt-4o-mini",
        "ls_temperature": 0.2,
        "ls_max_tokens": 40,
        "ls_stop": ["END"],
        "ls_invocation_params": {"seed": 7},
        "ls_agent_type": "root",
    }
    assert _meta(ours)["finish_reason"] == "stop" and _meta(ours)["status"] == "success"
    assert not ours.get("events")


def test_audio_tokens_and_a_priced_tier(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    """Audio and priority-tier tokens are priced apart: the run breaks them out as wrap_openai's does."""

    def call(client: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-audio-preview", messages=MESSAGES)

    scenario = Scenario(
        prompt_tokens=40,
        completion_tokens=9,
        cached_tokens=8,
        reasoning_tokens=0,
        audio_tokens=6,
        service_tier="priority",
    )
    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, scenario)
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["outputs"]["usage_metadata"] == {
        "input_tokens": 40,
        "output_tokens": 9,
        "total_tokens": 49,
        "input_token_details": {"audio": 6, "priority_cache_read": 8, "priority": 32},
        "output_token_details": {"audio": 6, "priority_reasoning": 0, "priority": 9},
    }


def test_chat_stream(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> str:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(chunks=5))
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["inputs"]["stream"] is True and ours["inputs"]["stream_options"] == {"include_usage": True}
    for run in (theirs, ours):
        (choice,) = run["outputs"]["choices"]
        assert choice["message"] == {"role": "assistant", "content": Scenario().text}
        assert choice["finish_reason"] == "stop" and choice["index"] == 0
        assert run["outputs"]["usage_metadata"]["output_tokens"] == 7
    # on purpose: the final object is a completion, as the SDK's stream helpers build it
    assert theirs["outputs"]["object"] == "chat.completion.chunk"
    assert ours["outputs"]["object"] == "chat.completion"
    assert _meta(ours)["stream_outcome"] == "completed"
    (event,) = ours["events"]
    assert ours["start_time"] < event["time"] <= ours["end_time"]


def test_chat_stream_on_a_priced_tier(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    """A chat stream served on the flex tier: wrap_openai's run breaks the tokens out by tier for a
    plain call but not for a stream; tracewrap's does for both, so LangSmith prices them at flex."""

    def call(client: Any) -> None:
        stream = client.chat.completions.create(
            model="o4-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        for _ in stream:
            pass

    scenario = Scenario(chunks=3, cached_tokens=5, reasoning_tokens=3, service_tier="flex")
    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, scenario)
    assert _usage(theirs)["input_token_details"] == {"audio": 0, "cache_read": 5}  # type: ignore[index]
    assert _usage(ours) == {
        "input_tokens": 12,
        "output_tokens": 7,
        "total_tokens": 19,
        "input_token_details": {"audio": 0, "flex_cache_read": 5, "flex": 7},
        "output_token_details": {"audio": 0, "flex_reasoning": 3, "flex": 4},
    }


def test_chat_with_tools(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, tool_choice="auto", parallel_tool_calls=False
        )

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(outcome="tool_calls"))
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["inputs"]["tools"] == TOOLS and ours["inputs"]["tool_choice"] == "auto"
    assert _without_usage(ours) == _without_usage(theirs)
    (tool_call,) = ours["outputs"]["choices"][0]["message"]["tool_calls"]
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert _ls(ours)["ls_invocation_params"] == {"parallel_tool_calls": False}
    assert _meta(ours)["finish_reason"] == "tool_calls"


def test_chat_stream_with_tools(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> None:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True
        ):
            pass

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(outcome="tool_calls"))
    _same_fields(theirs, ours)
    ours_call = ours["outputs"]["choices"][0]["message"]["tool_calls"][0]
    theirs_call = theirs["outputs"]["choices"][0]["message"]["tool_calls"][0]
    for key in ("type", "function"):  # ids differ: the fake server makes a new one per call
        assert ours_call[key] == theirs_call[key]
    assert ours_call["id"].startswith("call_")
    assert ours_call["function"]["arguments"] == '{"city":"Paris"}'
    assert "usage_metadata" not in ours["outputs"]  # no include_usage: absent, not 0


def test_responses(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> Any:
        return client.responses.create(
            model="gpt-4.1-mini", input="What is 2+2?", instructions="Be brief.", max_output_tokens=64
        )

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(reasoning_tokens=3))
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["name"] == "ChatOpenAI"
    assert ours["inputs"] == {
        "model": "gpt-4.1-mini",
        "input": "What is 2+2?",
        "instructions": "Be brief.",
        "max_output_tokens": 64,
    }
    assert _without_usage(ours) == _without_usage(theirs)
    assert ours["outputs"]["status"] == "completed"
    assert _ls(ours)["ls_invocation_params"] == {"use_responses_api": True}
    assert ours["outputs"]["usage_metadata"]["output_token_details"] == {"reasoning": 3}


def test_responses_stream(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> None:
        for _ in client.responses.create(model="gpt-4.1-mini", input="What is 2+2?", stream=True):
            pass

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call)
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert _without_usage(ours) == _without_usage(theirs)  # both: the terminal event's Response
    assert ours["outputs"]["output"][0]["content"][0]["text"] == Scenario().text


def test_responses_incomplete(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> Any:
        return client.responses.create(model="gpt-4.1-mini", input="Tell a long story", max_output_tokens=16)

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(outcome="length"))
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert _without_usage(ours) == _without_usage(theirs)
    assert ours["outputs"]["status"] == "incomplete"
    assert ours["outputs"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert _meta(ours)["finish_reason"] == "length"


def test_rate_limited(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> None:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    scenario = Scenario(outcome="http_error", status_code=429)
    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, scenario)
    _same_fields(theirs, ours)
    for run in (theirs, ours):
        assert run["error"].startswith("RateLimitError")
        assert not (run.get("outputs") or {}).get("choices")
    assert _meta(ours)["http_status_code"] == 429 and _meta(ours)["status"] == "error"


@pytest.mark.parametrize("outcome", ["failed", "stream_error"])
def test_a_failed_response_is_an_error_run(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any, outcome: str
) -> None:
    """The API says the response failed (``response.failed``, or an ``error`` event mid-stream); the
    SDK raises nothing. wrap_openai's run reads as a success; tracewrap's is an error, as its span."""

    def call(client: Any) -> list[str]:
        return [
            event.type for event in client.responses.create(model="gpt-4.1-mini", input="hi", stream=True)
        ]

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(outcome=outcome, chunks=3))
    assert not theirs.get("error")
    assert ours["error"] == f"server_error: {STREAM_ERROR_MESSAGE}"
    assert ours["name"] == theirs["name"] == "ChatOpenAI"
    # the Response's own status when it ended (failed); an error event leaves none, so the call's
    # outcome (error), not the created snapshot's stale in_progress
    assert _meta(ours)["status"] == {"failed": "failed", "stream_error": "error"}[outcome]


def test_a_stream_closed_early_is_not_an_error(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    """The application stops reading (``break``, then ``close()``): wrap_openai's run is an error
    (``GeneratorExit``), tracewrap's ends with what was read and says how the stream ended."""

    def call(client: Any) -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        for index, _ in enumerate(stream):
            if index == 1:
                break
        stream.close()

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(chunks=6))
    assert theirs["error"].startswith("GeneratorExit")
    assert not ours.get("error") and ours["end_time"]
    assert _meta(ours)["stream_outcome"] == "closed_early" and _meta(ours)["status"] == "success"
    read = ours["outputs"]["choices"][0]["message"]["content"]  # the text of the chunks read
    assert read and Scenario().text.startswith(read) and len(read) < len(Scenario().text)


def test_legacy_completion_usage(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    """wrap_openai leaves a legacy completion's ``usage`` as the API sent it; tracewrap's run has
    ``usage_metadata``, as for a chat call, so LangSmith counts and prices it."""

    def call(client: Any) -> Any:
        return client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")

    (theirs,), (ours,) = _side_by_side(
        recorder, server, pair, call, Scenario(prompt_tokens=5, completion_tokens=3)
    )
    assert ours["name"] == theirs["name"] == "OpenAI" and ours["run_type"] == theirs["run_type"] == "llm"
    assert "usage_metadata" not in theirs["outputs"]
    assert theirs["outputs"]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert ours["outputs"]["usage_metadata"] == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    assert "usage" not in ours["outputs"]


def test_embeddings(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    def call(client: Any) -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])

    _theirs, ours = pair[0], pair[1]
    call(_theirs)  # wrap_openai makes no run for embeddings
    pair[2].flush()
    assert not recorder.wait_for_runs(1, timeout=0.5)
    call(ours)
    (run,) = _runs(recorder, lambda: tracewrap.flush(5.0), 1)
    assert run["name"] == "OpenAIEmbeddings" and run["run_type"] == "embedding"
    assert run["inputs"] == {"model": "text-embedding-3-small", "input": ["a", "b"]}
    usage = run["outputs"]["usage_metadata"]
    assert usage["input_tokens"] == usage["total_tokens"] > 0 and "output_tokens" not in usage
    data = run["outputs"]["data"]
    assert [d["index"] for d in data] == [0, 1] and all(d["dimensions"] > 0 for d in data)
    assert _ls(run) == {
        "ls_provider": "openai",
        "ls_model_name": "text-embedding-3-small",
        "ls_invocation_params": {},
        "ls_agent_type": "root",
    }


def test_inside_traceable(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    ls_client = pair[2]

    def call(client: Any) -> Any:
        # wrap_openai's parent goes through its client; tracewrap's through langsmith's default
        # client, which is tracewrap's own here
        @traceable(name="pipeline", client=ls_client if client is pair[0] else None)
        def pipeline() -> str:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            return reply.choices[0].message.content

        return pipeline()

    theirs, ours = _side_by_side(recorder, server, pair, call, count=2)
    for runs in (theirs, ours):
        parent, child = runs
        assert parent["name"] == "pipeline" and child["parent_run_id"] == parent["id"]
        assert child["trace_id"] == parent["trace_id"]
        assert child["dotted_order"].startswith(parent["dotted_order"] + ".")
    _same_fields(theirs[1], ours[1])
    _same_outputs(theirs[1], ours[1])


def test_stream_is_posted_when_it_starts(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    ours = pair[1]
    server.enqueue(Scenario(chunks=3))
    stream = ours.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert tracewrap.flush(5.0)
    (running,) = recorder.wait_for_runs(1, ended=False)
    assert not running.get("end_time") and running["inputs"]["stream"] is True
    assert running["name"] == "ChatOpenAI"
    assert "".join(c.choices[0].delta.content or "" for c in stream) == Scenario().text
    assert tracewrap.flush(5.0)
    (ended,) = recorder.wait_for_runs(1)
    assert ended["id"] == running["id"] and ended["end_time"]
    assert ended["outputs"]["choices"][0]["message"]["content"] == Scenario().text
    patches = [path for method, path, _ in recorder.requests if method == "PATCH"]
    posts = [path for method, path, _ in recorder.requests if method == "POST"]
    assert len(posts) >= 2 or patches  # the post, then the patch (multipart carries both ops)


def test_memory_is_flat_in_stream_length(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    """LangSmith's wrapper keeps every chunk until the stream ends; tracewrap folds them as they pass."""
    import gc

    from openai.types.chat import ChatCompletionChunk

    def live_chunks() -> int:
        # type(), not isinstance(): a dead weakref.proxy among the objects raises on the latter
        return sum(type(o) is ChatCompletionChunk for o in gc.get_objects())

    def live_chunks_at_the_last_one(client: Any) -> int:
        """Chunks alive at the last one, beyond those alive before the stream: earlier tests' objects
        (chunks held by frames of unclosed connections...) are not this stream's, and a collection of
        them half-way changed the count (flaky on Python 3.10 and 3.13); no collection runs meanwhile,
        so only what reference counting frees is freed."""
        server.enqueue(Scenario(text="abcd" * 400, chunks=400))
        gc.collect()
        before = live_chunks()
        gc.disable()
        try:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            counts = [live_chunks() - before for chunk in stream if not chunk.choices]  # usage comes last
        finally:
            gc.enable()
        return counts[0]

    theirs = live_chunks_at_the_last_one(pair[0])
    ours = live_chunks_at_the_last_one(pair[1])
    assert theirs >= 400
    assert ours <= 3  # the chunk in hand and the envelope kept for the final object
    assert tracewrap.flush(5.0) and pair[2].flush() is not False
    runs = recorder.wait_for_runs(2)
    texts = [r["outputs"]["choices"][0]["message"]["content"] for r in runs]
    assert texts == ["abcd" * 400] * 2


def _warnings_of_the_call(caught: list[Any]) -> list[str]:
    """The warnings a call raised: not the ResourceWarnings of earlier tests' unclosed sockets, which
    the garbage collector may report during any call (flaky on Python 3.13 after tests/agent_runs)."""
    return [
        f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, ResourceWarning)
    ]


def test_responses_parse(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        value: int

    def call(client: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = client.responses.parse(model="gpt-4.1-mini", input="What is 2+2?", text_format=Answer)
        assert parsed.output_parsed == Answer(value=4)
        if client is pair[1]:  # dumping a parsed Response warns on some SDKs: none of it reaches the app
            assert not [w for w in caught if "tracewrap" in w.filename], [str(w.message) for w in caught]
            assert _warnings_of_the_call(caught) == _warnings_of_the_call(bare_warnings)

    # what the bare SDK warns for the same call (nothing on openai 3)
    with warnings.catch_warnings(record=True) as bare_warnings:
        warnings.simplefilter("always")
        server.enqueue(Scenario(json_text='{"value":4}'))
        bare = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
        bare.responses.parse(model="gpt-4.1-mini", input="What is 2+2?", text_format=Answer)
        bare.close()
    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(json_text='{"value":4}'))
    _same_fields(theirs, ours)
    _same_outputs(theirs, ours)
    assert ours["inputs"]["text_format"] == Answer.model_json_schema()
    assert _without_usage(ours) == _without_usage(theirs)


def test_chat_parse_response_format(recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any) -> None:
    """``chat.completions.parse(response_format=Model)``: wrap_openai's inputs hold the class's repr,
    tracewrap's its JSON schema (as both do for ``responses.parse``'s ``text_format``)."""
    from pydantic import BaseModel

    class Greeting(BaseModel):
        greeting: str

    def call(client: Any) -> Any:
        return client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting)

    (theirs,), (ours,) = _side_by_side(recorder, server, pair, call, Scenario(json_text='{"greeting": "hi"}'))
    assert theirs["inputs"]["response_format"] == repr(Greeting)
    assert ours["inputs"]["response_format"] == Greeting.model_json_schema()
    assert {k: v for k, v in ours["inputs"].items() if k != "response_format"} == {
        k: v for k, v in theirs["inputs"].items() if k != "response_format"
    }
    _same_outputs(theirs, ours)
    assert _without_usage(ours) == _without_usage(theirs)


@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_a_cancelled_call_is_not_a_success(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    stream: bool,
) -> None:
    """An async call whose caller gives up (its task cancelled): wrap_openai's run of a
    plain call carries the ``CancelledError`` (as any cancelled ``@traceable`` function's does) and
    its stream's run none; tracewrap's carries it in both, with ``status`` ``cancelled``."""
    ls_client = _configure(monkeypatch, recorder, receiver)

    def async_client() -> openai.AsyncOpenAI:
        transport = _ToFakeServerAsync(server.port)
        return openai.AsyncOpenAI(
            api_key=API_KEY, max_retries=0, http_client=http.AsyncClient(transport=transport)
        )

    async def give_up(client: Any) -> None:
        """Cancel the call once the server has it (a stream: once its first chunk was read)."""
        reading = asyncio.Event()

        async def call() -> None:
            if stream:
                chunks = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                async for _ in chunks:
                    reading.set()
            else:
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        asked = len(server.requests)
        task = asyncio.create_task(call())
        if stream:
            await asyncio.wait_for(reading.wait(), 10)
        else:
            for _ in range(1000):
                if len(server.requests) > asked:
                    break
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    runs = []
    clients = (
        wrap_openai(async_client(), tracing_extra={"client": ls_client}),
        tracewrap.wrap(async_client()),
    )
    for client, flush in zip(clients, (ls_client.flush, lambda: tracewrap.flush(5.0)), strict=True):
        recorder.clear()
        server.enqueue(Scenario(chunks=20, chunk_delay_s=0.2) if stream else Scenario(delay_s=2.0))
        asyncio.run(give_up(client))
        (run,) = _runs(recorder, flush, 1)
        runs.append(run)
    theirs, ours = runs
    assert ours["name"] == theirs["name"] and ours["end_time"]
    assert bool(theirs.get("error")) is not stream
    if not stream:
        assert theirs["error"].startswith("CancelledError")
    assert ours["error"] == "CancelledError: the caller cancelled the call"
    assert _meta(ours)["status"] == "cancelled"
    assert _meta(ours).get("stream_outcome") == ("cancelled" if stream else None)


# ---------------------------------------------------------------------------------- LangSmith's context

SECRET_PROMPT = "my secret prompt 4417"


def _secret_calls(client: Any) -> None:
    """A call and a stream (whose run would be posted as it starts)."""
    messages = [{"role": "user", "content": SECRET_PROMPT}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass


def _tracewrap_spans(receiver: OTLPReceiver, count: int) -> list[Any]:
    def ours() -> list[Any]:
        return [s for s in receiver.store.spans() if s.scope == "tracewrap"]

    assert receiver.store.wait_for(lambda: len(ours()) >= count)
    spans = ours()
    assert len(spans) == count
    return spans


@pytest.mark.parametrize(
    "switch", ["tracing_context", "inside_traceable", "local", "configure", "configure_thread"]
)
def test_langsmith_switched_off_sends_no_run(
    recorder: LangSmithRecorder, receiver: OTLPReceiver, server: FakeOpenAIServer, pair: Any, switch: str
) -> None:
    """LangSmith's own switch says no: ``tracing_context(enabled=False)`` (around a bare call, or
    around a ``@traceable`` function), ``enabled="local"`` (kept in memory, never sent),
    ``langsmith.configure(enabled=False)`` (process-wide: in another thread too). wrap_openai sends
    nothing, and neither does tracewrap (not the prompt either); tracewrap's OTel spans are made as
    ever: the switch is LangSmith's only."""
    theirs, ours, ls_client = pair

    def switched_off(client: Any) -> None:
        if switch == "inside_traceable":

            @traceable(name="handler", client=ls_client if client is theirs else None)
            def handler() -> None:
                _secret_calls(client)

            with langsmith.tracing_context(enabled=False):
                handler()
        elif switch in ("tracing_context", "local"):
            with langsmith.tracing_context(enabled=False if switch == "tracing_context" else "local"):
                _secret_calls(client)
        else:
            langsmith.configure(enabled=False)
            try:
                if switch == "configure":
                    _secret_calls(client)
                else:
                    worker = threading.Thread(target=_secret_calls, args=(client,))
                    worker.start()
                    worker.join()
            finally:
                langsmith.configure(enabled=None)

    for client, flush in ((theirs, ls_client.flush), (ours, lambda: tracewrap.flush(5.0))):
        recorder.clear()
        receiver.clear()
        switched_off(client)
        # switched on again: this call's run is sent, after any the switched-off calls had queued
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.1)
        assert flush() is not False
        runs = recorder.wait_for_runs(1)
        assert [r["inputs"]["messages"] for r in runs] == [MESSAGES], (client is ours, runs)
        assert SECRET_PROMPT.encode() not in b"".join(recorder.raw)
    spans = _tracewrap_spans(receiver, 3)  # ours: two calls switched off for LangSmith, then one on
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    assert all(s.attributes["gen_ai.usage.input_tokens"] == 12 for s in spans)


@pytest.mark.parametrize("where", ["tracing_context", "inside_traceable", "configure"])
def test_langsmith_context_project_tags_and_metadata(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any, where: str
) -> None:
    """The project, tags and metadata LangSmith's context gives a run (``tracing_context``, a
    ``@traceable`` parent's, ``langsmith.configure``'s, also in another thread): wrap_openai's run
    has them, and tracewrap's the same (not ``ls_method``, which marks @traceable's own runs)."""
    theirs_client, _ours_client, ls_client = pair

    def call(client: Any) -> Any:
        if where == "tracing_context":
            context = {"project_name": "team-b", "tags": ["exp-7"], "metadata": {"tenant": "acme"}}
            with langsmith.tracing_context(**context):
                _secret_calls(client)
        elif where == "inside_traceable":

            @traceable(
                name="handler",
                tags=["parent-tag"],
                metadata={"tenant": "acme"},
                client=ls_client if client is theirs_client else None,
            )
            def handler() -> None:
                with langsmith.tracing_context(tags=["inner-tag"], metadata={"step": 2}):
                    _secret_calls(client)

            handler()
        else:
            langsmith.configure(project_name="team-c", tags=["global-tag"], metadata={"tenant": "acme"})
            try:
                worker = threading.Thread(target=_secret_calls, args=(client,))
                worker.start()
                worker.join()
            finally:
                langsmith.configure(project_name=None, tags=None, metadata=None)

    count = 3 if where == "inside_traceable" else 2
    theirs, ours = _side_by_side(recorder, server, pair, call, count=count)
    theirs = [r for r in theirs if r["run_type"] == "llm"]
    ours = [r for r in ours if r["run_type"] == "llm"]
    assert len(theirs) == len(ours) == 2  # the call and the stream
    project, tags, metadata = {
        "tracing_context": ("team-b", ["exp-7"], {"tenant": "acme"}),
        "inside_traceable": ("tw-tests", ["inner-tag", "parent-tag"], {"tenant": "acme", "step": 2}),
        "configure": ("team-c", ["global-tag"], {"tenant": "acme"}),
    }[where]
    for their_run, our_run in zip(theirs, ours, strict=True):
        _same_fields(their_run, our_run)
        for run in (their_run, our_run):
            assert run["session_name"] == project
            assert sorted(run["tags"]) == tags
            assert {k: _meta(run).get(k) for k in metadata} == metadata
        assert "ls_method" not in _meta(our_run)


# ------------------------------------------------------------------------ wrap_openai and tracewrap both

_ORDERS = [
    "wrap_openai_on_patched_sdk",
    "wrap_openai_on_wrapped_client",
    "patched_sdk_after_wrap_openai",
    "tracewrap_on_wrap_openai_client",
]


def _both_wrapped(order: str, client: Any, ls_client: langsmith.Client) -> Any:
    """A client traced by wrap_openai and by tracewrap, wrapped in the given order."""
    extra: Any = {"client": ls_client}
    if order == "wrap_openai_on_patched_sdk":  # wrap(openai) or auto-instrumentation, then wrap_openai
        tracewrap.wrap(openai)
        return wrap_openai(client, tracing_extra=extra)
    if order == "wrap_openai_on_wrapped_client":
        return wrap_openai(tracewrap.wrap(client), tracing_extra=extra)
    if order == "patched_sdk_after_wrap_openai":  # traced at the SDK's request layer, inside wrap_openai
        wrapped = wrap_openai(client, tracing_extra=extra)
        tracewrap.wrap(openai)
        return wrapped
    return tracewrap.wrap(wrap_openai(client, tracing_extra=extra))  # tracewrap's wrapper outside


def _llm_runs_of(recorder: LangSmithRecorder, count: int) -> list[dict[str, Any]]:
    runs = recorder.wait_for_runs(count)
    time.sleep(0.2)  # a second run for the same call would be here by now
    with recorder.lock:
        return (
            sorted(
                (r for r in recorder.runs.values() if r.get("run_type") == "llm"),
                key=lambda r: r["dotted_order"],
            )
            if len(runs) >= count
            else []
        )


@pytest.mark.parametrize("order", _ORDERS)
def test_a_call_wrap_openai_traces_gets_one_run(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    order: str,
) -> None:
    """A client wrap_openai traces and tracewrap traces too (a LangSmith user turning tracewrap on):
    wrap_openai's run is the call's one ``llm`` run, so LangSmith counts its tokens once, whichever
    wrapper is outside; tracewrap's OTel span is made as ever, a stream's too: outside wrap_openai,
    tracewrap gets langsmith's stream wrapper back and traces the SDK's stream inside it (before,
    the span ended at once, with no usage, finish or stream outcome). The stream the user gets
    still works as a context manager, left after its first chunk."""
    ls_client = _configure(monkeypatch, recorder, receiver)
    transport = _ToFakeServer(server.port)
    client = _both_wrapped(
        order,
        openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=http.Client(transport=transport)),
        ls_client,
    )

    @traceable(name="pipeline", client=ls_client)
    def pipeline() -> None:
        _secret_calls(client)

    _secret_calls(client)  # two root runs
    pipeline()  # two children
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    assert tracewrap.flush(5.0) and ls_client.flush() is not False
    llm = _llm_runs_of(recorder, 6)
    assert len(llm) == 5, recorder.runs
    (parent,) = [r for r in recorder.runs.values() if r["name"] == "pipeline"]
    assert [bool(r.get("parent_run_id")) for r in llm] == [False, False, True, True, False]
    assert all(r["parent_run_id"] == parent["id"] for r in llm[2:4])
    for run in llm:  # wrap_openai's
        assert _meta(run)["ls_method"] == "traceable" and "otel_trace_id" not in _meta(run)
    assert [r["outputs"]["usage_metadata"]["total_tokens"] for r in llm[:4]] == [19] * 4
    spans = _tracewrap_spans(receiver, 5)
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in spans] == [12] * 4 + [None]
    assert [s.attributes.get("tracewrap.stream.outcome") for s in spans] == [
        None,
        "completed",
        None,
        "completed",
        "closed_early",
    ]
    assert [s.attributes.get("gen_ai.response.finish_reasons") for s in spans[:4]] == [("stop",)] * 4
    client.close()


@pytest.mark.parametrize("order", _ORDERS)
def test_a_call_wrap_openai_traces_gets_one_run_async(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    order: str,
) -> None:
    """The same with an async client. wrap_openai's run of an async stream is LangSmith's current run
    only while the stream is read: tracewrap knows it at the first chunk. Under wrap_openai's wrapper
    (the first two orders) langsmith must take tracewrap's method for an async one, as it takes the
    SDK's: else its run ends at once, its output the coroutine, and tracewrap's run is sent too.
    Outside wrap_openai, tracewrap gets wrap_openai's stream wrapper back and traces the SDK's stream
    inside it (before, it saw no chunk: its span had no usage and a second, empty run was sent)."""
    ls_client = _configure(monkeypatch, recorder, receiver)
    transport = _ToFakeServerAsync(server.port)
    client = _both_wrapped(
        order,
        openai.AsyncOpenAI(api_key=API_KEY, max_retries=0, http_client=http.AsyncClient(transport=transport)),
        ls_client,
    )

    async def calls() -> None:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            async for _ in stream:
                pass

    @traceable(name="pipeline", client=ls_client)
    async def pipeline() -> None:
        await calls()

    async def main() -> None:
        await calls()
        await pipeline()
        await client.close()

    asyncio.run(main())
    assert tracewrap.flush(5.0) and ls_client.flush() is not False
    count = 4
    llm = _llm_runs_of(recorder, count + 1)
    assert len(llm) == count, recorder.runs
    assert [bool(r.get("parent_run_id")) for r in llm] == [False] * (count // 2) + [True] * (count // 2)
    assert all(_meta(r)["ls_method"] == "traceable" and "otel_trace_id" not in _meta(r) for r in llm)
    assert [r["outputs"]["usage_metadata"]["total_tokens"] for r in llm] == [19] * count
    assert all(r["outputs"]["choices"][0]["message"]["content"] == Scenario().text for r in llm)
    assert inspect.iscoroutinefunction(client.chat.completions.create)  # wrap_openai's async wrapper
    spans = _tracewrap_spans(receiver, count)
    usage = [tuple(s.attributes[f"gen_ai.usage.{k}_tokens"] for k in ("input", "output")) for s in spans]
    assert usage == [(12, 7)] * count
    outcomes = [s.attributes.get("tracewrap.stream.outcome") for s in spans]
    assert outcomes == [None, "completed"] * 2


def test_an_applications_own_llm_run_is_not_taken_for_wrap_openais(
    recorder: LangSmithRecorder, server: FakeOpenAIServer, pair: Any
) -> None:
    """The application's own ``@traceable(run_type="llm")`` around a call (LangSmith's recipe for a
    custom model run: ``ls_provider`` and ``ls_model_name`` in its metadata) is not wrap_openai's:
    tracewrap's run for the call is sent, its child."""
    ours = pair[1]

    custom = {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}  # LangSmith's custom model run

    @traceable(run_type="llm", name="my_model", metadata=custom)
    def my_model(model: str, messages: list[dict[str, str]]) -> str:
        return ours.chat.completions.create(model=model, messages=messages).choices[0].message.content

    assert my_model("gpt-4o-mini", MESSAGES) == Scenario().text
    outer, inner = _runs(recorder, lambda: tracewrap.flush(5.0), 2)
    assert outer["name"] == "my_model" and inner["name"] == "ChatOpenAI"
    assert inner["parent_run_id"] == outer["id"] and _meta(inner)["otel_trace_id"]
    assert inner["outputs"]["usage_metadata"]["total_tokens"] == 19


@pytest.mark.parametrize("how", ["tracing_context", "traceable_client", "configure"])
def test_a_run_goes_through_the_langsmith_client_the_application_chose(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    how: str,
) -> None:
    """The application's own langsmith client (``tracing_context(client=...)``, ``@traceable(client=
    ...)``, ``langsmith.configure(client=...)``) sends tracewrap's run as it sends wrap_openai's and
    its own, anonymizer included, and tracewrap's flush flushes that client too. tracewrap's client
    sent it to the environment's endpoint: a child landed away from its parent, and the
    application's anonymizer was passed by."""
    _configure(monkeypatch, recorder, receiver)
    elsewhere = LangSmithRecorder().start()
    app_client = langsmith.Client(
        api_url=elsewhere.url,
        api_key=LS_KEY,
        anonymizer=lambda data: json.loads(json.dumps(data).replace(SECRET_PROMPT, "<hidden>")),
    )
    client = tracewrap.wrap(openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0))
    messages = [{"role": "user", "content": SECRET_PROMPT}]
    try:
        if how == "tracing_context":
            with langsmith.tracing_context(client=app_client):
                client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        elif how == "traceable_client":
            traceable(name="handler", client=app_client)(
                lambda: client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            )()
        else:
            langsmith.configure(client=app_client)
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            finally:
                langsmith.configure(client=None)
        tracewrap.flush(5.0)  # it flushes the application's client too, as it sent runs of ours
        runs = elsewhere.wait_for_runs(2 if how == "traceable_client" else 1)
        llm = [r for r in runs if r["run_type"] == "llm"]
        assert [r["name"] for r in llm] == ["ChatOpenAI"], runs
        assert llm[0]["inputs"]["messages"] == [{"role": "user", "content": "<hidden>"}]
        assert SECRET_PROMPT.encode() not in b"".join(elsewhere.raw)
        if how == "traceable_client":
            (parent,) = [r for r in runs if r["name"] == "handler"]
            assert llm[0]["parent_run_id"] == parent["id"]
        assert not recorder.runs  # none through tracewrap's own client
    finally:
        app_client.cleanup(timeout=1)
        client.close()
        elsewhere.stop()

"""Every other API call (files, batches, vector stores, conversations, responses.cancel / delete,
beta.*): one generic ``api_call`` span per HTTP request, named after its method and route template."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import tracewrap
from tests.core.helpers import API_KEY, MESSAGES, attrs
from tracewrap.testing import Scenario

UPLOAD = ("requests.jsonl", b'{"custom_id": "request-1"}\n')


def _spans(telemetry: Any) -> list[Any]:
    return [s for s in telemetry.spans() if s.instrumentation_scope.name == "tracewrap"]


def _client(server: Any, telemetry: Any, mode: str, **kwargs: Any) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if mode == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs(), **kwargs)
        return client
    return tracewrap.wrap(client, **telemetry.wrap_kwargs(), **kwargs)


def _names(telemetry: Any) -> list[str]:
    return [s.name for s in _spans(telemetry)]


@pytest.mark.parametrize("mode", ["module", "client"])
def test_files_are_one_span_per_request_with_ids_templated(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    created = client.files.create(file=UPLOAD, purpose="batch")
    second = client.files.create(file=UPLOAD, purpose="batch")
    listed = [f.id for f in client.files.list(limit=1)]  # auto-pagination: two pages, two requests
    retrieved = client.files.retrieve(created.id)
    deleted = client.files.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(second.id)

    assert listed == [created.id, second.id] and retrieved.id == created.id and deleted.deleted is True
    assert created.id.startswith("file-") and any(c.isdigit() for c in created.id)
    spans = _spans(telemetry)
    assert len(spans) == len(server.requests) == 7
    assert _names(telemetry) == [
        "POST /files",
        "POST /files",
        "GET /files",
        "GET /files",
        "GET /files/{id}",
        "DELETE /files/{id}",
        "GET /files/{id}",
    ]
    for span, request in zip(spans, server.requests, strict=True):
        a = attrs(span)
        assert a["gen_ai.operation.name"] == "api_call"
        assert a["tracewrap.http.method"] == request.method
        assert a["tracewrap.http.route"] == span.name.split(" ", 1)[1]
        assert a["gen_ai.provider.name"] == "openai_compatible" and a["server.address"] == "127.0.0.1"
        assert span.kind.name == "CLIENT"
        assert not any(created.id in str(v) or second.id in str(v) for v in a.values())  # ids templated
        assert "gen_ai.request.model" not in a and "gen_ai.usage.input_tokens" not in a
    failed = attrs(spans[-1])
    assert (failed["error.type"], failed["http.response.status_code"]) == ("NotFoundError", 404)
    assert spans[-1].status.status_code.name == "ERROR"
    assert all(s.status.status_code.name == "UNSET" for s in spans[:-1])

    # the duration histogram has the generic calls under their operation; no tokens, no finishes
    durations = {
        (p.attributes["gen_ai.operation.name"], p.attributes.get("error.type")): p.count
        for p in telemetry.points("gen_ai.client.operation.duration")
    }
    assert durations == {("api_call", None): 6, ("api_call", "NotFoundError"): 1}
    assert telemetry.points("gen_ai.client.token.usage") == []
    assert telemetry.points("tracewrap.client.finishes") == []


@pytest.mark.parametrize("mode", ["module", "client"])
def test_other_families_and_a_traced_call_stay_one_span_each(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    batch = client.batches.create(
        input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
    )
    client.batches.retrieve(batch.id)
    store = client.vector_stores.create(name="docs")
    conversation = client.conversations.create()
    assistant = client.beta.assistants.create(model="gpt-4o-mini", name="helper")
    response = client.responses.create(model="gpt-4.1-mini", input="hi")  # a traced method: its own span
    cancelled = client.responses.cancel(response.id)
    client.responses.delete(response.id)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert (store.id[:3], conversation.id[:5], assistant.model) == ("vs_", "conv_", "gpt-4o-mini")
    assert cancelled.status == "cancelled" and cancelled.usage is not None
    spans = _spans(telemetry)
    assert len(spans) == len(server.requests) == 9
    assert _names(telemetry) == [
        "POST /batches",
        "GET /batches/{id}",
        "POST /vector_stores",
        "POST /conversations",
        "POST /assistants",
        "chat gpt-4.1-mini",
        "cancel_response",  # read as a fetch: it answers with the response (tests/core/test_counting.py)
        "DELETE /responses/{id}",
        "chat gpt-4o-mini",
    ]
    by_name = {s.name: attrs(s) for s in spans}
    assert by_name["POST /assistants"]["gen_ai.request.model"] == "gpt-4o-mini"  # the request's model
    assert by_name["POST /assistants"]["gen_ai.response.model"] == "gpt-4o-mini"
    cancel = by_name["cancel_response"]
    assert cancel["gen_ai.operation.name"] == "cancel_response"
    assert cancel["gen_ai.response.model"] == response.model and cancel["gen_ai.response.id"] == response.id
    assert "gen_ai.usage.input_tokens" not in cancel  # the create told the usage: counted once
    assert by_name["chat gpt-4.1-mini"]["gen_ai.usage.input_tokens"] == 12
    tokens = sum(p.sum for p in telemetry.points("gen_ai.client.token.usage"))
    assert tokens == 2 * (12 + 7)  # the two model calls only (the fake answers 12 in, 7 out)


@pytest.mark.parametrize("mode", ["module", "client"])
def test_streaming_content_stays_untouched(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode)
    file = client.files.create(file=UPLOAD, purpose="batch")
    with client.files.with_streaming_response.content(file.id) as response:
        streamed = b"".join(response.iter_bytes())
    raw = client.files.with_raw_response.retrieve(file.id)
    content = client.files.content(file.id).read()

    assert streamed == content and streamed.startswith(b'{"custom_id": "request-1"')
    assert raw.parse().id == file.id and raw.http_response.status_code == 200
    spans = _spans(telemetry)
    assert len(spans) == len(server.requests) == 4
    assert _names(telemetry) == [
        "POST /files",
        "GET /files/{id}/content",
        "GET /files/{id}",
        "GET /files/{id}/content",
    ]
    assert "tracewrap.stream.outcome" not in attrs(spans[1])  # read to its end: not closed early


@pytest.mark.parametrize("mode", ["module", "client"])
def test_async_generic_calls(server, telemetry, mode) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if mode == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
    else:
        client = tracewrap.wrap(client, **telemetry.wrap_kwargs())

    async def main() -> list[str]:
        first = await client.files.create(file=UPLOAD, purpose="batch")
        await client.files.create(file=UPLOAD, purpose="batch")
        ids = [f.id async for f in client.files.list(limit=1)]
        await client.files.retrieve(first.id)
        await client.files.delete(first.id)
        batch = await client.batches.create(
            input_file_id=first.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        await client.batches.retrieve(batch.id)
        await client.conversations.create()
        await client.beta.assistants.create(model="gpt-4o-mini")
        async with client.files.with_streaming_response.content(ids[1]) as response:
            await response.read()
        await client.close()
        return ids

    assert len(asyncio.run(main())) == 2
    assert len(_spans(telemetry)) == len(server.requests) == 11
    assert _names(telemetry) == [
        "POST /files",
        "POST /files",
        "GET /files",
        "GET /files",
        "GET /files/{id}",
        "DELETE /files/{id}",
        "POST /batches",
        "GET /batches/{id}",
        "POST /conversations",
        "POST /assistants",
        "GET /files/{id}/content",
    ]
    assert {attrs(s)["gen_ai.operation.name"] for s in _spans(telemetry)} == {"api_call"}


@pytest.mark.parametrize("mode", ["module", "client"])
def test_paths_narrow_generic_spans_away_and_extra_paths_keep_them(server, telemetry, mode) -> None:
    client = _client(server, telemetry, mode, paths=["chat.completions.create"])
    client.files.create(file=UPLOAD, purpose="batch")
    client.batches.create(
        input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert _names(telemetry) == ["chat gpt-4o-mini"]  # the user narrowed: only the named path

    telemetry.spans_exporter.clear()
    server.clear()
    client = _client(server, telemetry, mode, extra_paths=["files.create"])
    client.files.create(file=UPLOAD, purpose="batch")  # named: traced by its method, one span
    client.files.list()
    assert _names(telemetry) == ["files.create", "GET /files"]
    assert len(server.requests) == 2


def test_a_failed_generic_call_and_a_scenario_error(server, telemetry) -> None:
    client = _client(server, telemetry, "module")
    server.enqueue(Scenario(outcome="http_error", status_code=429, error_message="slow down"))
    with pytest.raises(openai.RateLimitError):
        client.vector_stores.create(name="docs")
    a = attrs(telemetry.one_span())
    assert (a["error.type"], a["http.response.status_code"]) == ("RateLimitError", 429)
    assert telemetry.one_span().name == "POST /vector_stores"

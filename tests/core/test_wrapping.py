"""How wrap() installs: the SDK patched in place, clients, paths, idempotency, unwrap, transparency."""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import json
import pickle
import threading
import time
import types
import typing

import openai
import pytest
from openai import OpenAI as EarlyOpenAI
from opentelemetry import trace

import tracewrap
from tests.core.helpers import API_KEY, MESSAGES, async_client, attrs, sync_client
from tracewrap.endpoints import KNOWN_PATHS, resolve
from tracewrap.interception.install import TracedMethod
from tracewrap.testing import Scenario


def _module(telemetry, **options):
    return tracewrap.wrap(openai, **telemetry.wrap_kwargs(), **options)


class TenantClient(openai.OpenAI):
    """An application's own subclass, defined before any wrap."""


def test_module_wrap_is_in_place_and_transparent(telemetry) -> None:
    assert _module(telemetry) is openai
    assert openai.OpenAI is EarlyOpenAI and type(openai.OpenAI) is type  # the SDK's own class
    client = openai.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:1/v1")
    assert type(client) is openai.OpenAI and isinstance(client, EarlyOpenAI)
    assert pickle.loads(pickle.dumps(openai.OpenAI)) is openai.OpenAI
    assert copy.deepcopy(openai.types.CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3))
    match client:
        case openai.OpenAI(api_key=key):
            assert key == API_KEY
        case _:  # pragma: no cover
            raise AssertionError("a match pattern on the client class failed")

    class MyClient(openai.OpenAI):
        pass

    assert issubclass(MyClient, EarlyOpenAI)
    assert tracewrap.unwrap(openai) is openai


def test_module_wrap_traces_every_client_whoever_made_it(server, telemetry) -> None:
    made_before = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    tenant = TenantClient(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    early = EarlyOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    raw_before = made_before.with_raw_response  # an accessor the SDK caches, touched before the wrap
    tracewrap.wrap(openai, **telemetry.wrap_kwargs())  # the statement form: nothing assigned
    after = openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    made_before.chat.completions.create(model="before", messages=MESSAGES)
    tenant.responses.create(model="tenant", input="hi")
    early.embeddings.create(model="early", input="hi")
    raw_before.chat.completions.create(model="raw", messages=MESSAGES).parse()
    with made_before.with_streaming_response.responses.create(model="streaming-raw", input="hi") as raw:
        raw.parse()
    with made_before.chat.completions.stream(model="helper", messages=MESSAGES) as stream:
        stream.get_final_completion()

    async def async_calls() -> None:
        await after.chat.completions.create(model="async", messages=MESSAGES)
        await after.close()

    asyncio.run(async_calls())
    names = sorted(s.name for s in telemetry.spans())
    assert names == sorted(
        [
            "chat before",
            "chat tenant",
            "embeddings early",
            "chat raw",
            "chat streaming-raw",
            "chat helper",
            "chat async",
        ]
    )
    assert len(server.requests) == len(names)  # one span per request, none counted twice


def test_module_level_client_is_traced(server, telemetry, monkeypatch) -> None:
    monkeypatch.setattr(openai, "api_key", API_KEY)
    monkeypatch.setattr(openai, "base_url", server.base_url + "/")
    monkeypatch.setattr(openai, "max_retries", 0)
    # the SDK caches the module-level client; a fresh one here, and none left behind for later tests
    monkeypatch.setattr(openai, "_client", None)
    _module(telemetry)
    openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.one_span().name == "chat gpt-4o-mini"


def test_wrapping_twice_gives_one_span(server, telemetry) -> None:
    _module(telemetry)
    assert _module(telemetry) is openai
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    assert tracewrap.wrap(client, **telemetry.wrap_kwargs()) is client
    assert tracewrap.wrap(tracewrap.wrap(client)) is client
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert len(telemetry.spans()) == 2


def test_a_client_wrapped_on_its_own_keeps_its_options(server, telemetry) -> None:
    _module(telemetry, provider="module-wide")
    own = tracewrap.wrap(
        openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
        provider="own",
        **telemetry.wrap_kwargs(),
    )
    other = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    own.chat.completions.create(model="m", messages=MESSAGES)
    other.chat.completions.create(model="m", messages=MESSAGES)
    providers = [attrs(s)["gen_ai.provider.name"] for s in telemetry.spans()]
    assert providers == ["own", "module-wide"]


def test_a_second_module_wrap_applies_its_options(server, telemetry) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    _module(telemetry, provider="first")
    client.chat.completions.create(model="m", messages=MESSAGES)
    _module(telemetry, provider="second", paths=["chat.completions.create", "responses.create"])
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.embeddings.create(model="e", input="hi")  # no longer in the traced paths
    providers = [attrs(s)["gen_ai.provider.name"] for s in telemetry.spans()]
    assert providers == ["first", "second"]


def test_unwrap_restores_the_sdk(server, telemetry) -> None:
    from openai.resources.chat.completions import Completions

    original = vars(Completions)["create"]
    _module(telemetry)
    assert vars(Completions)["create"] is not original
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert tracewrap.unwrap(openai) is openai
    assert vars(Completions)["create"] is original
    client.chat.completions.create(model="m", messages=MESSAGES)
    openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0).responses.create(
        model="m", input="hi"
    )
    assert len(telemetry.spans()) == 1


def test_unwrap_restores_the_client(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    tracewrap.unwrap(client)
    assert "create" not in vars(client.chat.completions)
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    client.with_options(timeout=5).responses.create(model="m", input="hi")
    assert len(telemetry.spans()) == 1


def test_unwrap_client_under_wrap_openai_keeps_the_process_wide_tracing(server, telemetry) -> None:
    """As the README says: unwrapping one client drops its own options; wrap(openai) still traces it."""
    _module(telemetry)
    client = sync_client(server, telemetry, provider="mine")
    client.embeddings.create(model="e", input="x")
    assert tracewrap.unwrap(client) is client
    client.embeddings.create(model="e", input="x")
    assert [attrs(s)["gen_ai.provider.name"] for s in telemetry.spans()] == ["mine", "openai_compatible"]
    assert tracewrap.unwrap(None) is None and tracewrap.unwrap("openai") == "openai"  # not ours: as it is


@pytest.mark.parametrize("order", ["module-first", "client-first"])
def test_an_async_client_wrapped_under_wrap_openai_is_one_span_per_call(server, telemetry, order) -> None:
    """``wrap(client)`` of an AsyncOpenAI under ``wrap(openai)``, in either order: one span per call,
    with the client's options (each call was traced twice: the client's wrapper made its coroutine
    around the class's before either ran, and the inner one started a call of its own when awaited)."""
    if order == "module-first":
        _module(telemetry)
        client = async_client(server, telemetry, provider="mine")
    else:
        client = async_client(server, telemetry, provider="mine")
        _module(telemetry)

    async def calls() -> None:
        await client.chat.completions.create(model="m", messages=MESSAGES)
        async for _ in await client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
        await client.responses.create(model="m", input="hi")
        await client.embeddings.create(model="e", input="x")

    asyncio.run(calls())
    spans = telemetry.spans()
    assert len(server.requests) == 4
    assert [s.name for s in spans] == ["chat m", "chat m", "chat m", "embeddings e"]
    assert {attrs(s)["gen_ai.provider.name"] for s in spans} == {"mine"}
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 4  # each call counted once


def _patch_like_instructor(client: openai.OpenAI) -> None:
    """Set on the resource itself, as ``instructor.patch(client)`` does: a function over the method
    it found there, which takes an argument of its own, calls the SDK twice (a retry after a failed
    validation) and returns its own object, not the SDK's answer."""
    create = client.chat.completions.create

    @functools.wraps(create)
    def structured(*args, response_model=None, **kwargs):
        first = create(*args, **kwargs)
        second = create(*args, **kwargs)
        return {"model": response_model, "ids": [first.id, second.id]}

    client.chat.completions.create = structured


@pytest.mark.parametrize("order", ["patch-then-wrap", "wrap-then-patch"])
def test_a_patch_someone_set_on_the_resource_is_traced_call_by_call_and_kept_by_unwrap(
    server, telemetry, order
) -> None:
    """``wrap(client)`` over a resource someone patched (instructor) leaves that patch alone and traces
    each SDK call it makes (it traced the patch's whole call as one span that read its own object:
    no response, no usage, one span for two requests); ``unwrap(client)`` takes only tracewrap's layer
    off (it took the patch off too, or left the SDK's method where the patch had been)."""
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    if order == "patch-then-wrap":
        _patch_like_instructor(client)
        tracewrap.wrap(client, **telemetry.wrap_kwargs())
    else:
        tracewrap.wrap(client, **telemetry.wrap_kwargs())
        _patch_like_instructor(client)
    answer = client.chat.completions.create(model="m", messages=MESSAGES, response_model="Person")
    spans = telemetry.spans()
    assert answer["model"] == "Person" and len(server.requests) == 2
    assert [attrs(s)["gen_ai.response.id"] for s in spans] == answer["ids"]
    assert all(attrs(s)["gen_ai.usage.input_tokens"] == 12 for s in spans)
    tracewrap.unwrap(client)
    again = client.chat.completions.create(model="m", messages=MESSAGES, response_model="Person")
    assert again["model"] == "Person" and len(server.requests) == 4  # the patch still there
    assert len(telemetry.spans()) == 2  # and tracewrap's layer gone


def test_derived_clients_are_traced(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    client.with_options(timeout=10).chat.completions.create(model="m", messages=MESSAGES)
    client.copy(max_retries=1).responses.create(model="m", input="hi")
    assert [s.name for s in telemetry.spans()] == ["chat m", "chat m"]


def _what_a_copy_sends(server, client) -> list[str | None]:
    """The API key each call of a shallow copy of ``client`` (its key changed) is sent with: a
    resource the copy builds, the request layer, a client it derives, then the original's call."""
    from openai.types.chat import ChatCompletion

    twin = copy.copy(client)
    twin.api_key = "sk-the-copy"
    server.clear()
    twin.chat.completions.create(model="built-by-copy", messages=MESSAGES)
    twin.post("/chat/completions", body={"model": "posted", "messages": MESSAGES}, cast_to=ChatCompletion)
    twin.with_options(timeout=5).responses.create(model="derived", input="hi")
    client.embeddings.create(model="original", input="hi")
    return [request.headers.get("authorization") for request in server.requests]


def test_a_shallow_copy_of_a_wrapped_client_sends_as_itself(server, telemetry) -> None:
    """``copy.copy(client)`` of a client ``wrap(client)`` traced sends with the copy's own settings,
    as bare (its request layer and ``with_options`` were the original's bound methods, kept in the
    client's ``__dict__``, so the copy sent with the original's key and derived from it), and is
    traced, with the options of the client it copies."""
    bare = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    expected = _what_a_copy_sends(server, bare)
    assert expected == ["Bearer sk-the-copy"] * 3 + [f"Bearer {API_KEY}"]
    client = sync_client(server, telemetry, provider="own")
    assert _what_a_copy_sends(server, client) == expected
    assert not {"request", "copy", "with_options"} & set(vars(client))  # the SDK's methods, on its class
    spans = telemetry.spans()
    assert [s.name for s in spans] == [
        "chat built-by-copy",
        "chat posted",
        "chat derived",
        "embeddings original",
    ]
    assert {attrs(s)["gen_ai.provider.name"] for s in spans} == {"own"}
    assert openai.OpenAI.copy is vars(openai.OpenAI)["copy"].original  # the class's: the SDK's function


def test_a_shallow_copy_of_a_wrapped_async_client_sends_as_itself(server, telemetry) -> None:
    async def sends(client) -> list[str | None]:
        twin = copy.copy(client)
        twin.api_key = "sk-the-copy"
        server.clear()
        await twin.chat.completions.create(model="built-by-copy", messages=MESSAGES)
        await twin.with_options(timeout=5).responses.create(model="derived", input="hi")
        await client.embeddings.create(model="original", input="hi")
        return [request.headers.get("authorization") for request in server.requests]

    expected = asyncio.run(
        sends(openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0))
    )
    assert expected == ["Bearer sk-the-copy"] * 2 + [f"Bearer {API_KEY}"]
    assert asyncio.run(sends(async_client(server, telemetry))) == expected
    assert [s.name for s in telemetry.spans()] == [
        "chat built-by-copy",
        "chat derived",
        "embeddings original",
    ]


@pytest.mark.parametrize("first", ["client", "module"])
def test_the_request_layer_of_a_client_wrapped_on_its_own_keeps_its_options(server, telemetry, first) -> None:
    """``client.post(...)`` of a client ``wrap(client)`` traced: one span, with that client's
    options, whichever of ``wrap(client)`` and ``wrap(openai)`` came first; other clients' posts
    get the process-wide options."""
    own = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    other = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    if first == "client":
        tracewrap.wrap(own, provider="own", **telemetry.wrap_kwargs())
        _module(telemetry, provider="module-wide")
    else:
        _module(telemetry, provider="module-wide")
        tracewrap.wrap(own, provider="own", **telemetry.wrap_kwargs())
    _post(own)
    _post(other)
    _post(copy.copy(own))
    assert [attrs(s)["gen_ai.provider.name"] for s in telemetry.spans()] == ["own", "module-wide", "own"]
    assert len(server.requests) == 3
    tracewrap.unwrap(openai)
    _post(own)
    _post(other)
    assert [attrs(s)["gen_ai.provider.name"] for s in telemetry.spans()][3:] == ["own"]


def _traced_methods(client) -> dict[str, object]:
    """Every method a default wrap traces on ``client``, by path (those this SDK has)."""
    methods = {}
    for path in sorted(KNOWN_PATHS):
        for resource_path, name, _endpoint in resolve(path):
            resource = client
            for part in resource_path.split("."):
                resource = getattr(resource, part, None)
            if resource is not None and getattr(resource, name, None) is not None:
                methods[f"{resource_path}.{name}"] = getattr(resource, name)
    return methods


@pytest.mark.parametrize("how", ["module", "client"])
def test_traced_async_methods_are_coroutine_functions(server, telemetry, how) -> None:
    """What introspection says of a traced method: an async one is a coroutine function, however
    many plain functions the SDK put around its ``async def`` (``chat.completions.create`` is one
    such: tools that look only one level under it, like LangSmith's ``wrap_openai``, find the
    ``async def`` bare and tracewrap must not hide it), also looked up on the class and at the request
    layer; a sync one is not; signatures are the SDK's."""

    def clients():
        return (
            openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
            openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
        )

    bare_sync, bare_async = (_traced_methods(client) for client in clients())
    signatures = {path: inspect.signature(method) for path, method in bare_async.items()}
    if how == "module":
        _module(telemetry)
        sync, aclient = clients()
    else:
        sync, aclient = (tracewrap.wrap(client, **telemetry.wrap_kwargs()) for client in clients())
    traced_sync, traced_async = _traced_methods(sync), _traced_methods(aclient)
    assert "chat.completions.create" in traced_async and set(traced_async) == set(bare_async)
    # tracewrap's, which isinstance takes for bound methods as before
    assert all(type(m) is not types.MethodType for m in traced_async.values())
    assert all(isinstance(m, types.MethodType) for m in traced_async.values())
    assert [p for p, m in traced_async.items() if not inspect.iscoroutinefunction(m)] == []
    assert [p for p, m in traced_sync.items() if inspect.iscoroutinefunction(m)] == []
    assert {p: inspect.signature(m) for p, m in traced_async.items()} == signatures
    assert {p: inspect.signature(m) for p, m in traced_sync.items()} == {
        p: inspect.signature(m) for p, m in bare_sync.items()
    }
    if how == "module":  # the class's method (the SDK's own with wrap(client))
        assert inspect.iscoroutinefunction(type(aclient.chat.completions).create)
    assert inspect.iscoroutinefunction(aclient.request) and not inspect.iscoroutinefunction(sync.request)
    method = aclient.chat.completions.create
    assert inspect.iscoroutinefunction(method.__func__) and callable(method.__func__)
    assert method.__func__.__code__.co_varnames == type(aclient.chat.completions).create.__code__.co_varnames

    async def call() -> object:
        return await aclient.chat.completions.create(model="m", messages=MESSAGES)

    completion = asyncio.run(call())
    assert completion.choices[0].message.content == Scenario().text
    assert [s.name for s in telemetry.spans()] == ["chat m"]


def test_a_resource_is_wrapped_when_the_client_builds_it(server, telemetry) -> None:
    """wrap(client) builds none of the client's resources (on openai 3.x building one imports its
    modules): each is wrapped as the client builds it, before the client stores it."""
    client = sync_client(server, telemetry)
    aclient = async_client(server, telemetry)
    assert not {"chat", "responses", "embeddings", "audio"} & (set(vars(client)) | set(vars(aclient)))
    client.chat.completions.create(model="m", messages=MESSAGES)
    asyncio.run(aclient.chat.completions.create(model="a", messages=MESSAGES))
    assert "responses" not in vars(client)
    # on the resource object itself (the request layer would also trace a call that missed it)
    assert isinstance(vars(client.chat.completions)["create"], TracedMethod)
    assert isinstance(vars(aclient.chat.completions)["create"], TracedMethod)
    client.responses.create(model="r", input="hi")
    assert isinstance(vars(client.responses)["create"], TracedMethod)
    assert [s.name for s in telemetry.spans()] == ["chat m", "chat a", "chat r"]
    tracewrap.unwrap(client)
    assert "create" not in vars(client.chat.completions) and "create" not in vars(client.responses)
    assert "embeddings" not in vars(client)  # unwrap builds nothing either


def test_a_resource_built_while_wrapping_is_wrapped_too(server, telemetry) -> None:
    """A path named by the user is walked at once, building ``client.chat`` before the client is
    marked as wrapped: the known paths deferred under it are wrapped right after."""
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    paths = ["chat.completions.create", "chat.completions.list"]
    tracewrap.wrap(client, paths=paths, **telemetry.wrap_kwargs())
    assert isinstance(vars(client.chat.completions)["create"], TracedMethod)
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert [s.name for s in telemetry.spans()] == ["chat m"]


class RacingClient(openai.OpenAI):
    """Builds ``chat`` slowly, so threads that first use it at once each build one (Python 3.12+:
    ``functools.cached_property`` takes no lock); whichever the client stores must be wrapped."""

    builds = 0

    @functools.cached_property
    def chat(self):  # type: ignore[override]
        from openai.resources.chat import Chat

        RacingClient.builds += 1
        time.sleep(0.05)
        return Chat(self)


def test_a_resource_built_by_threads_at_once_is_wrapped_whichever_is_stored(server, telemetry) -> None:
    client = RacingClient(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    tracewrap.wrap(client, **telemetry.wrap_kwargs())

    def call(model: str) -> None:
        client.chat.completions.create(model=model, messages=MESSAGES)  # the first use, in each thread

    threads = [threading.Thread(target=call, args=(f"m{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RacingClient.builds >= 1
    assert isinstance(vars(client.chat.completions)["create"], TracedMethod)
    client.chat.completions.create(model="after", messages=MESSAGES)
    assert sorted(attrs(s)["gen_ai.request.model"] for s in telemetry.spans()) == [
        "after",
        *(f"m{i}" for i in range(6)),
    ]


def test_paths_select_replace_and_extend(server, telemetry) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    tracewrap.wrap(client, paths=["responses.create"], extra_paths=["models.list"], **telemetry.wrap_kwargs())
    client.chat.completions.create(model="m", messages=MESSAGES)  # not in the set: untraced
    client.responses.create(model="m", input="hi")
    names = [s.name for s in telemetry.spans()]
    assert names == ["chat m"]
    span = telemetry.one_span()
    assert attrs(span)["openai.api.type"] == "responses"


def test_unknown_endpoint_gets_a_generic_span(server, telemetry) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    tracewrap.wrap(client, paths=["models.retrieve"], **telemetry.wrap_kwargs())
    with pytest.raises(openai.NotFoundError):  # the fake has no /models: an error, still one span
        client.models.retrieve("gpt-4o")
    span = telemetry.one_span()
    assert span.name == "models.retrieve"
    assert attrs(span)["error.type"] == "NotFoundError"


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["chat.nope.create"], "'chat.nope.create' does not exist"),
        (["chat.completions.nope"], "chat.completions.nope"),
        (["chat..create"], "is not a dotted path"),
        (["create"], "must name a method"),
    ],
)
def test_bad_paths_are_clear_errors(paths, message) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        tracewrap.wrap(client, paths=paths)
    assert "_tracewrap_installation" not in vars(client)


@pytest.mark.parametrize("target", [None, 42, {"a": 1}, json])
def test_wrap_rejects_what_it_cannot_wrap(target) -> None:
    with pytest.raises(TypeError, match="takes the openai module or an OpenAI client"):
        tracewrap.wrap(target)


def test_kill_switch(server, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("TRACEWRAP_ENABLED", "false")
    client = sync_client(server, telemetry)
    client.chat.completions.create(model="m", messages=MESSAGES)
    monkeypatch.setenv("TRACEWRAP_ENABLED", "true")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracewrap.wrap(openai) is openai
    assert telemetry.spans() == []


@pytest.mark.parametrize(("name", "value"), [("TRACEWRAP_ENABLED", "false"), ("OTEL_SDK_DISABLED", "true")])
def test_bad_arguments_fail_with_the_kill_switch_on_too(server, monkeypatch, name, value) -> None:
    """A mistake in the code fails whether tracing is on or off (a malformed path passed silently
    under the kill switch, then failed where tracing was turned on), as tracewrap.auto.instrument()."""
    monkeypatch.setenv(name, value)
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    for target in (client, openai):
        with pytest.raises(ValueError, match="is not a dotted path"):
            tracewrap.wrap(target, paths=["chat completions"])
        with pytest.raises(ValueError, match="must name a method on a resource"):
            tracewrap.wrap(target, extra_paths=["embeddings"])
        with pytest.raises(ValueError, match="capture_content"):
            tracewrap.wrap(target, capture_content="everything")
    assert tracewrap.wrap(client) is client and "create" not in vars(client.chat.completions)


def _comparable(request) -> tuple:
    volatile = {"x-stainless-retry-count", "x-stainless-read-timeout", "content-length", "host"}
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in volatile}
    return request.method, request.path, headers, request.body


def test_same_requests_on_the_wire(server, telemetry) -> None:
    bare = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    traced = sync_client(server, telemetry)

    def calls(client: openai.OpenAI) -> None:
        client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.2, stream=True)
        client.responses.create(model="m", input="hi", max_output_tokens=5)
        with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
            stream.until_done()
        client.embeddings.create(model="e", input="hi", extra_headers={"X-Custom-Auth": "secret-value"})

    calls(bare)
    bare_requests = [_comparable(r) for r in server.requests]
    server.clear()
    calls(traced)
    assert [_comparable(r) for r in server.requests] == bare_requests


def test_span_is_current_while_the_request_is_sent(server, telemetry) -> None:
    seen = []
    http_client = openai.DefaultHttpxClient(
        event_hooks={"request": [lambda request: seen.append(trace.get_current_span())]}
    )
    client = tracewrap.wrap(
        openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0, http_client=http_client),
        **telemetry.wrap_kwargs(),
    )
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request handler") as parent:
        client.chat.completions.create(model="m", messages=MESSAGES)
    llm_span = next(s for s in telemetry.spans() if s.name == "chat m")
    assert llm_span.parent.span_id == parent.get_span_context().span_id
    assert seen[0].get_span_context().span_id == llm_span.context.span_id


def test_content_is_off_by_default_and_on_when_asked(server, telemetry, monkeypatch) -> None:
    client = sync_client(server, telemetry)
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert not any(
        k.startswith("gen_ai.input") or k.startswith("gen_ai.output.messages")
        for k in attrs(telemetry.one_span())
    )
    telemetry.spans_exporter.clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    captured = sync_client(server, telemetry)
    server.enqueue(Scenario(text="The answer"))
    captured.responses.create(model="m", input="What?", instructions="Be brief")
    a = attrs(telemetry.one_span())
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "What?"}]}
    ]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief"}]
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"] == [{"type": "text", "content": "The answer"}]
    assert output[0]["finish_reason"] == "stop"


def test_content_limit_and_redaction(server, telemetry) -> None:
    client = sync_client(
        server,
        telemetry,
        capture_content="span_only",
        content_max_length=120,
        redact=lambda text: text.replace("4111-1111", "[card]"),
    )
    server.enqueue(Scenario(text="ok " * 50, chunks=10))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "card 4111-1111 please"}], stream=True
    )
    for _ in stream:
        pass
    a = attrs(telemetry.one_span())
    assert "[card]" in a["gen_ai.input.messages"] and "4111" not in a["gen_ai.input.messages"]
    (output,) = json.loads(a["gen_ai.output.messages"])  # the text is cut, the JSON still parses
    assert output["parts"][0]["content"] == ("ok " * 50)[:120] + "…[truncated 30 chars]"
    assert output["finish_reason"] == "stop"


def test_legacy_completions_and_embeddings(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert completion.choices[0].text and len(embedding.data) == 2
    text_span, embed_span = telemetry.spans()
    assert text_span.name == "text_completion gpt-3.5-turbo-instruct"
    assert attrs(text_span)["gen_ai.request.max_tokens"] == 5
    assert attrs(text_span)["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs(text_span)["gen_ai.usage.output_tokens"] == 7
    assert embed_span.name == "embeddings text-embedding-3-small"
    assert attrs(embed_span)["gen_ai.usage.input_tokens"] > 0
    assert "gen_ai.usage.output_tokens" not in attrs(embed_span)


def test_request_parameters_present_are_recorded_and_sentinels_ignored(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=50,
        seed=7,
        stop=["END"],
        n=2,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        service_tier="flex",
        user=openai.NOT_GIVEN,
        response_format={"type": "json_object"},
    )
    a = attrs(telemetry.one_span())
    assert a["gen_ai.request.temperature"] == 0.5 and a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ("END",) and a["gen_ai.request.choice.count"] == 2
    assert a["openai.request.service_tier"] == "flex" and a["gen_ai.output.type"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert a["openai.response.system_fingerprint"] == "fp_test"


def test_azure_and_known_hosts_name_the_provider(telemetry) -> None:
    from tracewrap.interception.install import client_info
    from tracewrap.options import TraceOptions

    azure = openai.AzureOpenAI(
        api_key="k", api_version="2024-10-21", azure_endpoint="https://x.openai.azure.com"
    )
    assert client_info(azure, TraceOptions()).provider == "azure.ai.openai"
    router = openai.OpenAI(api_key="k", base_url="https://openrouter.ai/api/v1")
    info = client_info(router, TraceOptions())
    assert (info.provider, info.server_address, info.server_port) == ("openrouter", "openrouter.ai", 443)
    assert client_info(openai.OpenAI(api_key="k"), TraceOptions()).provider == "openai"
    assert client_info(router, TraceOptions(provider="mine")).provider == "mine"


# where a client is pointed, and what its calls must then say: (gen_ai.provider.name, host, port)
OPENAI_URL, GROQ_URL, LOCAL_URL = (
    "https://api.openai.com/v1",
    "https://api.groq.com/v1",
    "http://localhost:8000/v1",
)
WHERE = {
    OPENAI_URL: ("openai", "api.openai.com", 443),
    GROQ_URL: ("groq", "api.groq.com", 443),
    LOCAL_URL: ("openai_compatible", "localhost", 8000),
}


class _Runs:
    """The LangSmith runs the exporter would send (built, not sent: no client behind it)."""

    def __init__(self) -> None:
        from tracewrap.exporting.langsmith import LangSmithObserver, LangSmithSettings

        runs = self.runs = []

        class Capturing(LangSmithObserver):
            def on_end(self, call) -> None:
                runs.append(self.build_run(call, call.state.pop(id(self), None)))

        self.observer = Capturing(
            LangSmithSettings(project=None, hide_inputs=False, hide_outputs=False), client=object()
        )

    def __enter__(self) -> list:
        tracewrap.add_observer(self.observer)
        return self.runs

    def __exit__(self, *exc) -> None:
        tracewrap.remove_observer(self.observer)


def _where_calls_went(telemetry, runs) -> list[tuple]:
    """Per call: its span's provider, address and port, and its run's ``ls_provider``."""
    spans = [attrs(s) for s in telemetry.spans() if s.instrumentation_scope.name == "tracewrap"]
    assert len(spans) == len(runs)
    return [
        (
            a["gen_ai.provider.name"],
            a["server.address"],
            a["server.port"],
            run.extra["metadata"]["ls_provider"],
        )
        for a, run in zip(spans, runs, strict=True)
    ]


def _metric_places(telemetry) -> set[tuple]:
    return {
        (p.attributes["gen_ai.provider.name"], p.attributes["server.address"], p.attributes["server.port"])
        for p in telemetry.points("gen_ai.client.operation.duration")
    }


def _sites(client):
    """The call sites the client's calls use now (wrap(client): its installation's; else its own)."""
    from tracewrap.interception.install import installation_of

    installation = installation_of(client)
    return installation.sites if installation is not None else client.__dict__["_tracewrap_sites"]


def _chat(client) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def _post(client) -> None:  # the request layer (litellm's way)
    from openai.types.chat import ChatCompletion

    client.post(
        "/chat/completions", body={"model": "gpt-4o-mini", "messages": MESSAGES}, cast_to=ChatCompletion
    )


@pytest.mark.parametrize("mode", ["client", "module"])
def test_calls_follow_the_base_url_setter(telemetry, mode) -> None:
    """``client.base_url = ...`` (the SDK's public setter) sends the next requests elsewhere: their
    spans, metric points and LangSmith runs say where, before the first call or after some."""
    from tracewrap.testing import MockOpenAI

    backend = MockOpenAI(record=True)
    client = backend.client(base_url=OPENAI_URL)
    if mode == "client":
        client = tracewrap.wrap(client, **telemetry.wrap_kwargs())
    else:
        _module(telemetry)
    with _Runs() as runs:
        client.base_url = GROQ_URL  # before any call
        _chat(client)
        _post(client)
        client.base_url = LOCAL_URL  # after some
        _chat(client)
        _post(client)
        client.responses.create(model="gpt-4.1-mini", input="hi")  # a resource built after the change
        client.base_url = OPENAI_URL
        _chat(client)
        kept = _sites(client)
        _chat(client)  # nothing changed: the same sites (the per-call path builds nothing)
        assert _sites(client) is kept
    assert [r.headers["host"] for r in backend.requests] == [
        *["api.groq.com"] * 2,
        *["localhost:8000"] * 3,
        *["api.openai.com"] * 2,
    ]
    groq, local, api = (WHERE[url] for url in (GROQ_URL, LOCAL_URL, OPENAI_URL))
    assert _where_calls_went(telemetry, runs) == [
        *[(*groq, "groq")] * 2,
        *[(*local, "openai_compatible")] * 3,
        *[(*api, "openai")] * 2,
    ]
    assert _metric_places(telemetry) == {groq, local, api}


def test_async_calls_follow_the_base_url_setter(telemetry) -> None:
    from tracewrap.testing import MockOpenAI

    client = tracewrap.wrap(MockOpenAI().async_client(base_url=OPENAI_URL), **telemetry.wrap_kwargs())

    async def main() -> None:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.base_url = LOCAL_URL
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    asyncio.run(main())
    spans = [attrs(s) for s in telemetry.spans() if s.instrumentation_scope.name == "tracewrap"]
    assert [(a["gen_ai.provider.name"], a["server.address"], a["server.port"]) for a in spans] == [
        WHERE[OPENAI_URL],
        WHERE[LOCAL_URL],
    ]


def test_the_module_client_follows_openai_base_url(telemetry, monkeypatch) -> None:
    """The module-level client (``openai.chat.completions.create``) sends to ``openai.base_url``
    whenever it is set, also after its first call: its calls say so."""
    from tracewrap.testing import MockOpenAI
    from tracewrap.testing.mock_client import http_library

    backend = MockOpenAI(record=True)
    http = http_library()
    monkeypatch.setattr(openai, "api_key", API_KEY)
    monkeypatch.setattr(openai, "base_url", GROQ_URL + "/")  # (its getter adds no trailing slash)
    monkeypatch.setattr(openai, "http_client", http.Client(transport=http.MockTransport(backend.handle)))
    monkeypatch.setattr(openai, "_client", None)  # built anew from these, and dropped after the test
    _module(telemetry)
    with _Runs() as runs:
        _chat(openai)
        monkeypatch.setattr(openai, "base_url", LOCAL_URL + "/")
        _chat(openai)
        kept = _sites(openai._client)
        _chat(openai)
        assert _sites(openai._client) is kept  # its URL read again each call, its sites kept
    assert [r.headers["host"] for r in backend.requests] == ["api.groq.com", *["localhost:8000"] * 2]
    assert _where_calls_went(telemetry, runs) == [
        (*WHERE[GROQ_URL], "groq"),
        *[(*WHERE[LOCAL_URL], "openai_compatible")] * 2,
    ]


class RegionalClient(openai.OpenAI):
    """A subclass whose ``base_url`` is a property of its own, computed on each read."""

    region = "api.openai.com"

    @property
    def base_url(self):  # type: ignore[override]
        return openai.OpenAI.base_url.fget(self).copy_with(host=self.region)

    @base_url.setter
    def base_url(self, url) -> None:
        openai.OpenAI.base_url.fset(self, url)


@pytest.mark.parametrize("mode", ["client", "module"])
def test_a_computed_base_url_is_followed(telemetry, mode) -> None:
    from tracewrap.testing import MockOpenAI
    from tracewrap.testing.mock_client import http_library

    backend = MockOpenAI(record=True)
    http = http_library()
    client = RegionalClient(
        api_key=API_KEY,
        base_url=OPENAI_URL,
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(backend.handle)),
    )
    if mode == "client":
        client = tracewrap.wrap(client, **telemetry.wrap_kwargs())
    else:
        _module(telemetry)
    _chat(client)
    client.region = "api.groq.com"
    _chat(client)
    _post(client)
    _chat(client)
    assert [r.headers["host"] for r in backend.requests] == ["api.openai.com", *["api.groq.com"] * 3]
    spans = [attrs(s) for s in telemetry.spans() if s.instrumentation_scope.name == "tracewrap"]
    assert [(a["gen_ai.provider.name"], a["server.address"], a["server.port"]) for a in spans] == [
        WHERE[OPENAI_URL],
        *[WHERE[GROQ_URL]] * 3,
    ]


def _looks(method) -> tuple:
    """What introspection says of a method."""
    return (
        type(method),
        method.__name__,
        method.__qualname__,
        method.__doc__,
        str(inspect.signature(method)),
        inspect.iscoroutinefunction(method),
        type(method.__self__).__name__,
    )


def _raw_methods(client) -> list[tuple]:
    with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as raw:
        looks = [_looks(raw.parse), _looks(raw.http_response.close), _looks(raw.http_response.iter_bytes)]
        assert raw.parse().choices[0].message.content == Scenario().text
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as raw:
        stream = raw.parse()
        looks += [_looks(stream.response.close), _looks(raw.http_response.iter_bytes)]
        assert len(list(stream)) > 1
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    looks.append(_looks(stream.response.close))
    stream.close()
    return looks


async def _async_raw_methods(client) -> list[tuple]:
    async with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as raw:
        looks = [_looks(raw.parse), _looks(raw.http_response.aclose), _looks(raw.http_response.aiter_bytes)]
        assert (await raw.parse()).choices[0].message.content == Scenario().text
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    looks.append(_looks(stream.response.aclose))
    await stream.close()
    await client.close()
    return looks


@pytest.mark.parametrize("how", ["module", "client"])
def test_the_methods_hooked_on_a_response_look_as_the_sdks(server, telemetry, how) -> None:
    """A raw response's ``parse`` and its HTTP response's ``close`` / ``aclose`` / ``iter_bytes``,
    which tracewrap replaces on those objects, are still bound methods with the SDK's name,
    docstring and signature (``parse`` was ``(*args, **kwargs)``, ``_hook_lazy_parse.<locals>.parse``)."""

    def clients():
        return (
            openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
            openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
        )

    bare, abare = clients()
    expected = _raw_methods(bare), asyncio.run(_async_raw_methods(abare))
    if how == "module":
        _module(telemetry)
        sync, aclient = clients()
    else:
        sync, aclient = (tracewrap.wrap(client, **telemetry.wrap_kwargs()) for client in clients())
    assert (_raw_methods(sync), asyncio.run(_async_raw_methods(aclient))) == expected
    assert len(telemetry.spans()) == 5


@pytest.mark.parametrize("how", ["module", "client"])
def test_traced_methods_have_the_sdks_repr(server, telemetry, how) -> None:
    """``repr`` of a traced method is the SDK method's, as every other attribute is (it named
    tracewrap's proxy: ``<BoundFunctionWrapper at 0x... for method at 0x...>``)."""
    if how == "module":
        _module(telemetry)
    clients = [
        openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
        openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
    ]
    if how == "client":
        clients = [tracewrap.wrap(client, **telemetry.wrap_kwargs()) for client in clients]
    for client in clients:
        for resource in (client.chat.completions, client.responses, client.embeddings):
            assert repr(resource.create) == f"<bound method {type(resource).__name__}.create of {resource!r}>"
            assert repr(type(resource).create).startswith(f"<function {type(resource).__name__}.create at 0x")
        assert repr(client.with_options).startswith(f"<bound method {type(client).__name__}.copy of <openai.")
    assert repr(clients[0].request).startswith("<bound method SyncAPIClient.request of <openai.OpenAI object")


@pytest.mark.parametrize("how", ["module", "client"])
def test_traced_methods_have_the_sdks_annotations(server, telemetry, how) -> None:
    """``typing.get_type_hints`` of a traced method (what pydantic's ``validate_call`` and tool
    builders read) is the SDK method's, sync and async, on the instance and the class: an async
    one's ``__annotations__`` were those of tracewrap's proxy class (``{'__wrapped__': 'Any'}``, a
    NameError to ``get_type_hints``)."""

    def clients():
        return (
            openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
            openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0),
        )

    def hints(client) -> dict[str, object]:
        methods = _traced_methods(client)
        found = {path: typing.get_type_hints(method) for path, method in methods.items()}
        for path, method in methods.items():  # on the class too (wrap(openai) traces it there)
            on_class = getattr(type(method.__self__), path.rpartition(".")[2])
            found[f"class {path}"] = typing.get_type_hints(on_class)
        return found

    expected = [hints(client) for client in clients()]
    assert all(len(h["chat.completions.create"]) > 20 for h in expected)
    if how == "module":
        _module(telemetry)
        traced = clients()
    else:
        traced = tuple(tracewrap.wrap(client, **telemetry.wrap_kwargs()) for client in clients())
    assert [hints(client) for client in traced] == expected


def _calls_under_class_patches(server, client) -> list[object]:
    """What a client's calls return while its resource class's method is patched and after: the
    resource is first built inside the patch."""
    from unittest import mock

    from openai.resources.chat.completions import Completions

    seen: list[object] = []
    with mock.patch.object(Completions, "create", autospec=True, return_value="mocked") as create:
        seen.append(client.chat.completions.create(model="m", messages=MESSAGES))
    seen.append(create.call_count)
    seen.append(client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content)
    with mock.patch.object(Completions, "create", autospec=True, return_value="again"):
        seen.append(client.chat.completions.create(model="m", messages=MESSAGES))
    seen.append(client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content)
    seen.append(len(server.requests))
    return seen


def test_a_wrapped_client_calls_the_method_its_class_has_at_the_call(server, telemetry) -> None:
    """``wrap(client)`` wraps the methods of the client's resource objects: what they call is the
    method their class has at the call, as bare, not the one it had when the resource was wrapped (a
    resource built inside ``mock.patch.object(Completions, "create")`` kept calling the mock after the
    patch ended, and a patch made after the wrap was never called)."""
    expected = _calls_under_class_patches(server, openai.OpenAI(api_key=API_KEY, base_url=server.base_url))
    assert expected == ["mocked", 1, Scenario().text, "again", Scenario().text, 2]
    server.clear()
    assert _calls_under_class_patches(server, sync_client(server, telemetry)) == expected
    assert [s.name for s in telemetry.spans() if attrs(s).get("gen_ai.response.model")] == ["chat m"] * 2


def _copied_and_pickled(client) -> list[object]:
    """What copying and pickling the SDK's methods gives: ``(outcome, name)`` per try."""
    from openai.resources.chat.completions import Completions

    def outcome(make) -> tuple[str, str]:
        try:
            made = make()
        except Exception as exc:  # the client's lock, as bare: only the exception's class compared
            return "raised", type(exc).__name__
        return "made", made.__qualname__

    method = client.chat.completions.create
    seen = [
        outcome(lambda: pickle.loads(pickle.dumps(Completions.create))),
        outcome(lambda: copy.copy(Completions.create)),
        outcome(lambda: copy.deepcopy(Completions.create)),
        outcome(lambda: copy.copy(method)),
        outcome(lambda: copy.copy(client.request)),
        outcome(lambda: pickle.dumps(method)),  # (a deep copy would too, leaving half-built objects)
    ]
    completion = copy.copy(method)(model="copied", messages=MESSAGES)
    seen.append(completion.choices[0].message.content)
    return seen


@pytest.mark.parametrize("how", ["module", "client"])
def test_traced_methods_copy_and_pickle_as_the_sdks(server, telemetry, how) -> None:
    """``copy.copy`` / ``copy.deepcopy`` / ``pickle`` of a traced method do what they do to the
    SDK's (wrapt's proxies refused them all with NotImplementedError): a class's method copies and
    pickles by name, a bound one as its object's attribute (traced: its call has its span), and a
    client's lock refuses a deep copy or pickle as bare."""
    bare = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    expected = _copied_and_pickled(bare)
    assert expected[:5] == [("made", "Completions.create")] * 4 + [("made", "SyncAPIClient.request")]
    assert expected[5:] == [("raised", "TypeError"), Scenario().text]
    if how == "module":
        _module(telemetry)
        client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    else:
        client = sync_client(server, telemetry)
    assert _copied_and_pickled(client) == expected
    assert [s.name for s in telemetry.spans()] == ["chat copied"]


def _through_weak_methods(make_clients: typing.Callable[[], tuple[typing.Any, typing.Any]]) -> list[object]:
    """What ``weakref.WeakMethod`` (blinker's and other signal libraries' hold on a bound method)
    gives back for the methods of the clients ``make_clients`` makes (a sync and an async one), and
    what calling that gives; then the same once the clients are gone."""
    import gc
    import weakref

    client, aclient = make_clients()
    methods = [client.chat.completions.create, aclient.chat.completions.create]
    refs = [weakref.WeakMethod(method) for method in methods]
    gc.collect()  # what a weak reference holds must outlive a collection while the client lives
    given = [ref() for ref in refs]
    seen: list[object] = [
        [(given[i] == method, given[i].__self__ is method.__self__) for i, method in enumerate(methods)],
        given[0](model="weak", messages=MESSAGES).choices[0].message.content,
        asyncio.run(given[1](model="weak-async", messages=MESSAGES)).choices[0].message.content,
    ]
    del client, aclient, methods, given
    gc.collect()
    seen.append([ref() for ref in refs])
    return seen


@pytest.mark.parametrize("how", ["module", "client"])
def test_a_weak_method_gives_back_the_traced_method(server, telemetry, how) -> None:
    """``weakref.WeakMethod(client.chat.completions.create)`` gives the method back as
    ``type(method)(function, instance)``: wrapt's proxies took other arguments, so under
    ``wrap(openai)`` it raised TypeError, under ``wrap(client)`` it gave a proxy calling the resource
    object as its wrapper, and a traced async method's ``__func__`` (made at each read) died at once.
    Now it is the traced method (its call has its span), and it dies with the client, as bare."""

    def bare() -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
        made = (openai.OpenAI, openai.AsyncOpenAI)
        return tuple(cls(api_key=API_KEY, base_url=server.base_url, max_retries=0) for cls in made)  # type: ignore[return-value]

    expected = _through_weak_methods(bare)
    assert expected == [[(True, True)] * 2, Scenario().text, Scenario().text, [None, None]]
    if how == "module":
        _module(telemetry)
        traced = bare
    else:
        traced = lambda: (sync_client(server, telemetry), async_client(server, telemetry))  # noqa: E731
    assert _through_weak_methods(traced) == expected
    assert sorted(s.name for s in telemetry.spans()) == ["chat weak", "chat weak-async"]


def test_a_traced_method_built_around_a_method_and_a_wrapper_is_not_a_rebuild(server, telemetry) -> None:
    """Two arguments rebuild a method only when the second is the instance (``WeakMethod``'s
    ``(function, instance)``); wrapt's own ``(wrapped, wrapper)`` still builds a proxy calling it."""
    method = sync_client(server, telemetry).chat.completions.create
    again = type(method)(method.__wrapped__, method._self_wrapper)
    assert again(model="rebuilt", messages=MESSAGES).choices[0].message.content == Scenario().text
    assert [s.name for s in telemetry.spans()] == ["chat rebuilt"]


@pytest.mark.parametrize("how", ["bare", "module", "client"])
def test_a_weak_method_whose_method_was_replaced_gives_the_function_bound(server, telemetry, how) -> None:
    """A weak method gives back the function it was made from, bound, even where the object's
    attribute has been replaced since (as bare). tracewrap's traced method is not that function
    bound any more, so the SDK's function is called as it is; its request is traced by the client's
    request layer, as any call that bypasses the traced methods: one span, as ever."""
    import weakref

    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    if how == "module":
        _module(telemetry)
    elif how == "client":
        client = sync_client(server, telemetry)
    ref = weakref.WeakMethod(client.chat.completions.create)
    client.chat.completions.create = lambda **_: "replaced"
    method = ref()
    assert method(model="weak", messages=MESSAGES).choices[0].message.content == Scenario().text
    assert method.__self__ is client.chat.completions and len(server.requests) == 1
    assert [s.name for s in telemetry.spans()] == ([] if how == "bare" else ["chat weak"])

"""``tracewrap.auto.instrument`` / ``uninstrument`` in this process, against the fake server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import tracewrap.auto
from tests.conftest import API_KEY, Telemetry
from tracewrap.auto import patching
from tracewrap.instrumentor import TraceWrapInstrumentor
from tracewrap.testing import FakeOpenAIServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
CLASSES = (openai.OpenAI, openai.AsyncOpenAI, openai.AzureOpenAI, openai.AsyncAzureOpenAI)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TRACEWRAP_ENABLED", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    originals = {cls: cls.__dict__["__init__"] for cls in CLASSES}
    yield
    tracewrap.auto.uninstrument()
    openai._reset_client()
    assert {cls: cls.__dict__["__init__"] for cls in CLASSES} == originals


def _models(telemetry: Telemetry) -> list[str]:
    return [str((s.attributes or {})["gen_ai.request.model"]) for s in telemetry.spans()]


def test_every_way_of_building_a_client_is_traced(
    server: FakeOpenAIServer, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tracewrap.auto.instrument(**telemetry.wrap_kwargs()) is True
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY)
    client.chat.completions.create(model="m-plain", messages=MESSAGES)
    client.with_options(max_retries=0).chat.completions.create(model="m-options", messages=MESSAGES)
    client.copy().embeddings.create(model="m-copy", input="hi")

    class Tenant(openai.OpenAI):
        def __init__(self, tenant: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.tenant = tenant

    tenant = Tenant("acme", base_url=server.base_url, api_key=API_KEY)
    assert tenant.tenant == "acme" and isinstance(tenant, openai.OpenAI)
    tenant.responses.create(model="m-subclass", input="hi")

    async def call_async() -> None:
        async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY)
        await async_client.chat.completions.create(model="m-async", messages=MESSAGES)

    asyncio.run(call_async())
    monkeypatch.setattr(openai, "base_url", server.base_url + "/")
    monkeypatch.setattr(openai, "api_key", API_KEY)
    openai.chat.completions.create(model="m-module", messages=MESSAGES)
    azure = openai.AzureOpenAI(
        base_url=server.base_url, api_key=API_KEY, api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.NotFoundError):  # the fake has no Azure routes: an error span
        azure.chat.completions.create(model="m-azure", messages=MESSAGES)

    assert _models(telemetry) == [
        "m-plain",
        "m-options",
        "m-copy",
        "m-subclass",
        "m-async",
        "m-module",
        "m-azure",
    ]
    azure_span = telemetry.spans()[-1]
    assert azure_span.attributes["gen_ai.provider.name"] == "azure.ai.openai"  # type: ignore[index]
    assert azure_span.attributes["error.type"] == "NotFoundError"  # type: ignore[index]
    assert telemetry.spans()[0].attributes["gen_ai.usage.output_tokens"] == 7  # type: ignore[index]


def test_module_client_built_before_instrument_is_traced(
    server: FakeOpenAIServer, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai, "base_url", server.base_url + "/")
    monkeypatch.setattr(openai, "api_key", API_KEY)
    openai.chat.completions.create(model="m-before", messages=MESSAGES)
    tracewrap.auto.instrument(**telemetry.wrap_kwargs())
    openai.chat.completions.create(model="m-after", messages=MESSAGES)
    assert _models(telemetry) == ["m-after"]


def test_idempotent_and_uninstrument_restores(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    from openai.resources.responses import Responses

    original = vars(Responses)["create"]
    assert tracewrap.auto.instrument(**telemetry.wrap_kwargs())
    assert tracewrap.auto.instrument(**telemetry.wrap_kwargs())
    assert tracewrap.auto.is_instrumented()
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY)
    client.chat.completions.create(model="m-once", messages=MESSAGES)
    assert _models(telemetry) == ["m-once"]

    tracewrap.auto.uninstrument()
    tracewrap.auto.uninstrument()
    assert not tracewrap.auto.is_instrumented()
    assert vars(Responses)["create"] is original
    client.chat.completions.create(model="m-old-client", messages=MESSAGES)
    openai.OpenAI(base_url=server.base_url, api_key=API_KEY).chat.completions.create(
        model="m-new", messages=MESSAGES
    )
    assert _models(telemetry) == ["m-once"]


def test_kill_switch_installs_nothing(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    original = openai.OpenAI.__dict__["__init__"]
    for name, value in (("TRACEWRAP_ENABLED", "false"), ("OTEL_SDK_DISABLED", "true")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            assert tracewrap.auto.instrument(**telemetry.wrap_kwargs()) is False
            assert openai.OpenAI.__dict__["__init__"] is original and not tracewrap.auto.is_instrumented()


def test_bad_options_fail_at_instrument_time_and_change_nothing() -> None:
    original = openai.OpenAI.__dict__["__init__"]
    with pytest.raises(TypeError, match="single string"):
        tracewrap.auto.instrument(paths="chat.completions.create")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capture_content"):
        tracewrap.auto.instrument(capture_content="everything")
    assert openai.OpenAI.__dict__["__init__"] is original and not tracewrap.auto.is_instrumented()


def test_a_path_no_client_has_fails_at_instrument_time(telemetry: Telemetry) -> None:
    from openai.resources.chat.completions import Completions

    original = vars(Completions)["create"]
    with pytest.raises(ValueError, match=r"'no_such_resource\.create' does not exist"):
        tracewrap.auto.instrument(extra_paths=["no_such_resource.create"], **telemetry.wrap_kwargs())
    assert vars(Completions)["create"] is original and not tracewrap.auto.is_instrumented()


def test_instrumentor(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    instrumentor = TraceWrapInstrumentor()
    assert tuple(instrumentor.instrumentation_dependencies()) == ("openai >= 1.0",)
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY)
        client.chat.completions.create(model="m-instrumentor", messages=MESSAGES)
        assert patching.is_instrumented()
    finally:
        instrumentor.uninstrument()
    assert not patching.is_instrumented()
    client.chat.completions.create(model="m-after", messages=MESSAGES)
    assert _models(telemetry) == ["m-instrumentor"]


def test_auto_instrumentation_traces_the_other_paid_endpoints(
    server: FakeOpenAIServer, telemetry: Telemetry
) -> None:
    assert tracewrap.auto.instrument(**telemetry.wrap_kwargs()) is True
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    client.images.generate(model="gpt-image-1", prompt="a cat")
    client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", b"RIFF", "audio/wav"))
    client.moderations.create(model="omni-moderation-latest", input="hi")
    spans = telemetry.spans()
    assert [s.name for s in spans] == [
        "generate_content gpt-image-1",
        "generate_content gpt-4o-transcribe",
        "moderation omni-moderation-latest",
    ]
    assert [(s.attributes or {})["gen_ai.usage.input_tokens"] for s in spans[:2]] == [12, 12]

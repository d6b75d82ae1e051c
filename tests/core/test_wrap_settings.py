"""wrap(client) after the SDK cached its raw accessors; TRACEWRAP_ESTIMATE_COST; log lines; the
instruments cache."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import tracewrap
from tests.core.helpers import API_KEY, MESSAGES, attrs
from tracewrap import environment
from tracewrap.telemetry import instruments

# --------------------------------------------------------------------------- cached raw accessors


def _touch_sync(client: Any) -> list[Any]:
    # every cache the SDK keeps: on the client, on intermediate resources, on the method's resource
    return [
        client.with_raw_response.chat.completions,
        client.with_streaming_response.responses,
        client.chat.with_raw_response.completions,
        client.chat.completions.with_raw_response,
        client.with_streaming_response.chat.completions,
    ]


def test_raw_accessors_touched_before_wrap_are_traced(server, telemetry) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    _touch_sync(client)
    tracewrap.wrap(client, **telemetry.wrap_kwargs())
    client.with_raw_response.chat.completions.create(model="m", messages=MESSAGES).parse()
    with client.with_streaming_response.responses.create(model="m", input="hi") as response:
        response.parse()
    client.chat.with_raw_response.completions.create(model="m", messages=MESSAGES).parse()
    with client.with_streaming_response.chat.completions.create(model="m", messages=MESSAGES) as response:
        response.parse()
    spans = telemetry.spans()
    assert [attrs(s)["openai.api.type"] for s in spans] == [
        "chat_completions",
        "responses",
        "chat_completions",
        "chat_completions",
    ]
    assert all(attrs(s)["gen_ai.usage.input_tokens"] == 12 for s in spans)
    tracewrap.unwrap(client)  # and after unwrap they are the SDK's own again: no span
    client.with_raw_response.chat.completions.create(model="m", messages=MESSAGES).parse()
    assert len(telemetry.spans()) == 4


def test_async_raw_accessors_touched_before_wrap_are_traced(server, telemetry) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    _touch_sync(client)
    tracewrap.wrap(client, **telemetry.wrap_kwargs())

    async def calls() -> None:
        raw = await client.with_raw_response.chat.completions.create(model="m", messages=MESSAGES)
        raw.parse()  # with_raw_response's parse() is synchronous on the async client too
        async with client.with_streaming_response.responses.create(model="m", input="hi") as response:
            await response.parse()

    asyncio.run(calls())
    assert [attrs(s)["openai.api.type"] for s in telemetry.spans()] == ["chat_completions", "responses"]


# --------------------------------------------------------------------------- TRACEWRAP_ESTIMATE_COST


def _cost_of_one_call(server: Any, telemetry: Any, **wrap_kwargs: Any) -> Any:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    client = tracewrap.wrap(client, provider="openai", **telemetry.wrap_kwargs(), **wrap_kwargs)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return attrs(telemetry.spans()[-1]).get("tracewrap.cost.estimate_usd")


@pytest.mark.parametrize(
    ("env", "argument", "expected"),
    [
        (None, None, False),
        ("true", None, True),
        ("1", None, True),
        ("false", None, False),
        ("true", False, False),  # the explicit argument wins
        ("false", True, True),
    ],
)
def test_estimate_cost_from_the_environment(server, telemetry, monkeypatch, env, argument, expected) -> None:
    if env is None:
        monkeypatch.delenv("TRACEWRAP_ESTIMATE_COST", raising=False)
    else:
        monkeypatch.setenv("TRACEWRAP_ESTIMATE_COST", env)
    kwargs = {} if argument is None else {"estimate_cost": argument}
    cost = _cost_of_one_call(server, telemetry, **kwargs)
    if expected:
        # 12 input and 7 output tokens of gpt-4o-mini at its list price
        assert cost == pytest.approx(12 * 0.15e-6 + 7 * 0.6e-6)
        (point,) = telemetry.points("tracewrap.client.cost.usd")
        assert point.value == pytest.approx(cost)
    else:
        assert cost is None
        assert telemetry.points("tracewrap.client.cost.usd") == []


@pytest.mark.parametrize("how", ["auto", "instrumentor"])
def test_estimate_cost_env_reaches_auto_instrumentation(server, telemetry, monkeypatch, how) -> None:
    from tracewrap import auto
    from tracewrap.instrumentor import TraceWrapInstrumentor

    monkeypatch.setenv("TRACEWRAP_ESTIMATE_COST", "true")
    options = {"provider": "openai", **telemetry.wrap_kwargs()}
    instrumentor = TraceWrapInstrumentor()
    if how == "auto":
        assert auto.instrument(**options)
    else:
        instrumentor.instrument(**options)
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        if how == "auto":
            auto.uninstrument()
        else:
            instrumentor.uninstrument()
    assert attrs(telemetry.one_span())["tracewrap.cost.estimate_usd"] == pytest.approx(
        12 * 0.15e-6 + 7 * 0.6e-6
    )


# --------------------------------------------------------------------------- log lines


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_warnings_name_tracewrap_once_under_a_name_format(monkeypatch, fresh_warnings) -> None:
    handler = _Lines()
    logging.getLogger("tracewrap").addHandler(handler)
    try:
        monkeypatch.setenv("TRACEWRAP_ESTIMATE_COST", "maybe")
        assert environment.estimate_cost_from_env() is False
    finally:
        logging.getLogger("tracewrap").removeHandler(handler)
    assert handler.lines == [
        "tracewrap: TRACEWRAP_ESTIMATE_COST='maybe' is not a boolean (true/false); using False"
    ]


def test_warnings_without_any_logging_set_up_still_say_tracewrap() -> None:
    code = (
        "import os, tracewrap.environment as s\n"
        "os.environ['TRACEWRAP_ESTIMATE_COST'] = 'maybe'\n"
        "s.estimate_cost_from_env()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (
        done.stderr
        == "tracewrap: TRACEWRAP_ESTIMATE_COST='maybe' is not a boolean (true/false); using False\n"
    )


# --------------------------------------------------------------------------- instruments cache


def test_instruments_cache_is_bounded_and_frees_dead_providers() -> None:
    instruments._cache.clear()
    for _ in range(300):
        tracer_provider, meter_provider = TracerProvider(), MeterProvider()
        instruments.instruments_for(tracer_provider, meter_provider)
        meter_provider.shutdown()
        del tracer_provider, meter_provider
    gc.collect()
    assert len(instruments._cache) <= instruments.MAX_CACHED
    kept_tracer, kept_meter = TracerProvider(), MeterProvider()
    first = instruments.instruments_for(kept_tracer, kept_meter)
    assert instruments.instruments_for(kept_tracer, kept_meter) is first  # a live pair is reused
    assert instruments.instruments_for(None, None) is instruments.instruments_for(None, None)
    kept_meter.shutdown()

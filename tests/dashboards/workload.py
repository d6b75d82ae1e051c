"""The workload the live dashboard test measures: the real openai SDK, wrapped by tracewrap, calling
tracewrap's fake OpenAI server over 127.0.0.1.

One round (`ROUND`) makes 18 calls through three wrapped clients, plus, on an SDK with Responses
WebSocket mode, one turn on a long-lived WebSocket connection:

* `openai.OpenAI`, `provider="openai"`, `estimate_cost=True`: Chat Completions and Responses,
  non-streaming and streaming, finishing with stop / length / content_filter / tool_calls, HTTP 429
  and 500 errors, a chat stream that fails mid-way, a Response with status `failed`, cached and
  reasoning tokens in the usage;
* `openai.AsyncOpenAI`, same options: an async chat stream, an async Response, an async HTTP 503;
* an `openai.OpenAI` left on the provider tracewrap derives from the URL (`openai_compatible`, like a
  self-hosted embeddings server): embeddings, never priced;
* `files.list()` on the first client: a generic `api_call` span, no model, no usage, no finish;
* `client.responses.connect()` (openai with `responses.connect()`): a Responses turn over a WebSocket
  to the fake WebSocket server, on one connection kept open across rounds (operation `chat`, priced).

Every call's result is read back from what the SDK returned (usage, finish reason / status, response
model, the exception raised) and from the workload's own clock into an `Observed`; `summarize` adds
those up into the numbers the dashboard must show. Nothing expected is written down by hand: change a
`Scenario` below and the expectations follow.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from genai_prices import Usage, calc_price
from opentelemetry.metrics import MeterProvider

from tracewrap import wrap
from tracewrap.telemetry.instruments import DURATION_BUCKETS  # the duration histograms' boundaries
from tracewrap.testing import FakeOpenAIServer, Scenario

MINI, GPT4O, O4MINI, EMBED = "gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"
# The fake answers with the request model plus a date; name real snapshots so genai-prices prices them.
SNAPSHOT = {MINI: "gpt-4o-mini-2024-07-18", GPT4O: "gpt-4o-2024-08-06", O4MINI: "o4-mini-2025-04-16"}
PRICED_PROVIDER = "openai"  # passed to wrap(provider=...); the local client keeps the derived one
# Template-variable values that have data in every panel (streams, errors, length, cost, cache...).
CONCRETE = {"provider": PRICED_PROVIDER, "model": MINI, "operation": "chat"}
# Responses have no finish reason; tracewrap derives it from status / incomplete_details (README).
INCOMPLETE_REASON = {"max_output_tokens": "length", "content_filter": "content_filter"}
MSGS = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOLS_RESPONSES = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


@dataclass(frozen=True)
class Call:
    """One call of a round: which API, how, and what the fake server answers."""

    name: str
    api: str  # chat | responses | embeddings | files (a generic api_call) | websocket (Responses turn)
    model: str
    scenario: Scenario
    stream: bool = False
    asynchronous: bool = False
    local: bool = False  # the client on the derived provider (no provider= override)
    kwargs: tuple[tuple[str, Any], ...] = ()


def _sc(outcome: str = "ok", model: str | None = None, **kw: Any) -> Scenario:
    return Scenario(outcome=outcome, model=SNAPSHOT.get(model or ""), **kw)  # type: ignore[arg-type]


# Server-side delays put each model's latencies (and the streams' time to first chunk) well inside one
# duration bucket, with room for a loaded machine: gpt-4o-mini 0.04-0.08 s (its two HTTP errors are
# fast; the async client adds a few ms, so its stream waits a little less), gpt-4o and o4-mini
# 0.08-0.16 s.
FAST, SLOW = 0.05, 0.1
ROUND: tuple[Call, ...] = (
    Call(
        "chat ok, cached prompt",
        "chat",
        MINI,
        _sc(model=MINI, prompt_tokens=1200, completion_tokens=150, cached_tokens=1024, delay_s=FAST),
    ),
    Call(
        "chat truncated",
        "chat",
        MINI,
        _sc("length", MINI, prompt_tokens=800, completion_tokens=256, delay_s=FAST),
        kwargs=(("max_completion_tokens", 256),),
    ),
    Call(
        "chat stream ok",
        "chat",
        MINI,
        _sc(model=MINI, prompt_tokens=600, completion_tokens=90, chunks=4, delay_s=FAST, chunk_delay_s=0.001),
        stream=True,
    ),
    Call(
        "chat stream filtered",
        "chat",
        MINI,
        _sc("content_filter", MINI, prompt_tokens=400, completion_tokens=25, chunks=3, delay_s=FAST),
        stream=True,
    ),
    Call("chat rate limited", "chat", MINI, _sc("http_error", MINI, status_code=429)),
    Call(
        "chat stream fails mid-way",
        "chat",
        MINI,
        _sc("stream_error", MINI, chunks=4, delay_s=FAST),
        stream=True,
    ),
    Call(
        "chat reasoning",
        "chat",
        O4MINI,
        _sc(
            model=O4MINI,
            prompt_tokens=2048,
            completion_tokens=640,
            cached_tokens=1536,
            reasoning_tokens=512,
            delay_s=SLOW,
            service_tier="flex",  # half price for o4-mini: the tier breakdown has a second row
        ),
        kwargs=(("service_tier", "flex"),),
    ),
    Call(
        "responses tool call",
        "responses",
        GPT4O,
        _sc("tool_calls", GPT4O, prompt_tokens=1500, completion_tokens=40, cached_tokens=1280, delay_s=SLOW),
        kwargs=(("tools", TOOLS_RESPONSES),),
    ),
    Call(
        "responses stream ok",
        "responses",
        GPT4O,
        _sc(
            model=GPT4O, prompt_tokens=900, completion_tokens=150, chunks=5, delay_s=SLOW, chunk_delay_s=0.001
        ),
        stream=True,
    ),
    Call(
        "responses stream truncated",
        "responses",
        O4MINI,
        _sc("length", O4MINI, prompt_tokens=700, completion_tokens=512, reasoning_tokens=384, delay_s=SLOW),
        stream=True,
        kwargs=(("max_output_tokens", 512),),
    ),
    Call("responses server error", "responses", GPT4O, _sc("http_error", GPT4O, status_code=500)),
    Call(
        "responses filtered",
        "responses",
        GPT4O,
        _sc("content_filter", GPT4O, prompt_tokens=300, completion_tokens=12, delay_s=SLOW),
    ),
    Call(
        "responses failed",
        "responses",
        GPT4O,
        _sc("failed", GPT4O, prompt_tokens=200, completion_tokens=0, delay_s=SLOW),
    ),
    Call(
        "embeddings (local server)",
        "embeddings",
        EMBED,
        _sc(prompt_tokens=64),
        local=True,
        kwargs=(("input", ["hello", "world"]),),
    ),
    Call(
        "async chat stream, cached prompt",
        "chat",
        MINI,
        _sc(model=MINI, prompt_tokens=500, completion_tokens=60, cached_tokens=256, chunks=4, delay_s=0.04),
        stream=True,
        asynchronous=True,
    ),
    Call(
        "async responses reasoning",
        "responses",
        O4MINI,
        _sc(
            model=O4MINI,
            prompt_tokens=1000,
            completion_tokens=300,
            reasoning_tokens=200,
            delay_s=SLOW,
            service_tier="priority",
        ),
        asynchronous=True,
        kwargs=(("service_tier", "priority"),),
    ),
    Call("async chat overloaded", "chat", MINI, _sc("http_error", MINI, status_code=503), asynchronous=True),
    Call("files listed (generic api_call)", "files", "", _sc()),
    Call(
        "responses over a WebSocket",
        "websocket",
        GPT4O,
        _sc(
            model=GPT4O, prompt_tokens=400, completion_tokens=60, chunks=3, delay_s=SLOW, chunk_delay_s=0.001
        ),
    ),
)
OPERATIONS = {"chat": "chat", "responses": "chat", "websocket": "chat", "embeddings": "embeddings"}
OPERATIONS["files"] = "api_call"  # tracewrap's operation for every endpoint it has no reader for


@dataclass
class Observed:
    """What one call did, as the workload saw it through the SDK."""

    round: int
    call: Call
    operation: str
    provider: str
    finish_reason: str | None  # "none" when nothing was reported (embeddings); None: no finish point
    error_type: str | None = None
    response_model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)  # only the counts the server reported
    duration_s: float = 0.0
    chunks: int = 0  # stream items received
    ttfc_s: float | None = None
    tpoc_s: float | None = None  # mean time between items after the first
    cost_usd: float | None = None
    service_tier: str | None = None  # the tier the response reports


# --- reading the SDK's objects ---------------------------------------------------------------------
def _chat_usage(u: Any) -> dict[str, int]:
    if u is None:
        return {}
    out = {"input": u.prompt_tokens, "output": u.completion_tokens}
    if u.prompt_tokens_details is not None and u.prompt_tokens_details.cached_tokens is not None:
        out["cache_read"] = u.prompt_tokens_details.cached_tokens
    if u.completion_tokens_details is not None and u.completion_tokens_details.reasoning_tokens is not None:
        out["reasoning"] = u.completion_tokens_details.reasoning_tokens
    return out


def _responses_usage(u: Any) -> dict[str, int]:
    if u is None:
        return {}
    out = {"input": u.input_tokens, "output": u.output_tokens}
    if u.input_tokens_details is not None and u.input_tokens_details.cached_tokens is not None:
        out["cache_read"] = u.input_tokens_details.cached_tokens
    if u.output_tokens_details is not None and u.output_tokens_details.reasoning_tokens is not None:
        out["reasoning"] = u.output_tokens_details.reasoning_tokens
    return out


def _read_response(obs: Observed, response: Any) -> None:
    obs.response_model = response.model
    obs.service_tier = response.service_tier
    obs.usage = _responses_usage(response.usage)
    status = response.status
    if status == "completed":
        last = response.output[-1].type if response.output else ""
        obs.finish_reason = "tool_calls" if last == "function_call" else "stop"
    elif status == "incomplete":
        reason = response.incomplete_details.reason
        obs.finish_reason = INCOMPLETE_REASON.get(reason, reason)
    elif status == "failed":
        obs.finish_reason = "error"
        obs.error_type = response.error.code


class _Stream:
    """Collects a stream's items as they arrive (time to first item, finish reason, usage)."""

    def __init__(self, obs: Observed, started: float) -> None:
        self.obs = obs
        self.started = started
        self.finish: str | None = None
        self.first = self.last = 0.0

    def item(self, item: Any) -> None:
        obs = self.obs
        self.last = time.perf_counter()
        if obs.chunks == 0:
            self.first = self.last
            obs.ttfc_s = self.first - self.started
        obs.chunks += 1
        if obs.call.api == "chat":
            obs.response_model = item.model
            obs.service_tier = item.service_tier or obs.service_tier
            for choice in item.choices:
                if choice.index == 0 and choice.finish_reason:
                    self.finish = choice.finish_reason
            if item.usage is not None:
                obs.usage = _chat_usage(item.usage)
        elif item.type in (
            "response.completed",
            "response.incomplete",
            "response.failed",
        ):  # SSE or WebSocket
            _read_response(obs, item.response)
            self.finish = obs.finish_reason
        elif item.type == "error":
            obs.error_type = item.code
            self.finish = "error"

    def done(self) -> None:
        self.obs.finish_reason = self.finish or "none"
        if self.obs.chunks >= 2:
            self.obs.tpoc_s = (self.last - self.first) / (self.obs.chunks - 1)


# --- the workload ----------------------------------------------------------------------------------
class TracedWorkload:
    """The fake server and the three wrapped clients; `run_round()` makes every call of `ROUND` once."""

    def __init__(self, meter_provider: MeterProvider, tracer_provider: Any = None) -> None:
        self.server = FakeOpenAIServer().start()
        opts: dict[str, Any] = {
            "meter_provider": meter_provider,
            "tracer_provider": tracer_provider,
            "estimate_cost": True,
        }
        common: dict[str, Any] = {"base_url": self.server.base_url, "api_key": "sk-test", "max_retries": 0}
        self.client = wrap(openai.OpenAI(**common, timeout=10), provider=PRICED_PROVIDER, **opts)
        self.local = wrap(openai.OpenAI(**common, timeout=10), **opts)
        self.aclient = wrap(openai.AsyncOpenAI(**common, timeout=10), provider=PRICED_PROVIDER, **opts)
        self.ws_server: Any = None
        self.ws: Any = None  # one Responses WebSocket connection for the whole run
        if has_websocket_mode():
            from tracewrap.testing.websocket import FakeResponsesWebSocketServer

            self.ws_server = FakeResponsesWebSocketServer().start()
            ws_common = {**common, "base_url": self.ws_server.base_url}
            self.ws_client = wrap(openai.OpenAI(**ws_common, timeout=10), provider=PRICED_PROVIDER, **opts)
            self.ws = self.ws_client.responses.connect().enter()
        self.loop = asyncio.new_event_loop()
        self.observed: list[Observed] = []
        self.rounds = 0

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws_client.close()
            self.ws_server.stop()
        self.client.close()
        self.local.close()
        self.loop.run_until_complete(self.aclient.close())
        self.loop.close()
        self.server.stop()

    def __enter__(self) -> TracedWorkload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_round(self) -> list[Observed]:
        done = [self._one(call) for call in ROUND if call.api != "websocket" or self.ws is not None]
        self.observed.extend(done)
        self.rounds += 1
        return done

    def _one(self, call: Call) -> Observed:
        # One call at a time: each request takes the next queued scenario.
        assert self.server.pending == 0, "a previous call left its scenario unconsumed"
        if call.api == "websocket":
            self.ws_server.add(call.scenario)
        elif call.api != "files":  # the fake answers files from its own store, with no scenario
            self.server.enqueue(call.scenario)
        provider = "openai_compatible" if call.local else PRICED_PROVIDER
        finish = None if call.api == "files" else "none"  # a generic span records no finish point
        obs = Observed(self.rounds, call, OPERATIONS[call.api], provider, finish_reason=finish)
        started = time.perf_counter()
        try:
            if call.asynchronous:
                self.loop.run_until_complete(self._async(call, obs, started))
            else:
                self._sync(call, obs, started)
        except openai.APIError as exc:
            obs.error_type = type(exc).__name__
            obs.finish_reason = "error"
        obs.duration_s = time.perf_counter() - started
        obs.cost_usd = _list_price(obs)
        return obs

    def _request(self, call: Call) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": call.model, **dict(call.kwargs)}
        if call.api == "chat":
            kw["messages"] = MSGS
            if call.stream:
                kw.update(stream=True, stream_options={"include_usage": True})
        elif call.api in ("responses", "websocket"):
            kw["input"] = MSGS[0]["content"]
            if call.stream:
                kw["stream"] = True
        return kw

    def _sync(self, call: Call, obs: Observed, started: float) -> None:
        client = self.local if call.local else self.client
        if call.api == "files":
            client.files.list()
            return
        kw = self._request(call)
        if call.api == "websocket":
            self.ws.response.create(**kw)
            stream = _Stream(obs, started)
            try:
                for event in self.ws:
                    stream.item(event)
                    if stream.finish is not None:
                        break
            finally:
                stream.done()
            return
        if call.api == "embeddings":
            result = client.embeddings.create(**kw)
            obs.response_model = result.model
            obs.usage = {"input": result.usage.prompt_tokens}
            return
        create = client.chat.completions.create if call.api == "chat" else client.responses.create
        result = create(**kw)
        if call.stream:
            stream = _Stream(obs, started)
            try:
                for item in result:
                    stream.item(item)
            finally:
                stream.done()
        elif call.api == "chat":
            obs.response_model = result.model
            obs.service_tier = result.service_tier
            obs.finish_reason = result.choices[0].finish_reason
            obs.usage = _chat_usage(result.usage)
        else:
            _read_response(obs, result)

    async def _async(self, call: Call, obs: Observed, started: float) -> None:
        kw = self._request(call)
        create = self.aclient.chat.completions.create if call.api == "chat" else self.aclient.responses.create
        result = await create(**kw)
        if call.stream:
            stream = _Stream(obs, started)
            try:
                async for item in result:
                    stream.item(item)
            finally:
                stream.done()
        elif call.api == "chat":
            obs.response_model = result.model
            obs.service_tier = result.service_tier
            obs.finish_reason = result.choices[0].finish_reason
            obs.usage = _chat_usage(result.usage)
        else:
            _read_response(obs, result)


def has_websocket_mode() -> bool:
    """The SDK has Responses WebSocket mode (``responses.connect()``: late 2.x and 3.x)."""
    from openai.resources.responses import Responses

    return hasattr(Responses, "connect")


def _list_price(obs: Observed) -> float | None:
    """genai-prices' list price for what the server reported; None when tracewrap must not price it."""
    if obs.provider != PRICED_PROVIDER or not obs.usage:
        return None  # unknown host (openai_compatible) or no usage reported
    usage = Usage(
        input_tokens=obs.usage.get("input", 0),
        output_tokens=obs.usage.get("output", 0),
        cache_read_tokens=obs.usage.get("cache_read") or None,
    )
    model = obs.response_model or obs.call.model
    tier = {"service_tier": obs.service_tier} if obs.service_tier else None  # flex / priority prices
    return float(calc_price(usage, model, provider_id=PRICED_PROVIDER, price_context=tier).total_price)


# --- what the dashboard must show -----------------------------------------------------------------
def bucket_of(value: float, buckets: Sequence[float] = DURATION_BUCKETS) -> tuple[float, float]:
    """The (lower, upper] histogram bucket holding `value`."""
    lower = 0.0
    for upper in buckets:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, math.inf


# tracewrap's clock runs inside the workload's: each duration (or time to first chunk) it records is
# at most the workload's, and short of it by the time spent outside tracewrap's span (wrapper entry,
# the event loop, the GIL passing to the fake server's threads on a loaded machine: a few ms).
INNER_CLOCK_SLACK_S = 0.02


def quantile_bucket(values: Iterable[float], q: float, slack: float = 0.0) -> tuple[float, float]:
    """The range `histogram_quantile(q, ...)` can land in: the bucket holding the ceil(q*n)-th value.

    With `slack`, each value the histogram saw may be up to `slack` below the measured one; the
    ceil(q*n)-th of them is then too, so the range starts at the bucket holding that value - slack."""
    ordered = sorted(values)
    value = ordered[max(1, math.ceil(q * len(ordered))) - 1]
    return bucket_of(max(value - slack, 0.0))[0], bucket_of(value)[1]


def summarize(observed: Sequence[Observed], from_round: int = 0) -> dict[str, Any]:
    """The totals over the calls of rounds >= `from_round` (JSON-ready apart from tuples in lists)."""
    calls = [o for o in observed if o.round >= from_round]
    by_model_op: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    finishes: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    token_points: Counter[str] = Counter()  # gen_ai.client.token.usage observations by type
    tokens_by_model: Counter[str] = Counter()  # input + output
    cost_by_model: defaultdict[str, float] = defaultdict(float)
    cost_by_tier: defaultdict[str, float] = defaultdict(float)  # "" where no tier was reported
    durations: defaultdict[str, list[float]] = defaultdict(list)
    ttfc: defaultdict[str, list[float]] = defaultdict(list)
    tpoc: defaultdict[str, list[float]] = defaultdict(list)
    for o in calls:
        model = o.call.model
        by_model_op[f"{model}|{o.operation}"] += 1  # model "": a generic api_call names none
        if o.finish_reason is not None:
            finishes[o.finish_reason] += 1
        if o.error_type is not None:
            errors[o.error_type] += 1
        for ttype, n in o.usage.items():
            tokens[ttype] += n
            if ttype in ("input", "output"):
                token_points[ttype] += 1
                tokens_by_model[model] += n
        if o.cost_usd is not None:
            cost_by_model[model] += o.cost_usd
            cost_by_tier[o.service_tier or ""] += o.cost_usd
        durations[model].append(o.duration_s)
        if o.ttfc_s is not None:
            ttfc[model].append(o.ttfc_s)
        if o.tpoc_s is not None:
            tpoc[model].append(o.tpoc_s)
    n = len(calls)
    return {
        "rounds": len({o.round for o in calls}),
        "calls": n,
        "calls_by_model_operation": dict(by_model_op),
        "errors": dict(errors),
        "error_ratio": sum(errors.values()) / n if n else 0.0,
        "finishes": dict(finishes),
        "tokens": dict(tokens),
        "token_points": dict(token_points),
        "tokens_by_model": dict(tokens_by_model),
        "cache_hit_ratio": tokens["cache_read"] / tokens["input"] if tokens["input"] else 0.0,
        "cost_usd": sum(cost_by_model.values()),
        "cost_by_model": dict(cost_by_model),
        "cost_by_tier": dict(cost_by_tier),
        "durations": dict(durations),  # by model, seconds
        "ttfc": dict(ttfc),  # time_to_first_chunk points: streams with at least one item
        "tpoc": dict(tpoc),  # time_per_output_chunk points: streams with at least two items
        "models": sorted({o.call.model for o in calls if o.call.model}),
        "providers": sorted({o.provider for o in calls}),
        "operations": sorted({o.operation for o in calls}),
    }

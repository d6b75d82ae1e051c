"""Estimated cost of a call in USD, from the `genai-prices` package (optional extra ``tracewrap[cost]``).

Token semantics follow OpenAI's usage object and genai-prices: ``input_tokens`` is the whole prompt,
*including* the ``cache_read_tokens`` that were served from the prompt cache (those are billed at the
cache-read price instead of the input price). Audio and image tokens are parts of those counts too
(``input_audio_tokens`` of ``input_tokens``, ``cache_audio_read_tokens`` of ``cache_read_tokens``...),
priced at the model's audio / image rates where genai-prices has them. The service tier (``flex``,
``priority``) selects genai-prices' tier prices for the models it has them for; other models and
tiers get the standard price. Audio genai-prices has no rate for gets no estimate at all rather
than one priced as text (logged once per model and part). Every function here never raises: a cost
estimate must never break the call being traced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracewrap.fork_safe import module_lock
from tracewrap.logs import warn_once

__all__ = ["clear_price_overrides", "estimate_cost_usd", "set_price_override"]

_MTOK = 1_000_000

# tracewrap's provider name for a host it does not know (a self-hosted or proxy server). genai-prices
# matches provider ids by substring, so it would price this as "openai": never give it a list price.
_UNKNOWN_PROVIDER = "openai_compatible"

# OpenTelemetry `gen_ai.provider.name` values -> genai-prices provider ids (where they differ).
_PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
}


@dataclass(frozen=True)
class _Price:
    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None


_overrides: dict[str, _Price] = {}
_lock = module_lock(globals(), "_lock")


def set_price_override(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    cache_read_per_mtok: float | None = None,
) -> None:
    """Price `model` (exact request/response model name) at these USD-per-million-token rates.

    Overrides take precedence over genai-prices for every provider. Without `cache_read_per_mtok`,
    cached input tokens are billed at the input price.
    """
    with _lock:
        _overrides[model] = _Price(float(input_per_mtok), float(output_per_mtok), cache_read_per_mtok)


def clear_price_overrides() -> None:
    """Remove every override set with `set_price_override` (mostly for tests)."""
    with _lock:
        _overrides.clear()


def _nonneg(value: int | None) -> int:
    # A count the response did not report is None; negative values are garbage, not credits.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _from_override(price: _Price, inp: int, out: int, cached: int) -> float:
    cached = min(cached, inp)  # cached tokens are a subset of the input tokens
    cache_price = price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    return (
        (inp - cached) * price.input_per_mtok + cached * cache_price + out * price.output_per_mtok
    ) / _MTOK


def estimate_cost_usd(
    provider: str,
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None,
    *,
    service_tier: str | None = None,
    input_audio_tokens: int | None = None,
    cache_audio_read_tokens: int | None = None,
    output_audio_tokens: int | None = None,
    input_image_tokens: int | None = None,
    output_image_tokens: int | None = None,
) -> float | None:
    """Estimated USD cost of one call, or None when it cannot be priced.

    `provider` is the `gen_ai.provider.name` value. An empty provider lets genai-prices guess the
    provider from the model name; a non-empty provider that genai-prices does not know (e.g. a
    self-hosted server) gives None rather than somebody else's list price. None is also returned when
    no token count was reported, the model is unknown, genai-prices is not installed, or audio
    tokens were reported that genai-prices has no rate for on this model.

    `service_tier` (the response's, else the request's) picks tier prices where genai-prices has
    them. The modality counts are parts of the three main counts; an override prices them all at
    its text rates. Cached tokens whose audio share was not reported are priced as text cache reads.
    """
    try:
        if input_tokens is None and output_tokens is None and cache_read_tokens is None:
            return None
        inp, out, cached = _nonneg(input_tokens), _nonneg(output_tokens), _nonneg(cache_read_tokens)
        with _lock:
            override = _overrides.get(model)
        if override is not None:
            return _from_override(override, inp, out, cached)
        cached = min(cached, inp)
        usage: dict[str, int] = {"input_tokens": inp, "output_tokens": out}
        if cached:
            usage["cache_read_tokens"] = cached
        # each part no larger than its whole, so a garbled split never prices more tokens than used
        for key, value, whole in (
            ("input_audio_tokens", input_audio_tokens, inp),
            ("input_image_tokens", input_image_tokens, inp),
            ("output_audio_tokens", output_audio_tokens, out),
            ("output_image_tokens", output_image_tokens, out),
        ):
            part = min(_nonneg(value), whole)
            if part:
                usage[key] = part
        if cached and "input_audio_tokens" in usage:
            # genai-prices cannot tell which cached tokens were audio: it needs the split given
            audio_cached = min(_nonneg(cache_audio_read_tokens), cached, usage["input_audio_tokens"])
            usage["cache_audio_read_tokens"] = audio_cached
            usage["input_audio_tokens"] = max(usage["input_audio_tokens"], audio_cached)
        return _from_genai_prices(provider, model, usage, service_tier)
    except Exception:
        return None


# The audio parts of the token counts, each with the part that only exists beside it. OpenAI prices
# audio apart from text on every model, so a price that does not change when the audio is split out
# has no audio rate. Not so for images: gpt-image-1's output is all image, priced at its output rate.
_AUDIO_PARTS = (
    ("input_audio_tokens", "cache_audio_read_tokens"),
    ("output_audio_tokens",),
)


def _from_genai_prices(provider: str, model: str, counts: dict[str, int], tier: str | None) -> float | None:
    try:  # lazy: genai-prices is an optional extra and loads its price snapshot on first use
        from genai_prices import Usage, calc_price
    except ImportError:
        # the estimate was asked for (estimate_cost / TRACEWRAP_ESTIMATE_COST): say once why it never
        # comes, instead of leaving every span without it in silence
        warn_once(
            "cost:genai-prices-missing",
            "the cost estimate is on but genai-prices is not installed (pip install 'tracewrap[cost]'); "
            "calls get no cost estimate unless tracewrap.cost.set_price_override() prices their model",
        )
        return None
    if not model or provider == _UNKNOWN_PROVIDER:
        return None
    provider_id = _PROVIDER_IDS.get(provider, provider) if provider else None
    usage = Usage(**counts)
    context: Any = {"service_tier": tier} if tier else None
    try:
        result = calc_price(usage, model, provider_id=provider_id, price_context=context)
    except LookupError:  # unknown provider or model
        return None
    total = result.total_price
    for group in _AUDIO_PARTS:
        if counts.get(group[0]):
            without = Usage(**{k: v for k, v in counts.items() if k not in group})
            if (
                calc_price(without, model, provider_id=provider_id, price_context=context).total_price
                == total
            ):
                # no audio rate (genai-prices 0.2.5: the gpt-4o audio previews): priced as text it
                # would be an estimate known to be wrong, so there is none
                warn_once(
                    f"cost:{model}:{group[0]}",
                    "no price for %s's %s in genai-prices: its calls that report them get no cost estimate",
                    model,
                    group[0],
                )
                return None
    return float(total)

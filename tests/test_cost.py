"""tracewrap.cost: estimates from genai-prices, user overrides, and never raising."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator
from typing import Any

import genai_prices  # the [cost] extra; CI installs it, so a missing one fails instead of skipping
import pytest

from tests.core.helpers import MESSAGES, sync_client
from tracewrap.cost import clear_price_overrides, estimate_cost_usd, set_price_override
from tracewrap.testing import Scenario


@pytest.fixture(autouse=True)
def _no_overrides() -> Iterator[None]:
    clear_price_overrides()
    yield
    clear_price_overrides()


def _genai_prices_rates(model: str, provider_id: str) -> tuple[float, float, float]:
    price = genai_prices.calc_price(genai_prices.Usage(input_tokens=1), model, provider_id=provider_id)
    mp = price.model_price
    return float(mp.input_mtok), float(mp.output_mtok), float(mp.cache_read_mtok)


def test_gpt_4o_mini_matches_genai_prices() -> None:
    inp, out, cache = _genai_prices_rates("gpt-4o-mini", "openai")
    # The published list price (USD per million tokens) at the time of writing.
    assert (inp, out, cache) == (0.15, 0.6, 0.075)
    cost = estimate_cost_usd("openai", "gpt-4o-mini", 1_000_000, 1_000_000, None)
    assert cost == pytest.approx(inp + out)
    cost = estimate_cost_usd("openai", "gpt-4o-mini", 1200, 300, None)
    assert cost == pytest.approx((1200 * inp + 300 * out) / 1e6)


def test_cache_read_tokens_are_part_of_input() -> None:
    inp, _out, cache = _genai_prices_rates("gpt-4o-mini", "openai")
    # 1M prompt tokens of which 400k came from the cache: 600k at input price, 400k at cache price.
    cost = estimate_cost_usd("openai", "gpt-4o-mini", 1_000_000, 0, 400_000)
    assert cost == pytest.approx((600_000 * inp + 400_000 * cache) / 1e6)
    assert cost < estimate_cost_usd("openai", "gpt-4o-mini", 1_000_000, 0, None)  # type: ignore[operator]


def test_dated_snapshot_and_azure_provider() -> None:
    base = estimate_cost_usd("openai", "gpt-4o-mini", 1000, 100, None)
    assert estimate_cost_usd("openai", "gpt-4o-mini-2024-07-18", 1000, 100, None) == pytest.approx(base)
    azure = estimate_cost_usd("azure.ai.openai", "gpt-4o-mini", 1000, 100, None)
    assert azure is not None and azure > 0


def test_unknown_model_or_provider_is_none() -> None:
    assert estimate_cost_usd("openai", "no-such-model-xyz", 1000, 100, None) is None
    # A self-hosted server is not priced with somebody else's list price.
    assert estimate_cost_usd("my-vllm-box", "gpt-4o-mini", 1000, 100, None) is None
    # tracewrap's name for an unknown host; genai-prices alone would match "openai" inside it.
    assert estimate_cost_usd("openai_compatible", "gpt-4o-mini", 1000, 100, None) is None
    assert estimate_cost_usd("openai", "", 1000, 100, None) is None


def test_no_usage_reported_is_none() -> None:
    assert estimate_cost_usd("openai", "gpt-4o-mini", None, None, None) is None


def test_override_takes_precedence() -> None:
    set_price_override("gpt-4o-mini", input_per_mtok=2.0, output_per_mtok=8.0, cache_read_per_mtok=0.5)
    cost = estimate_cost_usd("openai", "gpt-4o-mini", 1_000_000, 500_000, 250_000)
    assert cost == pytest.approx(0.75 * 2.0 + 0.25 * 0.5 + 0.5 * 8.0)
    # Overrides also price models that genai-prices has never heard of, for any provider.
    set_price_override("my-finetune", 1.0, 3.0)
    assert estimate_cost_usd("my-vllm-box", "my-finetune", 2_000_000, 1_000_000, 1_000_000) == pytest.approx(
        2.0 + 3.0  # no cache price given: cached tokens billed at the input price
    )
    clear_price_overrides()
    assert estimate_cost_usd("my-vllm-box", "my-finetune", 1, 1, None) is None


def test_bad_counts_never_raise() -> None:
    assert estimate_cost_usd("openai", "gpt-4o-mini", -5, None, 10**9) == pytest.approx(0.0)
    assert estimate_cost_usd(None, None, "x", 1.5, None) is None  # type: ignore[arg-type]


@pytest.mark.usefixtures("fresh_warnings")
def test_missing_package_is_none_and_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("genai_prices"):
            raise ImportError("simulated: genai-prices not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        assert estimate_cost_usd("openai", "gpt-4o-mini", 1000, 100, None) is None
        assert estimate_cost_usd("openai", "gpt-4o", 1000, 100, None) is None
    # asked for and never coming: said once (it was silent: every span simply had no cost)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "tracewrap"]
    assert "genai-prices is not installed" in warning and "tracewrap[cost]" in warning
    set_price_override("gpt-4o-mini", 1.0, 1.0)
    assert estimate_cost_usd("openai", "gpt-4o-mini", 1_000_000, 0, None) == pytest.approx(1.0)


def test_service_tier_picks_the_tier_price() -> None:
    standard = estimate_cost_usd("openai", "gpt-5", 1_000_000, 100_000, None)
    flex = estimate_cost_usd("openai", "gpt-5", 1_000_000, 100_000, None, service_tier="flex")
    priority = estimate_cost_usd("openai", "gpt-5", 1_000_000, 100_000, None, service_tier="priority")
    assert standard == pytest.approx(1.25 + 0.1 * 10.0)  # gpt-5: $1.25/M in, $10/M out
    assert flex == pytest.approx(standard / 2)  # type: ignore[operator]
    assert priority == pytest.approx(standard * 2)  # type: ignore[operator]
    # a tier genai-prices has no price for ("auto", "default", a model without flex) is the standard
    for tier in ("auto", "default", "scale"):
        assert estimate_cost_usd("openai", "gpt-5", 1_000_000, 100_000, None, service_tier=tier) == standard


def test_audio_and_image_tokens_are_priced_at_their_rates() -> None:
    # gpt-4o-transcribe: $2.50/M text input, $6/M audio input, $10/M output
    text_only = estimate_cost_usd("openai", "gpt-4o-transcribe", 1_000_000, 0, None)
    audio = estimate_cost_usd("openai", "gpt-4o-transcribe", 1_000_000, 0, None, input_audio_tokens=1_000_000)
    assert (text_only, audio) == (pytest.approx(2.5), pytest.approx(6.0))
    # gpt-image-1: $5/M text input, $10/M image input
    image_in = estimate_cost_usd("openai", "gpt-image-1", 1_000_000, 0, None, input_image_tokens=400_000)
    assert image_in == pytest.approx(0.6 * 5 + 0.4 * 10)
    # a part larger than its whole is capped: never more tokens priced than were used
    capped = estimate_cost_usd("openai", "gpt-4o-transcribe", 1000, 0, None, input_audio_tokens=10**9)
    assert capped == pytest.approx(1000 * 6 / 1e6)


def test_audio_without_a_rate_gets_no_estimate(
    caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    # genai-prices 0.2.5 has no audio rate for the gpt-4o audio previews: priced as text, their audio
    # would cost 1/16 of its real price, so such a call has no estimate (and one warning says why)
    assert (
        estimate_cost_usd("openai", "gpt-4o-audio-preview", 1_000, 500, None, input_audio_tokens=800) is None
    )
    assert (
        estimate_cost_usd("openai", "gpt-4o-audio-preview", 1_000, 500, None, output_audio_tokens=400) is None
    )
    warned = [r.getMessage() for r in caplog.records if "gpt-4o-audio-preview" in r.getMessage()]
    assert len(warned) == 2 and "input_audio_tokens" in warned[0] and "output_audio_tokens" in warned[1]
    # the same model's text-only call, and a model with audio rates, are priced as before
    assert estimate_cost_usd("openai", "gpt-4o-audio-preview", 1_000_000, 0, None) == pytest.approx(2.5)
    # gpt-audio: $2.50/M text input, $32/M audio input
    assert estimate_cost_usd(
        "openai", "gpt-audio", 1_000_000, 0, None, input_audio_tokens=500_000
    ) == pytest.approx(0.5 * 2.5 + 0.5 * 32)
    # images are not held to it: gpt-image-1's output is all image, priced at its output rate
    assert estimate_cost_usd(
        "openai", "gpt-image-1", 50, 4160, None, output_image_tokens=4160
    ) == pytest.approx((50 * 5 + 4160 * 40) / 1e6)
    # a reported 0 is no part to price
    assert estimate_cost_usd(
        "openai", "gpt-4o-audio-preview", 1_000_000, 0, None, input_audio_tokens=0
    ) == pytest.approx(2.5)


def test_cached_and_audio_input_together_need_the_cached_audio_split() -> None:
    # genai-prices refuses cached + audio input without the cached audio count: tracewrap passes it,
    # 0 when the response did not split its cached tokens (they are priced as cached text)
    unsplit = estimate_cost_usd("openai", "gpt-realtime", 10_000, 100, 4_000, input_audio_tokens=3_000)
    split = estimate_cost_usd(
        "openai", "gpt-realtime", 10_000, 100, 4_000, input_audio_tokens=3_000, cache_audio_read_tokens=1_000
    )
    assert unsplit is not None and split is not None
    usage = genai_prices.Usage(
        input_tokens=10_000,
        output_tokens=100,
        cache_read_tokens=4_000,
        input_audio_tokens=3_000,
        cache_audio_read_tokens=1_000,
    )
    expected = float(genai_prices.calc_price(usage, "gpt-realtime", provider_id="openai").total_price)
    assert split == pytest.approx(expected)
    assert split != pytest.approx(unsplit)


def test_an_audio_call_is_priced_only_where_its_audio_has_a_rate(
    server: Any, telemetry: Any, fresh_warnings: None
) -> None:
    """End to end: the span's estimate and the cost counter, for two audio chat models."""
    client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
    for model in ("gpt-audio", "gpt-4o-audio-preview"):
        server.enqueue(
            Scenario(
                model=model,
                prompt_tokens=1000,
                completion_tokens=200,
                cached_tokens=0,
                reasoning_tokens=0,
                audio_tokens=100,
            )
        )
        client.chat.completions.create(model=model, messages=MESSAGES)
    priced, unpriced = (dict(span.attributes or {}) for span in telemetry.spans())
    expected = estimate_cost_usd(
        "openai", "gpt-audio", 1000, 200, 0, input_audio_tokens=100, output_audio_tokens=100
    )
    assert expected is not None and expected > estimate_cost_usd("openai", "gpt-audio", 1000, 200, 0)  # type: ignore[operator]
    assert priced["tracewrap.cost.estimate_usd"] == pytest.approx(expected)
    assert priced["tracewrap.usage.audio.input_tokens"] == 100
    assert "tracewrap.cost.estimate_usd" not in unpriced
    assert unpriced["tracewrap.usage.audio.input_tokens"] == 100  # the usage is still there
    costs = {
        p.attributes["gen_ai.request.model"]: p.value for p in telemetry.points("tracewrap.client.cost.usd")
    }
    assert costs == {"gpt-audio": pytest.approx(expected)}

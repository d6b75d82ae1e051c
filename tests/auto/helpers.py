"""Assertions shared by the auto-instrumentation tests."""

from __future__ import annotations

from typing import Any

from tests.auto.harness import ChildRun

# what the fake server answers by default (tracewrap.testing.Scenario)
PROMPT_TOKENS = 12
COMPLETION_TOKENS = 7
TEXT = "Hello! How can I help?"
CALLS_APP_MODELS = ("m-sync", "m-options", "m-subclass", "m-module", "m-async", "m-stream", "m-embed")


def dated(model: str) -> str:
    return f"{model}-2024-07-18"


def assert_one_span_per_call(run: ChildRun, models: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """Exactly one tracewrap span per model called, nothing else from tracewrap, real usage on each."""
    by_model = run.by_model()
    assert sorted(by_model) == sorted(models), (sorted(by_model), run.stderr)
    spans = {}
    for model, found in by_model.items():
        assert len(found) == 1, (model, found)
        span = found[0]
        attributes = span["attributes"]
        assert span["status"] == "UNSET", span
        assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS, span
        if attributes["gen_ai.operation.name"] != "embeddings":
            assert attributes["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS, span
            assert attributes["gen_ai.response.model"] == dated(model), span
        spans[model] = span
    return spans


def assert_calls_app(run: ChildRun) -> dict[str, dict[str, Any]]:
    result = run.result
    assert result["sync"] == TEXT and result["stream"] == TEXT and result["async"] == TEXT, result
    assert result["subclass"] == TEXT and result["with_options"] == dated("m-options"), result
    assert result["module"] == dated("m-module") and result["embeddings"] > 0, result
    spans = assert_one_span_per_call(run, CALLS_APP_MODELS)
    assert spans["m-stream"]["name"] == "chat m-stream"
    assert spans["m-subclass"]["attributes"]["gen_ai.operation.name"] == "chat"  # Responses API
    assert spans["m-embed"]["attributes"]["gen_ai.operation.name"] == "embeddings"
    return spans

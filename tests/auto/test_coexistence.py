"""tracewrap next to the other OpenAI tracers in one process: nothing breaks, tracewrap never doubles."""

from __future__ import annotations

from pathlib import Path

from tests.auto.harness import AutoVenv, console_spans
from tests.auto.helpers import COMPLETION_TOKENS, TEXT, assert_one_span_per_call

ON = {"TRACEWRAP_ENABLED": "true"}
GENAI_SCOPE = "opentelemetry.instrumentation.genai.openai"


def _assert_results(result: dict[str, object]) -> None:
    assert result["chat"] == result["stream"] == result["responses"] == TEXT, result
    assert result["chat_type"] == "ChatCompletion" and result["responses_type"] == "Response", result


def test_with_opentelemetry_genai_instrumentation(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "coexist.py", "genai"], tmp_path, ON)
    _assert_results(run.result)
    ours = assert_one_span_per_call(
        run, ["m-genai-before", "m-genai-chat", "m-genai-stream", "m-genai-responses"]
    )
    theirs = {s["attributes"]["gen_ai.request.model"]: s for s in run.spans if s["scope"] == GENAI_SCOPE}
    # both patch the SDK's resource classes, so both see every client, also the one built before
    # either was installed; theirs, installed after ours, wraps ours: our span is its child
    assert sorted(theirs) == ["m-genai-before", "m-genai-chat", "m-genai-responses", "m-genai-stream"]
    assert len(run.spans) == 8
    for model, span in ours.items():
        parent = theirs[model]
        assert span["parent_id"] == parent["span_id"] and span["trace_id"] == parent["trace_id"]
        assert parent["attributes"]["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS


def test_with_langsmith_wrap_openai(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "coexist.py", "langsmith"], tmp_path, ON)
    _assert_results(run.result)
    assert_one_span_per_call(run, ["m-langsmith-chat", "m-langsmith-stream", "m-langsmith-responses"])


def test_explicit_wrap_in_an_auto_instrumented_process_does_not_double(
    venv: AutoVenv, tmp_path: Path
) -> None:
    run = venv.run([venv.python, "coexist.py", "explicit"], tmp_path, ON)
    _assert_results(run.result)
    models = [f"m-{who}-{what}" for who in ("explicit", "proxy") for what in ("chat", "stream", "responses")]
    assert_one_span_per_call(run, models)
    assert len(run.spans) == 6


def test_opentelemetry_instrument_with_both_instrumentations(venv: AutoVenv, tmp_path: Path) -> None:
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "TRACEWRAP_ENABLED": "true",
    }  # .pth hook AND entry point: instrument() must happen once
    argv = [str(venv.bin / "opentelemetry-instrument"), "python", "coexist.py", "otel"]
    run = venv.run(argv, tmp_path, env, sink=False)
    _assert_results(run.result)
    spans = console_spans(run.stdout)
    assert len(spans) == 6  # one tracewrap span and one genai span per call, one nested in the other
    by_model: dict[str, dict[str, dict]] = {}
    for span in spans:
        scope = span["instrumentation_scope"]["name"] if "instrumentation_scope" in span else None
        who = "ours" if span["attributes"]["gen_ai.provider.name"] == "openai_compatible" else "theirs"
        by_model.setdefault(span["attributes"]["gen_ai.request.model"], {})[who] = span
        assert scope in (None, "tracewrap", GENAI_SCOPE)
    assert sorted(by_model) == ["m-otel-chat", "m-otel-responses", "m-otel-stream"]
    for pair in by_model.values():
        ours, theirs = pair["ours"], pair["theirs"]  # ours: a local base URL; theirs says "openai"
        assert ours["context"]["trace_id"] == theirs["context"]["trace_id"]
        nested = (ours["parent_id"], theirs["parent_id"])
        assert nested in (
            (theirs["context"]["span_id"], None),
            (None, ours["context"]["span_id"]),
        ), nested

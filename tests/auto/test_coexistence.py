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
    theirs = [s for s in run.spans if s["scope"] == GENAI_SCOPE]
    # theirs patches the resource classes; tracewrap holds the methods a client had when it was
    # built, so the client built before OpenAIInstrumentor().instrument() has only tracewrap's span
    assert sorted(s["attributes"]["gen_ai.request.model"] for s in theirs) == [
        "m-genai-chat",
        "m-genai-responses",
        "m-genai-stream",
    ]
    assert len(run.spans) == 7
    for span in theirs:
        parent = ours[span["attributes"]["gen_ai.request.model"]]
        # theirs runs inside ours (ours wraps the resource method they patched on the class)
        assert span["parent_id"] == parent["span_id"] and span["trace_id"] == parent["trace_id"]
        assert span["attributes"]["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS


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
    roots = {s["attributes"]["gen_ai.request.model"]: s for s in spans if s["parent_id"] is None}
    assert sorted(roots) == ["m-otel-chat", "m-otel-responses", "m-otel-stream"]
    assert len(spans) == 6  # one tracewrap span (the root) and one genai child per call
    for span in spans:
        if span["parent_id"] is not None:
            parent = roots[span["attributes"]["gen_ai.request.model"]]
            assert span["parent_id"] == parent["context"]["span_id"]
            assert span["attributes"]["gen_ai.provider.name"] == "openai"  # theirs
            assert (
                parent["attributes"]["gen_ai.provider.name"] == "openai_compatible"
            )  # ours: a local base URL

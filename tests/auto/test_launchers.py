"""``opentelemetry-instrument python app.py`` and ``tracewrap run -- python app.py`` in fresh interpreters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.auto.harness import AutoVenv, console_spans
from tests.auto.helpers import CALLS_APP_MODELS, COMPLETION_TOKENS, PROMPT_TOKENS, assert_calls_app, dated

CONSOLE = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}


def test_opentelemetry_instrument_loads_the_tracewrap_entry_point(venv: AutoVenv, tmp_path: Path) -> None:
    # the distro's console exporter prints spans on stdout; the genai instrumentation is turned off
    # so that every span printed is tracewrap's
    env = {**CONSOLE, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai"}
    run = venv.run(
        [str(venv.bin / "opentelemetry-instrument"), "python", "calls.py"], tmp_path, env, sink=False
    )
    assert run.result["sync"] == "Hello! How can I help?"
    spans = console_spans(run.stdout)
    models = sorted(s["attributes"]["gen_ai.request.model"] for s in spans)
    assert models == sorted(CALLS_APP_MODELS), spans
    for span in spans:
        attributes = span["attributes"]
        assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
        assert span["parent_id"] is None and span["kind"] == "SpanKind.CLIENT"
        if attributes["gen_ai.operation.name"] == "chat":
            assert attributes["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS
            assert attributes["gen_ai.response.model"] == dated(attributes["gen_ai.request.model"])
    assert "no exporter is configured" not in run.stderr


def test_opentelemetry_instrument_respects_disabling_tracewrap(venv: AutoVenv, tmp_path: Path) -> None:
    env = {**CONSOLE, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,tracewrap"}
    run = venv.run(
        [str(venv.bin / "opentelemetry-instrument"), "python", "calls.py"], tmp_path, env, sink=False
    )
    assert run.result["sync"] == "Hello! How can I help?"
    assert console_spans(run.stdout) == []


@contextlib.contextmanager
def _without_pth(venv: AutoVenv) -> Iterator[None]:
    """Hide the wheel's .pth, as in installs where it is never read (vendored onto PYTHONPATH)."""
    pth = venv.site_packages / "tracewrap_autoinstrument.pth"
    hidden = pth.with_suffix(".hidden")
    pth.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(pth)


def test_tracewrap_run_without_the_pth(venv: AutoVenv, tmp_path: Path) -> None:
    # an existing sitecustomize on PYTHONPATH must still run: ours shadows it, then executes it
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    marker = tmp_path / "their-sitecustomize-ran"
    (theirs / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with _without_pth(venv):
        untraced = venv.run([venv.python, "calls.py"], tmp_path, {"TRACEWRAP_ENABLED": "true"})
        assert untraced.spans == []  # proves the .pth really is out of the way
        run = venv.run(
            [str(venv.bin / "tracewrap"), "run", "--", "python", "calls.py"],
            tmp_path,
            {"PYTHONPATH": str(theirs)},
        )
    assert_calls_app(run)
    assert marker.exists()


def test_tracewrap_run_with_the_pth_too_traces_once(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([str(venv.bin / "tracewrap"), "run", "--", "python", "calls.py"], tmp_path)
    assert_calls_app(run)


def test_tracewrap_run_children_and_kill_switch(venv: AutoVenv, tmp_path: Path) -> None:
    with _without_pth(venv):
        # spawn children inherit PYTHONPATH and TRACEWRAP_ENABLED from the launcher
        run = venv.run([str(venv.bin / "tracewrap"), "run", "--", "python", "workers.py", "spawn"], tmp_path)
        assert sorted(run.by_model()) == ["m-parent", "m-spawn-0", "m-spawn-1"]
        killed = venv.run(
            [str(venv.bin / "tracewrap"), "run", "--", "python", "calls.py"],
            tmp_path,
            {"TRACEWRAP_ENABLED": "false"},
        )
    assert killed.result["sync"] == "Hello! How can I help?"
    assert killed.spans == []


def test_tracewrap_run_passes_the_exit_code_on(venv: AutoVenv, tmp_path: Path) -> None:
    tracewrap = str(venv.bin / "tracewrap")
    exited = venv.run([tracewrap, "run", "--", "python", "-c", "raise SystemExit(3)"], tmp_path, check=False)
    assert exited.returncode == 3
    missing = venv.run([tracewrap, "run", "--", "no-such-command-xyz"], tmp_path, check=False)
    assert missing.returncode == 127 and "command not found: no-such-command-xyz" in missing.stderr
    empty = venv.run([tracewrap, "run"], tmp_path, check=False)
    assert empty.returncode == 2 and "no command given" in empty.stderr

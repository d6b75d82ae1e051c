"""The wheel's ``.pth`` start-up hook in fresh interpreters: on, off, before and after ``import openai``."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.auto.harness import AutoVenv
from tests.auto.helpers import TEXT, assert_calls_app, assert_one_span_per_call, dated

ON = {"TRACEWRAP_ENABLED": "true"}


def test_wheel_ships_the_hook_at_its_root_and_the_entry_points(venv: AutoVenv) -> None:
    with zipfile.ZipFile(venv.wheel) as wheel:
        names = wheel.namelist()
        pth = wheel.read("tracewrap_autoinstrument.pth").decode()
        entry_points = next(
            wheel.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")
        )
    code_lines = [line for line in pth.splitlines() if line and not line.startswith("#")]
    assert len(code_lines) == 1 and code_lines[0].startswith("import os;")
    assert "TRACEWRAP_ENABLED" in code_lines[0] and '__import__("tracewrap.auto.boot")' in code_lines[0]
    # the start-up code exists once, in the package: no second copy at the root (two module objects)
    assert [n for n in names if n.endswith(".py") and "/" not in n] == []
    assert "tracewrap/auto/boot.py" in names
    assert "tracewrap/auto/_site/sitecustomize.py" in names
    assert "tracewrap = tracewrap.instrumentor:TraceWrapInstrumentor" in entry_points
    assert "tracewrap = tracewrap.cli:main" in entry_points
    assert (venv.site_packages / "tracewrap_autoinstrument.pth").exists()


def _imported_modules(venv: AutoVenv, tmp_path: Path, env: dict[str, str], code: str = "pass") -> set[str]:
    run = venv.run([venv.python, "-X", "importtime", "-c", code], tmp_path, env, sink=False)
    return {
        line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")
    }


def test_unset_or_false_imports_nothing_at_start_up(venv: AutoVenv, tmp_path: Path) -> None:
    for env in ({}, {"TRACEWRAP_ENABLED": "false"}, {"TRACEWRAP_ENABLED": ""}):
        modules = _imported_modules(venv, tmp_path, env)
        assert "encodings" in modules  # importtime output was read
        assert not {
            m for m in modules if m.split(".")[0] in ("tracewrap", "wrapt", "opentelemetry", "openai")
        }


def test_set_without_openai_only_registers_hooks(venv: AutoVenv, tmp_path: Path) -> None:
    modules = _imported_modules(venv, tmp_path, ON)
    # the standard-library-only start-up stage; everything else waits for `import openai`: a
    # program that never uses it pays almost nothing
    assert {m for m in modules if m.split(".")[0] == "tracewrap"} == {
        "tracewrap",
        "tracewrap.auto",
        "tracewrap.auto.boot",
        "tracewrap.auto.import_hooks",
        "tracewrap.environment",
        "tracewrap.process_ends",
    }
    assert not {m for m in modules if m.split(".")[0] in ("wrapt", "opentelemetry", "openai")}
    assert not {"threading", "typing", "asyncio", "logging", "enum", "dataclasses"} & modules
    with_openai = _imported_modules(venv, tmp_path, ON, "import openai")
    assert {"tracewrap.auto.patching", "tracewrap.auto.startup", "wrapt"} <= with_openai


def test_openai_imported_after_start_up(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "calls.py"], tmp_path, ON)
    spans = assert_calls_app(run)
    assert len({s["trace_id"] for s in spans.values()}) == len(spans)  # separate calls, separate traces
    assert "no exporter is configured" not in run.stderr  # the sink installed a provider: no hint


def test_openai_imported_before_start_up(venv: AutoVenv, tmp_path: Path) -> None:
    # 01_twtest_early_openai.pth imports openai before tracewrap_autoinstrument.pth is read
    run = venv.run([venv.python, "calls.py"], tmp_path, {**ON, "TWTEST_IMPORT_OPENAI_EARLY": "1"})
    assert_calls_app(run)


def test_a_probe_for_openai_before_its_import_still_traces(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "probe_first.py"], tmp_path, ON)
    assert run.result == {"model": dated("m-probed")}
    assert_one_span_per_call(run, ["m-probed"])


def test_unset_traces_nothing(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "calls.py"], tmp_path, {})
    assert run.result["sync"] == TEXT
    assert run.spans == []


def test_a_value_that_is_not_a_boolean_is_warned_about(venv: AutoVenv, tmp_path: Path) -> None:
    """``TRACEWRAP_ENABLED=ture``: the .pth hands it to the start-up stage, which warns as
    ``tracewrap run`` does (the .pth used to drop it silently) and leaves the program untraced."""
    run = venv.run([venv.python, "calls.py"], tmp_path, {"TRACEWRAP_ENABLED": "ture"})
    assert run.result["sync"] == TEXT
    assert run.spans == []
    said = "TRACEWRAP_ENABLED='ture' is not a boolean (true/false); read as unset: no zero-code tracing"
    assert run.stderr.count(said) == 1, run.stderr


def test_hint_when_nothing_is_configured_prints_once_per_process_tree(venv: AutoVenv, tmp_path: Path) -> None:
    run = venv.run([venv.python, "workers.py", "spawn"], tmp_path, ON, sink=False)
    assert run.stderr.count("no exporter is configured") == 1, run.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in run.stderr
    assert len(run.result) == 4  # parent + 2 children + exit codes: the program itself ran normally
    quiet = venv.run([venv.python, "calls.py"], tmp_path, {**ON, "OTEL_TRACES_EXPORTER": "none"}, sink=False)
    assert "tracewrap" not in quiet.stderr, quiet.stderr


def test_kill_switch_beats_wrap_and_instrument(venv: AutoVenv, tmp_path: Path) -> None:
    for env in ({"TRACEWRAP_ENABLED": "false"}, {"TRACEWRAP_ENABLED": "true", "OTEL_SDK_DISABLED": "true"}):
        run = venv.run([venv.python, "killed.py"], tmp_path, env)
        result = run.result
        assert result["instrument_returned"] is False
        assert result["init_patched"] == "function"
        assert result["wrapped"] == result["proxied"] == "m-killed-2024-07-18"
        assert result["marks"] == [False, False]
        assert run.spans == [], run.spans
        assert "tracewrap" not in run.stderr

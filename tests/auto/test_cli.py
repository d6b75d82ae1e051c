"""``tracewrap`` command dispatch and the launcher's environment (in this process)."""

from __future__ import annotations

import os
import sys
from types import ModuleType

import pytest

from tracewrap import cli
from tracewrap.auto.launcher import SITE_DIR, child_environment


def test_child_environment() -> None:
    env = child_environment({"PYTHONPATH": f"/a{os.pathsep}{SITE_DIR}", "X": "1"})
    assert env["TRACEWRAP_ENABLED"] == "true" and env["X"] == "1"
    assert env["PYTHONPATH"] == f"{SITE_DIR}{os.pathsep}/a"  # first, and only once
    assert (SITE_DIR / "sitecustomize.py").exists()
    assert (
        child_environment({"TRACEWRAP_ENABLED": "false"})["TRACEWRAP_ENABLED"] == "false"
    )  # kill switch wins


def test_demo_dispatches_lazily_with_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []
    demo = ModuleType("tracewrap.demo")

    def main(argv: list[str]) -> int:
        received.append(argv)
        return 5

    demo.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tracewrap.demo", demo)
    assert cli.main(["demo", "--fast", "x"]) == 5
    assert received == [["--fast", "x"]]


def test_demo_main_without_parameters_reads_sys_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = ModuleType("tracewrap.demo")
    seen: list[list[str]] = []
    demo.main = lambda: seen.append(list(sys.argv))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tracewrap.demo", demo)
    monkeypatch.setattr(sys, "argv", ["tracewrap", "demo", "--n", "2"])
    assert cli.main() == 0
    assert seen == [["tracewrap demo", "--n", "2"]]


def test_run_without_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--"]) == 2
    assert "no command given" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2


def test_run_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--help"]) == 0
    assert "TRACEWRAP_ENABLED=true" in capsys.readouterr().out

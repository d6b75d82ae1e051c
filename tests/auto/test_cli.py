"""``tracewrap`` command dispatch and the launcher's environment (in this process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
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


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, []),
        ("", []),  # empty: Python adds nothing for it, nor do we
        (":/opt/lib", ["", "/opt/lib"]),  # the leading empty entry is the current directory
        ("/opt/lib:", ["/opt/lib", ""]),
        ("/a::/b", ["/a", "", "/b"]),
        ("{site}:", [""]),  # tracewrap run inside tracewrap run: ours once, the cwd kept
    ],
)
def test_child_environment_keeps_empty_pythonpath_entries(given: str | None, expected: list[str]) -> None:
    base = {} if given is None else {"PYTHONPATH": given.replace(":", os.pathsep).format(site=SITE_DIR)}
    assert child_environment(base)["PYTHONPATH"].split(os.pathsep) == [str(SITE_DIR), *expected]


def test_a_program_importing_from_its_working_directory_through_an_empty_entry(tmp_path: Path) -> None:
    """PYTHONPATH=":/opt/lib" from a directory holding the module: imports under tracewrap run as
    without it (the empty entry was dropped, and the import failed)."""
    work, program = tmp_path / "work", tmp_path / "program"
    work.mkdir()
    program.mkdir()
    (work / "twlocalmod.py").write_text("X = 1\n")
    (program / "main.py").write_text("import twlocalmod\nprint(twlocalmod.X)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep + "/opt/lib")
    env.pop("TRACEWRAP_ENABLED", None)
    env = child_environment(env)
    env["TRACEWRAP_ENABLED"] = "false"  # only the launcher's PYTHONPATH is under test here
    argv = [sys.executable, str(program / "main.py")]
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr


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


def test_python_dash_m_tracewrap_is_the_command() -> None:
    """``python -m tracewrap`` works where the console script is not installed (``pip install
    --target``, a zip app): it was "No module named tracewrap.__main__"."""
    argv = [sys.executable, "-m", "tracewrap", "run", "--help"]
    done = subprocess.run(argv, env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: tracewrap run") and "TRACEWRAP_ENABLED=true" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "tracewrap"], env=dict(os.environ), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "usage: tracewrap" in done.stderr  # argparse: a command is required


def test_demo_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "tracewrap demo: trace a realistic mix of OpenAI calls" in out and "``" not in out

"""The stdlib-only start-up stage: the switch, the post-import hooks, the process-end patch."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tracewrap import environment, process_ends
from tracewrap.auto import import_hooks


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"TRACEWRAP_ENABLED": "false"}, False),
        ({"TRACEWRAP_ENABLED": "maybe"}, False),
        ({"TRACEWRAP_ENABLED": " TRUE "}, True),
        ({"TRACEWRAP_ENABLED": "1"}, True),
        ({"TRACEWRAP_ENABLED": "true", "OTEL_SDK_DISABLED": "true"}, False),
        ({"TRACEWRAP_ENABLED": "on", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_enabled(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool) -> None:
    for name in ("TRACEWRAP_ENABLED", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment.auto_instrumentation_requested() is expected


@pytest.mark.parametrize("first", ["zero-code", "kill switch"])
def test_a_value_that_is_not_a_boolean_is_unset_for_both_rules_and_said_once(
    monkeypatch: pytest.MonkeyPatch, fresh_warnings: None, caplog: pytest.LogCaptureFixture, first: str
) -> None:
    """``TRACEWRAP_ENABLED=ture``: no zero-code tracing, and ``wrap()`` still traces (both read it as
    unset); whichever reads it first, one warning that says both (it said "using False")."""
    monkeypatch.setenv("TRACEWRAP_ENABLED", "ture")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    reads = [environment.auto_instrumentation_requested, environment.tracing_enabled]
    with caplog.at_level("WARNING", logger="tracewrap"):
        seen = [read() for read in (reads if first == "zero-code" else reads[::-1])]
    assert seen == ([False, True] if first == "zero-code" else [True, False])
    assert [r.getMessage() for r in caplog.records] == [
        "TRACEWRAP_ENABLED='ture' is not a boolean (true/false); read as unset: no zero-code tracing, "
        "and wrap() / instrument() still trace"
    ]


def _pth_code() -> str:
    pth = Path(environment.__file__).parent / "auto" / "tracewrap_autoinstrument.pth"
    return next(line for line in pth.read_text().splitlines() if line and not line.startswith("#"))


def test_the_pth_line_uses_the_environment_modules_words() -> None:
    """The .pth line is the one copy of a rule outside ``tracewrap.environment``: the same words."""
    code = _pth_code()
    words = code.split(" not in ", 1)[1].split(")", 1)[0] + ")"
    assert eval(words) == ("", *environment.FALSE_WORDS)
    assert '__import__("tracewrap.auto.boot").auto.boot.start()' in code


@pytest.mark.parametrize(
    ("value", "starts"),
    [
        (None, False),
        ("", False),
        ("  ", False),
        ("false", False),
        (" OFF ", False),
        ("0", False),
        ("true", True),
        ("1", True),
        # not a boolean: the start-up stage reads it by tracewrap.environment's rules and warns,
        # as under `tracewrap run` (the .pth used to drop it silently)
        ("ture", True),
    ],
)
def test_the_pth_line_starts_the_start_up_stage_unless_unset_or_false(
    value: str | None, starts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracewrap.auto import boot

    started: list[bool] = []
    monkeypatch.setattr(boot, "start", lambda: started.append(True))
    monkeypatch.delenv("TRACEWRAP_ENABLED", raising=False)
    if value is not None:
        monkeypatch.setenv("TRACEWRAP_ENABLED", value)
    exec(_pth_code(), {})
    assert started == ([True] if starts else [])


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("twboot_")]:
        del sys.modules[name]


def test_hook_runs_after_the_module_executed(module_dir: Path) -> None:
    (module_dir / "twboot_after.py").write_text("VALUE = 42\n")
    seen: list[Any] = []
    import_hooks.when_imported("twboot_after", lambda m: seen.append((m.__name__, m.VALUE)))
    assert seen == []
    module = importlib.import_module("twboot_after")
    assert seen == [("twboot_after", 42)]
    # the module and its spec name the real loader, not the hook's wrapper
    assert isinstance(module.__loader__, importlib.machinery.SourceFileLoader)
    assert module.__spec__ is not None and module.__spec__.loader is module.__loader__
    importlib.reload(module)
    assert len(seen) == 1  # once
    assert "twboot_after" not in import_hooks._finder().hooks


def test_a_find_spec_probe_before_the_import_keeps_the_hook(module_dir: Path) -> None:
    """Libraries probe optional dependencies (instructor: ``importlib.util.find_spec("openai")``)
    before anything imports them; the hook must still run at the real import."""
    (module_dir / "twboot_probed.py").write_text("VALUE = 7\n")
    seen: list[Any] = []
    import_hooks.when_imported("twboot_probed", lambda m: seen.append(m.VALUE))
    assert importlib.util.find_spec("twboot_probed") is not None
    assert seen == [] and "twboot_probed" in import_hooks._finder().hooks
    importlib.import_module("twboot_probed")
    assert seen == [7] and "twboot_probed" not in import_hooks._finder().hooks


def test_hook_for_an_imported_module_runs_now(module_dir: Path) -> None:
    (module_dir / "twboot_now.py").write_text("")
    importlib.import_module("twboot_now")
    seen: list[str] = []
    import_hooks.when_imported("twboot_now", lambda m: seen.append(m.__name__))
    assert seen == ["twboot_now"]


def test_failing_hook_does_not_fail_the_import(module_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (module_dir / "twboot_fail.py").write_text("X = 1\n")

    def broken(module: ModuleType) -> None:
        raise RuntimeError("boom")

    import_hooks.when_imported("twboot_fail", broken)
    assert importlib.import_module("twboot_fail").X == 1
    assert "hook for twboot_fail failed (RuntimeError: boom)" in capsys.readouterr().err


def test_missing_module_still_raises(module_dir: Path) -> None:
    import_hooks.when_imported("twboot_missing", lambda m: None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("twboot_missing")
    import_hooks._finder().hooks.pop("twboot_missing")


def test_process_bootstrap_patch_is_idempotent_and_transparent() -> None:
    calls: list[Any] = []

    class BaseProcess:
        def _bootstrap(self, parent_sentinel: Any = None) -> int:
            calls.append(parent_sentinel)
            return 7

    fake = SimpleNamespace(BaseProcess=BaseProcess)
    process_ends._patch_process_bootstrap(fake)  # type: ignore[arg-type]
    patched = BaseProcess._bootstrap
    process_ends._patch_process_bootstrap(fake)  # type: ignore[arg-type]
    assert BaseProcess._bootstrap is patched
    assert BaseProcess()._bootstrap("s") == 7 and calls == ["s"]

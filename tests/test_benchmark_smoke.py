"""The overhead benchmark runs end to end in its quick mode (timings are not asserted).

One real functional assertion rides along: a 10,000-chunk stream traced with content capture off
leaves almost nothing behind once it has ended (tracemalloc, measured inside the benchmark).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "overhead.py"
SCENARIO_TITLES = (
    "chat non-stream",
    "chat stream (50 chunks)",
    "Responses non-stream",
    "Responses stream (50 chunks)",
    "async chat x100 concurrent",
)
CORE_COLUMNS = (
    "bare SDK",
    "tracewrap disabled",
    "conventions floor",
    "full floor",
    "tracewrap no content",
    "tracewrap content",
)
RETAINED_BOUND = 200 * 1024  # bytes


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    path = os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.timeout(320)
def test_quick_prints_every_scenario_and_column(quick_run: tuple[str, dict[str, Any]]) -> None:
    stdout, results = quick_run
    header = next(line for line in stdout.splitlines() if line.startswith("| scenario |"))
    for column in CORE_COLUMNS[1:]:
        assert column in header
    assert "bare µs/call" in header
    # peers are optional columns: whichever were importable must be in the table too
    for column in results["columns"]:
        if column["key"] != "bare":
            assert column["title"] in header
    for title in SCENARIO_TITLES:
        assert any(line.startswith(f"| {title} |") for line in stdout.splitlines()), title
    for section in ("Stream aggregation", "Memory", "Import cost", "Start-up hook", "Targets"):
        assert f"### {section}" in stdout
    # each stream target says its margin under the bound and whether the run's rounds decide it
    stream_targets = [t for t in results["targets"] if t["name"].startswith("stream overhead")]
    assert len(stream_targets) == 2
    for target in stream_targets:
        assert "margin " in target["detail"] and "95 % interval over rounds" in target["detail"]


@pytest.mark.timeout(320)
def test_startup_hook_section_measures_every_configuration(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, results = quick_run
    startup = results["startup"]
    for code in ("pass", "import openai"):
        rows = startup[code]["rows"]
        assert set(rows) == {
            "no tracewrap hook",
            "hook, TRACEWRAP_ENABLED unset",
            "hook, TRACEWRAP_ENABLED=false",
            "hook, TRACEWRAP_ENABLED=true",
        }
        assert all(row["median_ms"] > 0 for row in rows.values())
    # the hook really runs in its venv: switched on, it loads tracewrap when openai is imported
    assert startup["hook_loaded_tracewrap"] is True
    assert 0 < startup["pth_line_unset_us"] < 1000


@pytest.mark.timeout(320)
def test_long_stream_retains_almost_nothing_with_content_off(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, results = quick_run
    traced = results["memory"]["tw_off_10000"]
    assert traced["chunks"] == 10_000
    assert traced["retained"] < RETAINED_BOUND, f"retained {traced['retained']} bytes after the stream ended"
    # and nothing in the tracing grows with the stream: same extra peak for 1,000 and 10,000 chunks
    memory = results["memory"]
    extra_small = memory["tw_off_1000"]["peak"] - memory["bare_1000"]["peak"]
    extra_large = memory["tw_off_10000"]["peak"] - memory["bare_10000"]["peak"]
    assert extra_large - extra_small < RETAINED_BOUND


def _run_script(script: str, *args: str) -> str:
    """A benchmarks/ script run on this checkout's src/; its output (it must exit 0)."""
    path = os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH"))))
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": path},
        cwd=REPO,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.timeout(200)
def test_ab_compares_the_tree_with_a_commit() -> None:
    """benchmarks/ab.py exports HEAD as a second package and times both side by side."""
    if not (REPO / ".git").exists():
        pytest.fail("benchmarks/ab.py needs a git checkout; the test runs from one")
    output = _run_script("ab.py", "chat", "--seconds", "0.5", "--against", "HEAD")
    line = next(line for line in output.splitlines() if line.startswith("chat "))
    rounds = int(line.split()[1])
    assert rounds >= 15  # the minimum number of rounds, whatever the time given
    for label in ("conventions floor +", "floor +", "new +", "base +", "new - base "):
        assert label in line
    for label in ("conventions floor +", "new +", "base +"):  # figures, whatever the machine's load
        float(line.split(label)[1].split()[0])


@pytest.mark.timeout(200)
def test_ablation_times_each_piece_against_a_faithful_replay() -> None:
    """benchmarks/ablation.py: copies of the tree, each with one piece replayed; it stops if a
    replayed call's span, or that of a rung of the reading floor's ladder, differs from the unmodified
    copy's (checked for chat and Responses)."""
    lines = _run_script("ablation.py", "chat", "responses", "--seconds", "0.3").splitlines()
    for scenario in ("chat", "responses"):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{scenario}: "))
        rows = {line.split("+")[0].strip(): line for line in lines[start + 1 : start + 11]}
        assert set(rows) == {
            "intercepted",
            "reading",
            "with record",
            "with readers",
            "unmodified",
            "request read",
            "response read",
            "end attributes",
            "counter table",
            "all four",
        }
        ablated = [
            label
            for label in rows
            if label not in ("intercepted", "reading", "with record", "with readers", "unmodified")
        ]
        assert all("piece costs" in rows[label] for label in ablated)


@pytest.mark.timeout(200)
def test_warm_vs_in_place_runs_each_setting_on_its_stand_in() -> None:
    """benchmarks/warm_vs_in_place.py: per scenario a line per setting, in order; the run stops if a
    round did not end one span per traced column. Only ``in place`` runs the SDK inside the bare call."""
    lines = _run_script("warm_vs_in_place.py", "chat", "responses", "--seconds", "0.3").splitlines()
    for scenario in ("chat", "responses"):
        start = lines.index(f"{scenario}:")
        rows = [line.split() for line in lines[start + 1 : start + 4]]
        assert [row[0] for row in rows] == ["warm", "SDK", "in"]
        figures = {}
        for row in rows:
            text = " ".join(row)
            assert int(text.split(" rounds")[0].split()[-1]) >= 15
            bare = float(text.split("bare ")[1].split()[0])
            # the figures' values are the machine's (0.3 s of rounds on a loaded machine can give a
            # negative floor or interval): only that each is there, a number, is this test's to check
            float(text.split("floor +")[1].split()[0])
            interval = re.search(r"\((-?[\d.]+)-(-?[\d.]+)x\)$", text)
            assert interval is not None, text
            assert float(interval[1]) <= float(interval[2])
            figures[row[0]] = bare
        # the warm and "SDK between" stand-ins hand back a response made once; in place is an SDK call
        assert figures["in"] > 20 * figures["warm"]
        assert figures["SDK"] < 20 * figures["warm"] + 5

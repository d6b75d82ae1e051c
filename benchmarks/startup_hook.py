#!/usr/bin/env python
"""What tracewrap's ``.pth`` start-up hook costs each interpreter start, off and on.

    python benchmarks/startup_hook.py               # 200 runs of `python -c pass` per configuration
    python benchmarks/startup_hook.py --runs 30     # fewer (overhead.py --quick uses 20)

Two throwaway venvs (``--without-pip``, same interpreter) are built with the same path file giving
them this interpreter's packages and the checkout's ``src``; one of them also gets the files the
wheel installs at its root for auto-instrumentation (``tracewrap_autoinstrument.pth``, which imports
the start-up module ``tracewrap.auto.boot`` from the package). So "no hook" and "hook" differ by
exactly the hook. Configurations run interleaved, round after round (drift hits all alike);
each hook configuration is reported as the median of its paired differences from "no hook" in the
same round, with their IQR as the noise. ``overhead.py`` runs this as one of its sections.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AUTO = REPO / "src" / "tracewrap" / "auto"
HOOK_PTH = "tracewrap_autoinstrument.pth"

# label -> (venv with the hook?, extra environment)
CONFIGS: dict[str, tuple[bool, dict[str, str]]] = {
    "no tracewrap hook": (False, {}),
    "hook, TRACEWRAP_ENABLED unset": (True, {}),
    "hook, TRACEWRAP_ENABLED=false": (True, {"TRACEWRAP_ENABLED": "false"}),
    "hook, TRACEWRAP_ENABLED=true": (True, {"TRACEWRAP_ENABLED": "true"}),
}
BASELINE = "no tracewrap hook"


def _make_venv(root: Path, with_hook: bool) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = Path(purelib)
    # this interpreter's packages (openai, the OTel SDK, wrapt) and the checkout, in both venvs
    paths = [str(REPO / "src"), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    (site / "_bench_paths.pth").write_text("\n".join(dict.fromkeys(paths)) + "\n")
    if with_hook:
        (site / HOOK_PTH).write_text((AUTO / HOOK_PTH).read_text())
    return str(python)


def _run_ms(python: str, code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [python, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return (time.perf_counter() - started) * 1000


def iqr(values: list[float]) -> float:
    """Interquartile range (the spread of the middle half); max - min below four values."""
    if len(values) < 4:
        return max(values) - min(values) if values else 0.0
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def startup_costs(runs: int = 200, import_runs: int | None = None) -> dict[str, Any]:
    """Interleaved fresh-interpreter timings of ``pass`` and ``import openai`` per configuration."""
    import_runs = import_runs if import_runs is not None else max(3, runs // 10)  # ~0.6 s each
    base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tw-startup-") as tmp:
        pythons = {
            with_hook: _make_venv(Path(tmp) / f"hook{int(with_hook)}", with_hook)
            for with_hook in (False, True)
        }
        # what is timed must be a working hook: switched on, importing openai loads tracewrap
        probe = "import sys, openai; print('tracewrap.auto.patching' in sys.modules)"
        loaded = subprocess.run(
            [pythons[True], "-c", probe],
            env={**base_env, "TRACEWRAP_ENABLED": "true"},
            capture_output=True,
            text=True,
            check=True,
        )
        results["hook_loaded_tracewrap"] = loaded.stdout.strip() == "True"
        for code, n in (("pass", runs), ("import openai", import_runs)):
            samples: dict[str, list[float]] = {label: [] for label in CONFIGS}
            for _ in range(n):
                for label, (with_hook, extra) in CONFIGS.items():
                    samples[label].append(_run_ms(pythons[with_hook], code, {**base_env, **extra}))
            rows = {}
            for label, values in samples.items():
                paired = [v - b for v, b in zip(values, samples[BASELINE], strict=True)]
                rows[label] = {
                    "median_ms": statistics.median(values),
                    "vs_no_hook_ms": statistics.median(paired),
                    "noise_ms": iqr(paired),
                }
            results[code] = {"runs": n, "rows": rows}
    line = next(x for x in (AUTO / HOOK_PTH).read_text().splitlines() if x.startswith("import"))
    saved = os.environ.pop("TRACEWRAP_ENABLED", None)
    try:
        in_process = min(timeit.repeat(lambda: exec(line, {}), number=10_000, repeat=5)) / 10_000
    finally:
        if saved is not None:
            os.environ["TRACEWRAP_ENABLED"] = saved
    results["pth_line_unset_us"] = in_process * 1e6
    return results


def report_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        "| configuration | `python -c pass` ms | vs no hook (paired median ± IQR) | "
        '`python -c "import openai"` ms | vs no hook |',
        "|---|---|---|---|---|",
    ]
    for label in CONFIGS:
        cells = [label]
        for code in ("pass", "import openai"):
            row = results[code]["rows"][label]
            cells.append(f"{row['median_ms']:.2f}")
            cells.append("" if label == BASELINE else f"{row['vs_no_hook_ms']:+.2f} ± {row['noise_ms']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"- runs per configuration: {results['pass']['runs']} (`pass`), {results['import openai']['runs']} "
        f"(`import openai`); the `.pth` line itself with the variable unset: "
        f"{results['pth_line_unset_us']:.1f} µs in process"
    )
    return lines


def unset_hook_target(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's target: an unset hook is indistinguishable from no hook within noise."""
    row = results["pass"]["rows"]["hook, TRACEWRAP_ENABLED unset"]
    baseline = results["pass"]["rows"][BASELINE]["median_ms"]
    noise = max(row["noise_ms"], 0.02 * baseline)
    return {
        "name": "unset start-up hook ≈ no hook within noise (`python -c pass`)",
        "pass": abs(row["vs_no_hook_ms"]) <= noise,
        "detail": f"{row['vs_no_hook_ms']:+.2f} ms on {baseline:.2f} ms (noise ±{noise:.2f} ms); "
        f"the line itself {results['pth_line_unset_us']:.1f} µs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="runs of `python -c pass` per configuration")
    opts = parser.parse_args(argv)
    results = startup_costs(opts.runs)
    print("\n".join(report_lines(results)))
    target = unset_hook_target(results)
    print(f"- [{'PASS' if target['pass'] else 'FAIL'}] {target['name']}: {target['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Paired A/B: the working tree's tracewrap against another commit's, in one process.

    python benchmarks/ab.py                          # against HEAD: chat and responses, 20 s each
    python benchmarks/ab.py --against 15b5ca7 chat responses chat responses --seconds 30

A change worth a few µs per call cannot be judged from two full runs: this VM's speed moves more
than that between runs. Here both trees trace calls side by side: ``git archive`` exports the other
commit's ``src/tracewrap`` into a temporary directory as the package ``tracewrap_base`` (imports
rewritten), and bare, the two floors, this tree and the base run interleaved call by call exactly as
in ``overhead.py`` (with its pieces from ``bench/``). Printed per scenario: each column's median
overhead and ratios to the conventions floor and the full floor, and the median of the paired
per-round differences (new - base) with their IQR. Repeat scenarios (``chat chat``) to see how far
two passes agree.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402, F401  (bench/ puts this checkout's src/ first)
from bench.floor import capture_plan  # noqa: E402
from bench.harness import SCENARIOS, Column, make_telemetry, mock_backend  # noqa: E402
from bench.timing import measure_scenario  # noqa: E402
from startup_hook import iqr  # noqa: E402

import tracewrap  # noqa: E402

BASE_PACKAGE = "tracewrap_base"


def export_base(revision: str, into: Path, package_name: str = BASE_PACKAGE) -> Path:
    """The other commit's package as ``package_name`` (default ``tracewrap_base``) under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", revision, "src/tracewrap"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    package = into / package_name
    (into / "src" / "tracewrap").rename(package)
    (into / "src").rmdir()
    rename_imports(package, package_name)
    return package


def rename_imports(package: Path, package_name: str) -> None:
    """A copy of tracewrap importable as ``package_name`` beside the real one."""
    for path in package.rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\bfrom tracewrap(\.| import)", rf"from {package_name}\1", text)
        text = re.sub(r"\bimport tracewrap\.", f"import {package_name}.", text)
        path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", default=["chat", "responses"])
    parser.add_argument("--against", default="HEAD", help="the base commit (default HEAD)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario (default 20)")
    opts = parser.parse_args()
    specs = {spec.key: spec for spec in SCENARIOS}
    unknown = [key for key in opts.scenarios if key not in specs]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {list(specs)}")

    with tempfile.TemporaryDirectory(prefix="tracewrap-ab-") as tmp:
        export_base(opts.against, Path(tmp))
        sys.path.insert(0, tmp)
        import tracewrap_base  # type: ignore[import-not-found]

        telemetry = make_telemetry()
        backend = mock_backend()
        options = {
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "capture_content": "no_content",
        }

        def column(key: str, module: object) -> Column:
            wrap = module.wrap  # type: ignore[attr-defined]
            return Column(
                key, key, wrap(backend.client(), **options), wrap(backend.async_client(), **options)
            )

        columns = [
            Column("bare", "bare", backend.client(), backend.async_client()),
            Column("conv", "conv", backend.client(), backend.async_client(), floor=True, conventions=True),
            Column("floor", "floor", backend.client(), backend.async_client(), floor=True),
            column("new", tracewrap),
            column("base", tracewrap_base),
        ]
        loop = asyncio.new_event_loop()
        new_tree = Path(tracewrap.__file__).parent
        print(f"new = {new_tree}, base = {opts.against}; {opts.seconds:.0f} s per scenario")
        for key in opts.scenarios:
            spec = specs[key]
            plan = capture_plan(backend, spec, telemetry)
            cells, rounds = measure_scenario(spec, columns, plan, telemetry, opts.seconds, 15, loop)
            floor = statistics.median(cells["floor"].overhead)
            conv = statistics.median(cells["conv"].overhead)
            bare = statistics.median(cells["bare"].per_call)
            parts = [
                f"{key:16s} {rounds:5d} rounds, bare {bare:7.1f} µs",
                f"conventions floor +{conv:.1f}",
                f"floor +{floor:.1f}",
            ]
            for name in ("new", "base"):
                overhead = statistics.median(cells[name].overhead)
                parts.append(
                    f"{name} +{overhead:.1f} ({overhead / conv:.3f}x conv., {overhead / floor:.3f}x full)"
                )
            diff = [n - b for n, b in zip(cells["new"].per_call, cells["base"].per_call, strict=True)]
            parts.append(f"new - base {statistics.median(diff):+.1f} µs (IQR {iqr(diff):.1f})")
            print(" | ".join(parts), flush=True)
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's verdicts on issue 23's targets, judged on rounds it did not measure.

``bench.report`` turns paired rounds into the targets' verdicts; its intervals resample whole
rounds. Built rounds with known overheads check that a stream's margin under the bound and its
interval come out where the arithmetic puts them, and that noise leaves a verdict undecided.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench.report import ratio_interval, stream_margin, stream_margin_interval

CHUNKS = 53


def rounds(ours: float, conv: float, noise: float, n: int = 600) -> dict[str, Any]:
    """A scenario's row: ``n`` rounds of a bare call near 5 ms, the floor ``conv`` µs above it and
    tracewrap ``ours`` µs above it, each with uniform noise of ± ``noise`` µs."""
    rng = random.Random(f"{ours}-{conv}-{noise}")
    bare = [5000 + rng.uniform(-200, 200) for _ in range(n)]
    return {
        "bare": {"rounds_per_call": bare},
        "conv": {"rounds_per_call": [b + conv + rng.uniform(-noise, noise) for b in bare]},
        "tw_off": {"rounds_per_call": [b + ours + rng.uniform(-noise, noise) for b in bare]},
    }


def test_the_stream_margin_is_what_is_left_under_the_bound() -> None:
    assert stream_margin(ours=270.0, conv=200.0, chunks=CHUNKS) == 1.2 * 200 + 53 - 270  # +23 µs
    assert stream_margin(ours=300.0, conv=200.0, chunks=CHUNKS) < 0


def test_a_clear_margin_is_decided_both_ways() -> None:
    low, high = stream_margin_interval(rounds(ours=260.0, conv=200.0, noise=20.0), CHUNKS)
    assert 0 < low < 33 < high < 50  # the true margin: 240 + 53 - 260 = 33
    low, high = stream_margin_interval(rounds(ours=330.0, conv=200.0, noise=20.0), CHUNKS)
    assert -60 < low < -37 < high < 0  # 293 - 330 = -37: missed, decided


def test_noise_leaves_a_small_margin_undecided() -> None:
    low, high = stream_margin_interval(rounds(ours=290.0, conv=200.0, noise=300.0, n=200), CHUNKS)
    assert low < 0 < high  # true margin +3 µs, noise ± 300 µs per call


def test_the_ratio_interval_brackets_the_ratio() -> None:
    low, high = ratio_interval(rounds(ours=150.0, conv=100.0, noise=10.0), "tw_off", floor_key="conv")
    assert 1.4 < low < 1.5 < high < 1.6

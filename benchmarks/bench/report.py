"""The printed report and the targets it judges."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import statistics
from collections.abc import Callable
from typing import Any

import openai
from startup_hook import report_lines as startup_report_lines
from startup_hook import unset_hook_target

import tracewrap
from tracewrap.testing import http_library

from .harness import HOT_CHUNKS, MEMORY_CHUNKS, MEMORY_RETAINED_BOUND, SCENARIOS, TAIL_CHUNKS, version


def _fmt_us(value: float) -> str:
    return f"{value:+.1f}" if abs(value) < 1000 else f"{value:+.0f}"


def machine_info() -> dict[str, str]:
    http = http_library()
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "openai": openai.__version__,
        "http": f"{http.__name__} {getattr(http, '__version__', '?')}",
        "opentelemetry-sdk": version("opentelemetry-sdk"),
        "tracewrap": getattr(tracewrap, "__version__", "?"),
    }


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(
        f"machine: {m['nproc']} CPUs, {m['cpu']}; python {m['python']}, openai {m['openai']} "
        f"({m['http']}), opentelemetry-sdk {m['opentelemetry-sdk']}, tracewrap {m['tracewrap']}"
    )
    rounds = ", ".join(str(results["scenarios"][s.key]["rounds"]) for s in SCENARIOS)
    lines.append(
        f"mode: {results['mode']}, ~{results['seconds_per_scenario']} s per scenario: rounds of one call "
        f"per column in random order ({rounds} rounds); medians; overhead = column's call - the bare "
        "call of the same round"
    )
    lines.append("")
    columns: list[dict[str, str]] = results["columns"]
    header = ["scenario", "bare µs/call"] + [c["title"] for c in columns if c["key"] != "bare"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for spec in SCENARIOS:
        row = results["scenarios"][spec.key]
        floor_oh = row["floor"]["overhead"]
        conv_oh = row["conv"]["overhead"]
        cells = [spec.title, f"{row['bare']['per_call']:.1f}"]
        for col in columns:
            if col["key"] == "bare":
                continue
            cell = row[col["key"]]
            text = f"{_fmt_us(cell['overhead'])} µs"
            if col["key"] not in ("floor", "conv", "disabled") and floor_oh > 0 and conv_oh > 0:
                text += f" ({cell['overhead'] / conv_oh:.2f}x conv., {cell['overhead'] / floor_oh:.2f}x full)"
            if not cell["traced"]:
                text += " †"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "cells: per-call overhead vs bare SDK (µs), and overhead ÷ the conventions floor's overhead "
        "(one span, the standard histogram points) and ÷ the full floor's (every point tracewrap emits, "
        "by hand); "
        "† = the column emitted no span for this scenario (not instrumented)."
    )
    for spec in SCENARIOS:
        plan = results["scenarios"][spec.key]["plan"]
        lines.append(
            f"- floors for {spec.title}: 1 span, {plan['attributes']} attributes; "
            f"{plan['standard_points']} standard metric points (conventions), {plan['points']} (full)"
        )
    if results.get("skipped_peers"):
        lines.append("- peers not measured: " + "; ".join(results["skipped_peers"]))

    chunk = results["per_chunk_ns"]
    lines.append("")
    lines.append(
        "### Stream aggregation, ns per chunk (prebuilt SDK chunk objects, net of a bare loop; "
        "paired medians)"
    )
    if "error" in chunk:
        lines.append(f"n/a: {chunk['error']}")
    else:
        lines.append(
            "| stream | accumulator.add (content off) | accumulator.add (content on) | "
            "in-place tracing per chunk (generator + timing + accumulator) |"
        )
        lines.append("|---|---|---|---|")
        for label, what in (
            ("chat", "chat, hot"),
            ("chat_cold", "chat, cold"),
            ("responses", "responses, hot"),
            ("responses_cold", "responses, cold"),
        ):
            lines.append(
                f"| {what} ({chunk[label + '_chunks']} chunks) | {chunk[label + '_accumulate']:.0f} | "
                f"{chunk[label + '_accumulate_content']:.0f} | {chunk[label + '_in_place']:.0f} |"
            )
        lines.append(
            f"- hot: the stream's first {HOT_CHUNKS} chunks cycled, then its last {TAIL_CHUNKS} (each chunk "
            "in cache, as in a live stream where the SDK has just parsed it; the target is judged on "
            "this); cold: 2,000 distinct prebuilt chunks, each read a chain of cache misses"
        )
    e2e = results["per_chunk_e2e_ns"]
    lines.append(
        "- in the real stream scenarios, ((tracewrap no content - floor) on the stream - the same "
        "on the non-stream call) ÷ chunks: "
        + ", ".join(f"{k} {v:.0f} ns/chunk" for k, v in e2e.items())
        + " (includes the stream's own start/end work and cold caches; noisy, ±2-4 µs)"
    )

    lines.append("")
    lines.append("### Memory, one chat stream, content capture off (tracemalloc, KiB)")
    lines.append(
        "| chunks | bare peak | tracewrap peak | tracewrap - bare peak | bare retained | tracewrap retained |"
    )
    lines.append("|---|---|---|---|---|---|")
    mem = results["memory"]
    for chunks in MEMORY_CHUNKS:
        b, t = mem[f"bare_{chunks}"], mem[f"tw_off_{chunks}"]
        lines.append(
            f"| {chunks:,} | {b['peak'] / 1024:.1f} | {t['peak'] / 1024:.1f} | "
            f"{(t['peak'] - b['peak']) / 1024:+.1f} | {b['retained'] / 1024:.1f} | "
            f"{t['retained'] / 1024:.1f} |"
        )

    lines.append("")
    lines.append("### Import cost (fresh interpreters, median ms)")
    lines.append("| what | ms |")
    lines.append("|---|---|")
    for label, ms in results["imports"].items():
        lines.append(f"| {label} | {ms:.1f} |")

    lines.append("")
    lines.append("### Start-up hook (`tracewrap_autoinstrument.pth`), fresh interpreters, median ms")
    lines.extend(startup_report_lines(results["startup"]))

    lines.append("")
    lines.append("### Targets")
    for target in results["targets"]:
        lines.append(f"- [{'PASS' if target['pass'] else 'FAIL'}] {target['name']}: {target['detail']}")
    return "\n".join(lines)


def per_chunk_end_to_end(results: dict[str, Any]) -> dict[str, float]:
    """ns/chunk beyond the floor in the real stream scenarios, net of the per-call difference.

    (stream's overhead beyond the floor - the same API's non-stream overhead beyond the floor) /
    chunks: the per-call work cancels out, what is left is per chunk plus the stream's own start and
    end (accumulator finish, close hooks). Noisy (±2-4 µs/chunk here): the micro-benchmark above
    is the precise number, this one says what a real stream sees with cold caches.
    """
    rows = results["scenarios"]
    out = {}
    for stream_key, call_key in (("chat_stream", "chat"), ("responses_stream", "responses")):
        beyond_stream = rows[stream_key]["tw_off"]["overhead"] - rows[stream_key]["floor"]["overhead"]
        beyond_call = rows[call_key]["tw_off"]["overhead"] - rows[call_key]["floor"]["overhead"]
        out[stream_key] = (beyond_stream - beyond_call) * 1000 / results["stream_items"][stream_key]
    return out


def bootstrap_interval(
    row: dict[str, Any],
    column: str,
    statistic: Callable[[float, float], float | None],
    floor_key: str = "floor",
    resamples: int = 400,
) -> tuple[float, float]:
    """95 % bootstrap interval of ``statistic(column's median overhead, the floor's)``.

    A round's calls ran side by side, so a resample keeps each round's calls together; the spread
    says how far the VM's noise leaves a verdict undecided. ``statistic`` returns None for a
    resample it cannot judge (a floor at or below zero for a ratio); none judged gives (inf, inf).
    """
    bare = row["bare"]["rounds_per_call"]
    ours = [t - b for t, b in zip(row[column]["rounds_per_call"], bare, strict=True)]
    floor = [t - b for t, b in zip(row[floor_key]["rounds_per_call"], bare, strict=True)]
    rng = random.Random("ratio-interval")
    n = len(bare)
    values = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        ours_median = statistics.median(ours[i] for i in picks)
        value = statistic(ours_median, statistics.median(floor[i] for i in picks))
        if value is not None:
            values.append(value)
    if not values:
        return float("inf"), float("inf")
    values.sort()
    return values[int(0.025 * len(values))], values[min(len(values) - 1, int(0.975 * len(values)))]


def _ratio(ours: float, floor: float) -> float | None:
    return ours / floor if floor > 0 else None


def ratio_interval(
    row: dict[str, Any], column: str, resamples: int = 400, floor_key: str = "floor"
) -> tuple[float, float]:
    """95 % bootstrap interval of (column's median overhead) / (the floor's), resampling whole rounds."""
    return bootstrap_interval(row, column, _ratio, floor_key=floor_key, resamples=resamples)


def stream_bound(conv: float, chunks: int) -> float:
    """The stream target's bound in µs: 1.2x the conventions floor's overhead + 1 µs a chunk."""
    return 1.2 * conv + chunks * 1.0


def stream_margin(ours: float, conv: float, chunks: int) -> float:
    """µs left under the stream target's bound; < 0: missed."""
    return stream_bound(conv, chunks) - ours


def stream_margin_interval(row: dict[str, Any], chunks: int) -> tuple[float, float]:
    """95 % bootstrap interval of the stream target's margin: a stream's floor moves by tens of µs
    between runs (few rounds), so one run's point margin alone does not decide the target."""

    def margin(ours: float, conv: float) -> float:
        return stream_margin(ours, conv, chunks)

    return bootstrap_interval(row, "tw_off", margin, floor_key="conv")


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    rows = results["scenarios"]
    for key in ("chat", "responses"):
        row = rows[key]
        ours, conv = row["tw_off"]["overhead"], row["conv"]["overhead"]
        ratio = ours / conv if conv > 0 else float("inf")
        low, high = ratio_interval(row, "tw_off", floor_key="conv")
        decided = "decided" if high <= 1.2 or low > 1.2 else "not decided by this run"
        targets.append(
            {
                "name": f"non-streamed call overhead ≤ 1.2x the conventions floor ({key}, content off)",
                "pass": ratio <= 1.2,
                "detail": f"{ours:.1f} µs vs conventions floor {conv:.1f} µs = {ratio:.2f}x "
                f"(95 % interval over rounds {low:.2f}-{high:.2f}x: {decided})",
            }
        )
    for key in ("chat_stream", "responses_stream"):
        row = rows[key]
        ours, conv = row["tw_off"]["overhead"], row["conv"]["overhead"]
        chunks = results["stream_items"][key]
        bound = stream_bound(conv, chunks)
        margin = bound - ours
        low, high = stream_margin_interval(row, chunks)
        decided = "decided" if low > 0 or high < 0 else "not decided by this run"
        targets.append(
            {
                "name": f"stream overhead ≤ 1.2x the conventions floor + 1 µs per chunk ({key}, content off)",
                "pass": ours <= bound,
                "detail": f"{ours:.1f} µs vs 1.2 x {conv:.1f} + {chunks} x 1 µs = {bound:.1f} µs "
                f"({ours / conv:.2f}x the conventions floor; margin {margin:+.1f} µs, "
                f"95 % interval over rounds {low:+.1f} to {high:+.1f} µs: {decided})",
            }
        )
    for key in ("chat", "responses", "async_chat"):
        row = rows[key]
        ours, floor = row["tw_off"]["overhead"], row["floor"]["overhead"]
        ratio = ours / floor if floor > 0 else float("inf")
        low, high = ratio_interval(row, "tw_off")
        # judged on the point estimate, as before; the interval says whether this run could decide
        decided = "decided" if high <= 1.2 or low > 1.2 else "not decided by this run"
        targets.append(
            {
                "name": f"non-streamed call overhead ≤ 1.2x the full floor ({key}, content off)",
                "pass": ratio <= 1.2,
                "detail": f"{ours:.1f} µs vs floor {floor:.1f} µs = {ratio:.2f}x "
                f"(95 % interval over rounds {low:.2f}-{high:.2f}x: {decided})",
            }
        )
    chunk = results["per_chunk_ns"]
    if "error" not in chunk:
        for label in ("chat", "responses"):
            ns = chunk[f"{label}_in_place"]
            targets.append(
                {
                    "name": f"per stream chunk < 1 µs beyond the floor ({label})",
                    "pass": ns < 1000,
                    "detail": f"{ns:.0f} ns/chunk in-place tracing, chunks hot in cache as in a live "
                    f"stream (accumulator alone {chunk[label + '_accumulate']:.0f} ns; on 2,000 distinct "
                    f"cold chunks {chunk[label + '_cold_in_place']:.0f} ns)",
                }
            )
    mem = results["memory"]
    small, large = MEMORY_CHUNKS
    growth = (mem[f"tw_off_{large}"]["peak"] - mem[f"bare_{large}"]["peak"]) - (
        mem[f"tw_off_{small}"]["peak"] - mem[f"bare_{small}"]["peak"]
    )
    retained = mem[f"tw_off_{large}"]["retained"]
    targets.append(
        {
            "name": "memory flat in stream length (content off)",
            "pass": growth < 64 * 1024 and retained < MEMORY_RETAINED_BOUND,
            "detail": f"extra peak over bare grows {growth / 1024:+.1f} KiB "
            f"from {small:,} to {large:,} chunks; "
            f"retained after a {large:,}-chunk stream {retained / 1024:.1f} KiB",
        }
    )
    for key in ("chat", "chat_stream", "responses", "responses_stream", "async_chat"):
        row = rows[key]
        diff = row["disabled"]["overhead"]
        noise = max(row["disabled"]["overhead_iqr"], 0.02 * row["bare"]["per_call"])
        targets.append(
            {
                "name": f"disabled ≈ bare within noise ({key})",
                "pass": abs(diff) <= noise,
                "detail": f"{diff:+.1f} µs on {row['bare']['per_call']:.0f} µs (noise ±{noise:.1f} µs)",
            }
        )
    targets.append(unset_hook_target(results["startup"]))
    return targets

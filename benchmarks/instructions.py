#!/usr/bin/env python
"""Instructions executed per call (valgrind's callgrind): overhead figures that do not drift.

    python benchmarks/instructions.py                 # every scenario + the per-chunk paths (~15 min)
    python benchmarks/instructions.py chat responses  # some scenarios only
    python benchmarks/instructions.py --list          # the variants, without running valgrind
    python benchmarks/instructions.py --against HEAD chat  # also another commit's tracewrap ("base")

Wall time on a shared VM moves by tens of percent within seconds (see README.md), more than the
differences the targets are about. Instruction counts are exact and repeatable, so they settle
before/after questions and the ratio to the floor; they are not time (a traced call also pays
cache misses that instructions do not show), which is why ``overhead.py`` stays the benchmark.

How: one valgrind process per CPU runs its share of the variants, each a few times to warm up,
then ``N`` times inside its own ``functools.reduce``: the only function callgrind collects in
(``--toggle-collect``), with a dump as each one returns (``--dump-after``), so each variant's
count is its own dump's total; an empty variant calibrates away the loop. Same mock backend,
floor and telemetry pipeline as ``overhead.py``; ``gc.freeze()`` after setup, ``PYTHONHASHSEED=0``.
Needs ``valgrind`` (apt).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import functools
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CALLS = {"chat": 40, "chat_stream": 10, "responses": 40, "responses_stream": 10, "async_chat": 2}
CHUNK_VARIANTS = ("loop", "add", "in_place", "start_end")
BASE_DIR_ENV = "TRACEWRAP_BENCH_BASE_DIR"


def _variants(keys: list[str]) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (one call, how many calls per run); built in the child, after the imports."""
    sys.path.insert(0, str(HERE))
    # heavy: only in the child that runs a variant
    import bench  # noqa: F401  (bench/ puts this checkout's src/ first)
    from bench import floor, harness

    import tracewrap

    base = None
    if os.environ.get(BASE_DIR_ENV):  # --against: the other commit's package, exported by ab.py
        sys.path.insert(0, os.environ[BASE_DIR_ENV])
        import tracewrap_base as base  # type: ignore[import-not-found,no-redef]

    telemetry = harness.make_telemetry()
    backend = harness.mock_backend()
    tracer = telemetry.tracer_provider.get_tracer("benchmark.floor")
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    loop = asyncio.new_event_loop()
    out: dict[str, tuple[Callable[[], Any], int]] = {}
    for spec in harness.SCENARIOS:
        if spec.key not in keys:
            continue
        plan = floor.capture_plan(backend, spec, telemetry)
        n = CALLS[spec.key]
        for column in ("bare", "conv", "floor", "tracewrap", *(["base"] if base is not None else [])):
            client = backend.async_client() if spec.concurrent else backend.client()
            if column in ("tracewrap", "base"):
                module = tracewrap if column == "tracewrap" else base
                client = module.wrap(client, capture_content="no_content", **providers)
            if spec.concurrent:
                replay, plain = floor.floor_async_batch, harness.plain_async_batch
            else:
                replay, plain = floor.floor_call, harness.plain_call
            if column in ("floor", "conv"):
                run = replay(client, spec, plan, tracer, column == "conv")
            else:
                run = plain(client, spec)
            if spec.concurrent:
                run = functools.partial(lambda batch: loop.run_until_complete(batch()), run)
            out[f"{spec.key} {column}"] = (run, n)
    if "chunks" in keys:
        out.update(_chunk_variants(harness, telemetry))
    return out


def _chunk_variants(ov: Any, telemetry: Any) -> dict[str, tuple[Callable[[], Any], int]]:
    """The per-chunk path on 2,003 hot chunks (see bench/side.py's per_chunk_costs)."""
    from bench.side import hot_chunks

    from tracewrap.endpoints import CHAT, RESPONSE
    from tracewrap.interception.streams import StreamTracker, _traced_iterator
    from tracewrap.options import ContentCapture, TraceOptions
    from tracewrap.telemetry.lifecycle import CallSite, ClientInfo, start

    options = TraceOptions(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        capture=ContentCapture.NONE,
    )
    info = ClientInfo("openai", "mock.openai.local", 80)
    client = ov.mock_backend(2_000).client()
    out: dict[str, tuple[Callable[[], Any], int]] = {}
    for label, spec, endpoint in (("chat", ov.SCENARIOS[1], CHAT), ("responses", ov.SCENARIOS[3], RESPONSE)):
        args = ov.call_args(spec)
        items = hot_chunks(list(ov.sdk_method(client, spec)(**args)))

        def loop_only(items: list[Any] = items) -> None:
            for _ in items:
                pass

        def add(items: list[Any] = items, endpoint: Any = endpoint) -> None:
            adder = endpoint.new_accumulator(False).add
            for item in items:
                adder(item)

        site = CallSite(endpoint, options, info)

        def in_place(items: list[Any] = items, site: Any = site, args: Any = args) -> None:
            call = start(site, args)
            for _ in _traced_iterator(iter(items), StreamTracker(call)):
                pass

        def start_end(site: Any = site, args: Any = args) -> None:
            call = start(site, args)
            for _ in _traced_iterator(iter(()), StreamTracker(call)):
                pass

        for name, fn in zip(CHUNK_VARIANTS, (loop_only, add, in_place, start_end), strict=True):
            out[f"{label} chunks {name} [{len(items)}]"] = (fn, 5)
    return out


def child(keys: list[str], names: list[str]) -> None:
    """Run each named variant, in order, inside its own ``functools.reduce`` (one callgrind dump each)."""
    variants = _variants(keys)
    if names == ["--list"]:
        print("\n".join(variants))
        return
    variants["calibrate"] = ((lambda: None), 10)
    for name in names:
        fn, n = variants[name]
        for _ in range(3):  # warm: lazy imports, caches, metric attribute sets
            fn()
        gc.collect()
        gc.freeze()
        functools.reduce(lambda acc, _, fn=fn: fn(), range(n), None)  # the only function collected in
        print(f"{name}\tN={n}", flush=True)


def _collected(python: str, keys: list[str], names: list[str], workdir: Path, job: int) -> dict[str, float]:
    """Instructions per call of each variant, from one valgrind process that runs them all."""
    out = workdir / f"job{job}.out"
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--toggle-collect=functools_reduce",
            "--dump-after=functools_reduce",  # one dump per variant: out.1, out.2, ...
            python,
            __file__,
            "--child",
            ",".join(names),
            *keys,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    done = dict(re.findall(r"^(.+)\tN=(\d+)$", proc.stdout, re.MULTILINE))
    if proc.returncode != 0 or set(done) != set(names):
        raise RuntimeError(f"valgrind run failed:\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}")
    per_call = {}
    for index, name in enumerate(names, start=1):
        totals = re.search(r"^totals: (\d+)", Path(f"{out}.{index}").read_text(), re.MULTILINE)
        if totals is None:
            raise RuntimeError(f"no totals in callgrind dump {out}.{index}")
        per_call[name] = int(totals.group(1)) / int(done[name])
    calibration = per_call.pop("calibrate")
    return {name: value - calibration for name, value in per_call.items()}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        child(args[2:], args[1].split(","))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("keys", nargs="*", default=[*CALLS, "chunks"], help=f"of {[*CALLS, 'chunks']}")
    parser.add_argument("--list", action="store_true", help="print the variants and stop")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--against", help="also trace with this commit's tracewrap (column base)")
    opts = parser.parse_args(args)
    if opts.against:
        from ab import export_base

        base_dir = tempfile.mkdtemp(prefix="tw-base-")
        atexit.register(shutil.rmtree, base_dir, True)
        export_base(opts.against, Path(base_dir))
        os.environ[BASE_DIR_ENV] = base_dir
    listed = subprocess.run(
        [sys.executable, __file__, "--child", "--list", *opts.keys],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [name for name in listed.stdout.split("\n") if name]
    if opts.list:
        print("\n".join(names))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    jobs = max(1, min(opts.jobs, len(names)))
    shares = [["calibrate", *names[i::jobs]] for i in range(jobs)]
    with (
        tempfile.TemporaryDirectory(prefix="tw-callgrind-") as tmp,
        concurrent.futures.ThreadPoolExecutor(jobs) as pool,
    ):
        futures = [
            pool.submit(_collected, sys.executable, opts.keys, share, Path(tmp), job)
            for job, share in enumerate(shares)
        ]
        per_call = {name: value for future in futures for name, value in future.result().items()}
    print(report(per_call))
    return 0


def report(per_call: dict[str, float]) -> str:
    lines = [
        "| scenario | bare SDK | conventions floor | full floor | tracewrap | ratio to conventions floor "
        "| ratio to full floor | base (--against) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in CALLS:
        if f"{key} bare" not in per_call:
            continue
        bare, conv, floor, ours = (per_call[f"{key} {col}"] for col in ("bare", "conv", "floor", "tracewrap"))
        base = per_call.get(f"{key} base")
        scale = 100 if key == "async_chat" else 1  # one variant call is a gather of 100 calls
        bare, conv, floor, ours = bare / scale, conv / scale, floor / scale, ours / scale
        c_oh, f_oh, t_oh = conv - bare, floor - bare, ours - bare
        base_text = "" if base is None else f"+{(base / scale - bare) / 1e6:.3f} M"
        lines.append(
            f"| {key} | {bare / 1e6:.2f} M | +{c_oh / 1e6:.3f} M | +{f_oh / 1e6:.3f} M | "
            f"+{t_oh / 1e6:.3f} M | {t_oh / c_oh:.2f}x | {t_oh / f_oh:.2f}x | {base_text} |"
        )
    for label in ("chat", "responses"):
        found = {
            name.split(" chunks ")[1].split(" [")[0]: (value, int(name.split("[")[1].rstrip("]")))
            for name, value in per_call.items()
            if name.startswith(f"{label} chunks ")
        }
        if not found:
            continue
        n = found["loop"][1]
        loop = found["loop"][0]
        add = (found["add"][0] - loop) / n
        in_place = (found["in_place"][0] - loop) / n
        start_end = found["start_end"][0] / n
        lines.append(
            f"- {label} stream, per hot chunk ({n} chunks, net of the bare loop): accumulator add "
            f"{add:,.0f} instr; whole in-place path {in_place:,.0f} instr, of which the stream's "
            f"start and end spread over the chunks {start_end:,.0f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

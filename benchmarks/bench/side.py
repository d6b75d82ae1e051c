"""The side measures: per-chunk stream aggregation, stream memory, import cost."""

from __future__ import annotations

import gc
import itertools
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tracewrap
from tracewrap.testing import MockOpenAI

from .harness import HOT_CHUNKS, SCENARIOS, TAIL_CHUNKS, Telemetry, call_args, mock_backend, plain_call


def hot_chunks(items: list[Any]) -> list[Any]:
    """As many chunks as ``items``, its first ``HOT_CHUNKS`` cycled, then its real last ones.

    In a live stream each chunk reaches tracewrap just after the SDK parsed it, hot in the CPU
    cache; 2,000 distinct prebuilt chunks are not: reading each one's fields is then a chain of
    cache misses the real path does not pay.
    """
    head, tail = items[:HOT_CHUNKS], items[-TAIL_CHUNKS:]
    return [head[i % HOT_CHUNKS] for i in range(len(items) - TAIL_CHUNKS)] + tail


def per_chunk_costs(backend: MockOpenAI, telemetry: Telemetry, repeats: int) -> dict[str, float | str]:
    """ns per chunk of tracewrap's in-place stream tracing, on prebuilt SDK chunk objects.

    ``*_accumulate``: the accumulator's ``add`` alone. ``*_in_place``: what a traced stream adds
    to each chunk (the generator hop, the timing, the accumulator), i.e. everything beyond a floor
    that does nothing per chunk. Both are net of the bare ``for`` loop over the same list.
    """
    out: dict[str, float | str] = {}
    try:  # internals: if another change moves them, report it instead of failing the run
        from tracewrap.endpoints import CHAT, RESPONSE
        from tracewrap.interception.streams import StreamTracker, _traced_iterator
        from tracewrap.normalize.chat import ChatStreamAccumulator
        from tracewrap.normalize.responses import ResponsesStreamAccumulator
        from tracewrap.options import ContentCapture, TraceOptions
        from tracewrap.telemetry.lifecycle import CallSite, ClientInfo, start
    except ImportError as exc:
        return {"error": f"tracewrap internals moved: {exc}"}

    client = backend.client()
    streams = {
        "chat": list(client.chat.completions.create(**call_args(SCENARIOS[1]))),
        "responses": list(client.responses.create(**call_args(SCENARIOS[3]))),
    }
    options = TraceOptions(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        capture=ContentCapture.NONE,
    )
    info = ClientInfo("openai", "mock.openai.local", 80)

    def timed(fn: Callable[[], None]) -> int:
        started = time.perf_counter_ns()
        fn()
        return time.perf_counter_ns() - started

    rng = random.Random("per-chunk")
    kinds = (
        ("chat", ChatStreamAccumulator, CHAT, call_args(SCENARIOS[1])),
        ("responses", ResponsesStreamAccumulator, RESPONSE, call_args(SCENARIOS[3])),
    )
    for (label, acc_type, endpoint, args), hot in itertools.product(kinds, (True, False)):
        items = hot_chunks(streams[label]) if hot else streams[label]
        label = label if hot else f"{label}_cold"
        n = len(items)

        def loop_only(items: list[Any] = items) -> None:
            for _ in items:
                pass

        def accumulate(items: list[Any] = items, acc_type: Any = acc_type, capture: bool = False) -> None:
            add = acc_type(capture).add
            for item in items:
                add(item)

        site = CallSite(endpoint, options, info)

        def in_place(items: list[Any] = items, site: Any = site, args: dict[str, Any] = args) -> None:
            call = start(site, args)
            for _ in _traced_iterator(iter(items), StreamTracker(call)):
                pass

        variants: dict[str, Callable[[], None]] = {
            "loop": loop_only,
            "accumulate": accumulate,
            "accumulate_content": lambda a=accumulate: a(capture=True),
            "in_place": in_place,
        }
        # paired like the call columns: each repeat runs all four back to back in a random order,
        # and each variant's cost is its time minus the bare loop's in the same repeat (the VM's
        # speed drifts between repeats far more than within one)
        diffs: dict[str, list[float]] = {name: [] for name in variants if name != "loop"}
        for _ in range(repeats):
            times = {name: timed(variants[name]) for name in rng.sample(list(variants), len(variants))}
            for name, values in diffs.items():
                values.append((times[name] - times["loop"]) / n)
        out[f"{label}_chunks"] = n
        for name, values in diffs.items():
            out[f"{label}_{name}"] = statistics.median(values)
    return out


# --------------------------------------------------------------------------- memory


def stream_memory(telemetry: Telemetry, chunks_list: Sequence[int]) -> dict[str, dict[str, int]]:
    """tracemalloc peak during, and retained after, one chat stream of N chunks (content off)."""
    results: dict[str, dict[str, int]] = {}
    spec = SCENARIOS[1]

    def client_pair(backend: MockOpenAI) -> tuple[tuple[str, Any], ...]:
        return (
            ("bare", backend.client()),
            (
                "tw_off",
                tracewrap.wrap(
                    backend.client(),
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                    capture_content="no_content",
                ),
            ),
        )

    # warm on a short stream: lazy imports, pydantic caches and the metric attribute sets (the same
    # for any stream length) exist before anything is measured
    for _, client in client_pair(mock_backend()):
        plain_call(client, spec)()
    for chunks in chunks_list:
        backend = mock_backend(chunks)
        plain_call(backend.client(), spec)()  # its answer is encoded now, outside the measurement
        for key, client in client_pair(backend):
            run = plain_call(client, spec)
            telemetry.tracer_provider.force_flush()
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                run()
                peak = tracemalloc.get_traced_memory()[1] - base
                # the finished span waits in the batch queue until exported: flush it, it is the
                # exporter's memory, not the stream's
                telemetry.tracer_provider.force_flush()
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0] - base
            finally:
                tracemalloc.stop()
            results[f"{key}_{chunks}"] = {"chunks": chunks, "peak": peak, "retained": retained}
    return results


# --------------------------------------------------------------------------- import cost


def import_costs(runs: int) -> dict[str, float]:
    """Median ms over fresh interpreters; ``PYTHONPATH`` makes a src checkout importable."""
    src = str(Path(tracewrap.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    # an installed package imports from cached bytecode: the children may write it (a shell with
    # PYTHONDONTWRITEBYTECODE=1 and a checkout's stale caches would time compiling the source)
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    child_env["PYTHONPATH"] = path
    snippets = {
        "import openai (context)": ("", "import openai"),
        "import tracewrap (cold)": ("", "import tracewrap"),
        "import tracewrap (openai + otel sdk loaded)": (
            "import openai, opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
            "import tracewrap",
        ),
        "first wrap(client) (lazy imports)": (
            "import openai, tracewrap; c = openai.OpenAI(api_key='sk')",
            "tracewrap.wrap(c)",
        ),
    }
    results: dict[str, float] = {}
    for label, (setup, stmt) in snippets.items():
        code = f"{setup}\nimport time\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
        samples = []
        subprocess.run([sys.executable, "-c", code], capture_output=True, env=child_env, check=True)  # caches
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
            )
            samples.append(float(proc.stdout.strip().splitlines()[-1]) * 1000)
        results[label] = statistics.median(samples)
    return results

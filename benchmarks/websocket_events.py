#!/usr/bin/env python
"""tracewrap's work per WebSocket event (Responses WebSocket mode, openai 3.x), in µs per event.

    python benchmarks/websocket_events.py               # 30 rounds of 2,000 text deltas
    python benchmarks/websocket_events.py --rounds 60 --deltas 5000

Two real ``ResponsesConnection`` objects of the SDK read the very same frames: one bare, one traced
(``wrap(client)``'s call site attached as ``wrap`` does when the manager opens it). The socket under
both is an in-memory stand-in replaying prebuilt text frames, and each connection's ``parse_event``
hands back the SDK's event model for a frame, decoded once beforehand: the SDK decodes every event
with a pydantic union lookup (about 100 µs here), the same on both sides and noise far above a
microsecond. So what is timed is the SDK's own ``recv()`` / ``recv_bytes()`` around that, plus, on
the traced one, tracewrap's wrappers, event matching, timing and accumulator: the difference is
tracewrap's work per event. ``--parse`` keeps the SDK's decoding in (noisier; for context).

Each round starts one response on each connection (``response.create`` and ``response.created``,
untimed), then times ``--deltas`` ``response.output_text.delta`` events through ``recv()`` on each,
in an order that alternates every round, then reads the terminal event (untimed: the span's end is
a per-response cost, measured by ``overhead.py``). Reported: the median per-event time of each, and
the median of the per-round differences (traced - bare) with its interquartile range. Target: under
1 µs per event.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:
    import tracewrap
except ImportError:  # a checkout without tracewrap installed: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import tracewrap

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

TARGET_US = 1.0
MODEL = "gpt-4o-mini"


class ReplaySocket:
    """What ``ResponsesConnection`` needs of a ``websockets`` connection: frames come from a list."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.position = 0

    def load(self, frames: list[bytes]) -> None:
        self.frames, self.position = frames, 0

    def recv(self, decode: bool | None = None) -> bytes:
        frame = self.frames[self.position]
        self.position += 1
        return frame

    def send(self, data: Any) -> None:
        pass

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def frames(response_id: str, deltas: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(``response.created``), (the text deltas), (``response.completed``) as wire frames."""
    response = {
        "id": response_id,
        "object": "response",
        "created_at": 1,
        "model": MODEL,
        "status": "in_progress",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    created = {"type": "response.created", "sequence_number": 0, "response": response}
    body = [
        json.dumps(
            {
                "type": "response.output_text.delta",
                "sequence_number": n + 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "word ",
                "logprobs": [],
            }
        ).encode()
        for n in range(deltas)
    ]
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": deltas,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + deltas,
    }
    completed = {
        "type": "response.completed",
        "sequence_number": deltas + 1,
        "response": {**response, "status": "completed", "usage": usage},
    }
    return [json.dumps(created).encode()], body, [json.dumps(completed).encode()]


def connection(traced: bool, client: Any, parsed: dict[bytes, Any] | None) -> tuple[Any, ReplaySocket]:
    """A connection on a replay socket; ``parsed``: the frames' models, decoded beforehand."""
    from openai.resources.responses.responses import ResponsesConnection

    socket = ReplaySocket()
    conn = ResponsesConnection(socket)  # type: ignore[arg-type]
    if parsed is not None:
        sdk_parse = conn.parse_event
        conn.parse_event = lambda data: parsed.get(data) or sdk_parse(data)  # type: ignore[method-assign]
    if traced:
        from tracewrap.interception.websocket import ConnectionTraces, _attach, site_for

        site = site_for(client, "responses.connect")
        assert site is not None, "the wrapped client is not traced for responses.connect"
        _attach(conn, ConnectionTraces(site))
    return conn, socket


def one_round(conn: Any, socket: ReplaySocket, frames: tuple[list[bytes], ...], deltas: int) -> float:
    """Seconds for the deltas of one response on ``conn``."""
    created, body, completed = frames
    conn.response.create(model=MODEL, input="Hi")
    socket.load(created)
    assert conn.recv().type == "response.created"
    socket.load(body)
    recv = conn.recv
    started = time.perf_counter()
    for _ in range(deltas):
        recv()
    elapsed = time.perf_counter() - started
    socket.load(completed)
    assert conn.recv().type == "response.completed"
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--deltas", type=int, default=2000, help="text-delta events per response")
    parser.add_argument("--parse", action="store_true", help="include the SDK's event decoding")
    opts = parser.parse_args()
    from openai.resources.responses import responses

    if not hasattr(responses, "ResponsesConnection"):
        print(f"openai {openai.__version__} has no responses.connect(): nothing to measure")
        return 0

    tracer_provider = TracerProvider()  # spans are made and ended, nothing exported
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    client = tracewrap.wrap(
        openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1"),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content="no_content",
    )
    # one response's frames, replayed every round (the span's response id repeats: harmless)
    replay = frames("resp_bench", opts.deltas)
    parsed: dict[bytes, Any] | None = None
    if not opts.parse:
        from openai.resources.responses.responses import ResponsesConnection

        decode = ResponsesConnection.parse_event
        parsed = {frame: decode(None, frame) for group in replay for frame in group}  # type: ignore[arg-type]
    bare_conn, bare_socket = connection(False, client, parsed)
    traced_conn, traced_socket = connection(True, client, parsed)
    for _ in range(3):  # warm-up
        one_round(bare_conn, bare_socket, replay, opts.deltas)
        one_round(traced_conn, traced_socket, replay, opts.deltas)

    bare: list[float] = []
    traced: list[float] = []
    gc.disable()  # a collection landing in one side's block would be charged to it
    try:
        for n in range(opts.rounds):
            order = [(bare_conn, bare_socket, bare), (traced_conn, traced_socket, traced)]
            for conn, socket, times in order if n % 2 == 0 else order[::-1]:
                times.append(one_round(conn, socket, replay, opts.deltas) / opts.deltas * 1e6)
            gc.collect()
    finally:
        gc.enable()
    traced_conn.close()
    tracer_provider.shutdown()
    meter_provider.shutdown()

    diffs = [t - b for t, b in zip(traced, bare, strict=True)]
    q1, _, q3 = statistics.quantiles(diffs, n=4)
    added = statistics.median(diffs)
    print(
        f"openai {openai.__version__}, tracewrap {tracewrap.__version__}, Python {sys.version.split()[0]}: "
        f"{opts.rounds} rounds x {opts.deltas} text-delta events, bare/traced alternating, "
        f"SDK decoding {'included' if opts.parse else 'excluded (decoded beforehand)'}"
    )
    print("| | µs per event (median of rounds) |")
    print("|---|---|")
    print(f"| bare SDK recv() | {statistics.median(bare):.3f} |")
    print(f"| traced recv() | {statistics.median(traced):.3f} |")
    print(f"| tracewrap's work (paired median, IQR) | {added:.3f} ({q1:.3f} to {q3:.3f}) |")
    verdict = "PASS" if added < TARGET_US else "FAIL"
    print(f"target: tracewrap's work < {TARGET_US:g} µs per event: {verdict} ({added:.3f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

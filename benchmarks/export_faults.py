"""What a broken telemetry backend costs the user's calls: healthy vs refused / silent / 500 / slow.

Each measurement is a fresh process configured only by environment variables, exactly like a user's
app (`tracewrap.configure()` + `wrap(client)`), calling tracewrap's fake OpenAI server over real
HTTP on 127.0.0.1, with OTLP/HTTP export of traces and metrics pointed at the backend under test.
Modes run interleaved (healthy, refused, ..., healthy, refused, ...) for several rounds; the table
shows medians across rounds of each process's median and p99 call latency, and how long the
process took to exit after its last call (bounded by TRACEWRAP_EXIT_TIMEOUT, here 2 s).

    python benchmarks/export_faults.py              # 5 rounds x 300 calls per mode, ~1 min
    python benchmarks/export_faults.py --quick      # 2 rounds x 100 calls, ~20 s
    python benchmarks/export_faults.py --langsmith  # only the LangSmith exit table (minutes)

``--langsmith`` shows the exit beside LangSmith's own wrapper instead: 20 calls made inside the
application's ``@traceable`` function, through ``langsmith.wrappers.wrap_openai`` or through
tracewrap, with the LangSmith endpoint refused or silent; each process is given at most
``--cap`` seconds (default 300) to exit.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_TIMEOUT_S = 2.0
SLOW_S = 5.0

CHILD = """
import statistics, sys, time
import openai, tracewrap
from tracewrap.testing import FakeOpenAIServer

calls = int(sys.argv[1])
tracewrap.configure()
with FakeOpenAIServer() as server:
    client = tracewrap.wrap(openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0))
    messages = [{"role": "user", "content": "hi"}]
    for _ in range(20):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        times.append(time.perf_counter() - started)
times.sort()
print("RESULT", statistics.median(times), times[int(len(times) * 0.99) - 1], time.time(), flush=True)
"""


LANGSMITH_CHILD = """
import sys, time
import openai
from langsmith import traceable
from tracewrap.testing import FakeOpenAIServer

tool, calls = sys.argv[1], int(sys.argv[2])
with FakeOpenAIServer() as server:
    raw = openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
    if tool == "tracewrap":
        import tracewrap
        tracewrap.configure()
        client = tracewrap.wrap(raw)
    else:
        from langsmith.wrappers import wrap_openai
        client = wrap_openai(raw)

    messages = [{"role": "user", "content": "hi"}]

    @traceable(name="ask")
    def ask():
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    for _ in range(calls):
        ask()
print("DONE", time.time(), flush=True)
"""


class _Backend(BaseHTTPRequestHandler):
    status = 200
    delay_s = 0.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(self.delay_s)
        self.send_response(self.status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def _http_backend(status: int, delay_s: float) -> Iterator[str]:
    handler = type("Handler", (_Backend,), {"status": status, "delay_s": delay_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _silent_backend() -> Iterator[str]:
    """Accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def _refused_backend() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"  # nothing listens there any more


MODES = {
    "healthy": lambda: _http_backend(200, 0.0),
    "refused": _refused_backend,
    "silent": _silent_backend,
    "500 errors": lambda: _http_backend(500, 0.0),
    f"slow ({SLOW_S:.0f} s)": lambda: _http_backend(200, SLOW_S),
}


def run_child(endpoint: str, calls: int) -> tuple[float, float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TIMEOUT="30",  # a long exporter timeout must not reach the calls
        OTEL_BSP_SCHEDULE_DELAY="100",  # export often, so exports overlap the calls
        OTEL_METRIC_EXPORT_INTERVAL="200",
        TRACEWRAP_EXIT_TIMEOUT=str(EXIT_TIMEOUT_S),
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls)], env=env, capture_output=True, text=True, timeout=120
    )
    exited = time.time()
    result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not result:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    median, p99, last_call_done = (float(x) for x in result[0].split()[1:])
    return median, p99, exited - last_call_done


def langsmith_exit(tool: str, endpoint: str, cap_s: float) -> float | None:
    """Seconds from the last call to the process's exit; None when it had not exited within ``cap_s``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        LANGSMITH_TRACING="true",
        LANGSMITH_API_KEY="lsv2-bench",
        LANGSMITH_ENDPOINT=endpoint,
        TRACEWRAP_EXIT_TIMEOUT=str(EXIT_TIMEOUT_S),
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", LANGSMITH_CHILD, tool, "20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=cap_s,
        )
    except subprocess.TimeoutExpired:
        return None
    exited = time.time()
    done = [line for line in proc.stdout.splitlines() if line.startswith("DONE ")]
    if proc.returncode != 0 or not done:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return exited - float(done[0].split()[1])


def langsmith_table(cap_s: float) -> None:
    print("| LangSmith endpoint | exit after last call: wrap_openai (s) | tracewrap (s) |")
    print("|---|---|---|")
    for name, backend in (("refused", _refused_backend), ("silent", _silent_backend)):
        cells = []
        for tool in ("wrap_openai", "tracewrap"):
            with backend() as endpoint:
                seconds = langsmith_exit(tool, endpoint, cap_s)
            cells.append(f"> {cap_s:.0f} (killed)" if seconds is None else f"{seconds:.2f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--langsmith", action="store_true", help="the LangSmith exit table only")
    parser.add_argument("--cap", type=float, default=300.0, help="longest wait for one process to exit")
    args = parser.parse_args()
    if args.langsmith:
        langsmith_table(args.cap)
        return
    rounds, calls = (2, 100) if args.quick else (5, 300)
    samples: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode, backend in MODES.items():
            with backend() as endpoint:
                samples[mode].append(run_child(endpoint, calls))

    healthy = statistics.median(s[0] for s in samples["healthy"])
    print(f"{rounds} interleaved rounds x {calls} calls per mode; medians across rounds")
    print("| OTLP backend | call median (ms) | vs healthy | call p99 (ms) | exit after last call (s) |")
    print("|---|---|---|---|---|")
    for mode, rows in samples.items():
        median = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        exit_s = statistics.median(r[2] for r in rows)
        print(f"| {mode} | {median * 1e3:.2f} | {median / healthy:.2f}x | {p99 * 1e3:.2f} | {exit_s:.2f} |")


if __name__ == "__main__":
    main()

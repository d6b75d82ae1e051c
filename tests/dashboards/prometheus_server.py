"""Run the real Prometheus server (Debian's /usr/bin/prometheus) for dashboard tests.

It listens on a free 127.0.0.1 port with a throw-away config and TSDB, scrapes the given 127.0.0.1
targets every second, and is stopped by its own PID. Also holds `free_port`, `substitute` (Grafana
macro and template-variable substitution) and a small HTTP API client used by tests and by
scripts/render_dashboard_png.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROMETHEUS_BIN = os.environ.get("TRACEWRAP_PROMETHEUS_BIN", "/usr/bin/prometheus")
PROMTOOL_BIN = os.environ.get("TRACEWRAP_PROMTOOL_BIN", "/usr/bin/promtool")
INSTALL_HINT = (
    "install it with `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus` "
    "(see dashboards/DEPS.txt)"
)


class PrometheusMissing(RuntimeError):
    """The Prometheus binary is not installed; tests turn this into a failure, never a skip."""


def require_binary(path: str) -> str:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise PrometheusMissing(f"{path} not found or not executable: {INSTALL_HINT}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


class PrometheusServer:
    """One Prometheus process scraping `targets` ("127.0.0.1:PORT") under scrape job `job`."""

    def __init__(self, targets: list[str], job: str = "tracewrap", scrape_interval: str = "1s") -> None:
        for t in targets:
            if not t.startswith("127.0.0.1:"):
                raise ValueError(f"only loopback targets are allowed, got {t!r}")
        self.targets = targets
        self.job = job
        self.scrape_interval = scrape_interval
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        targets = ", ".join(f'"{t}"' for t in self.targets)
        return (
            "global:\n"
            f"  scrape_interval: {self.scrape_interval}\n"
            f"  evaluation_interval: {self.scrape_interval}\n"
            "scrape_configs:\n"
            f"  - job_name: {self.job}\n"
            f"    scrape_interval: {self.scrape_interval}\n"
            f"    scrape_timeout: {self.scrape_interval}\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )

    def start(self, timeout: float = 20.0) -> PrometheusServer:
        binary = require_binary(PROMETHEUS_BIN)
        self._dir = tempfile.mkdtemp(prefix="tw-prom-")
        cfg = Path(self._dir) / "prometheus.yml"
        cfg.write_text(self.config_text())
        log = open(Path(self._dir) / "prometheus.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={Path(self._dir) / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",  # never the 0.0.0.0 default
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("prometheus did not become ready")

    def log_tail(self, n: int = 4000) -> str:
        if self._dir is None:
            return ""
        p = Path(self._dir) / "prometheus.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # by PID: only the process we started
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP API -----------------------------------------------------------------------------
    def _api(self, path: str, params: Mapping[str, str | float]) -> Any:
        qs = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        body = _get_json(f"{self.url}{path}?{qs}")
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} failed: {body}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; returns the `result` list (vector) or a one-element list for scalars."""
        params: dict[str, str | float] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._api("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self._api(
            "/api/v1/query_range",
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        return list(data["result"])

    def _scrape_state(self) -> tuple[bool, tuple[str, ...]]:
        active = self._api("/api/v1/targets", {"state": "active"}).get("activeTargets", [])
        up = bool(active) and all(t.get("health") == "up" for t in active)
        return up, tuple(str(t.get("lastScrape")) for t in active)

    def wait_for_scrapes(self, n: int = 1, timeout: float = 15.0) -> None:
        """Wait until the targets have been scraped successfully `n` more times."""
        deadline = time.monotonic() + timeout
        _, last = self._scrape_state()
        done = 0
        while time.monotonic() < deadline:
            up, now = self._scrape_state()
            if now != last:
                last = now
                done += 1 if up else 0
                if done >= n:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"prometheus did not scrape {self.targets} {n} time(s):\n{self.log_tail()}")


# --- Grafana macro / variable substitution --------------------------------------------------------
_VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Replace Grafana macros (`$__rate_interval`, `$__range`, ...) and `$var` / `${var}` references.

    Raises KeyError for a variable that `variables` does not define, so a query can never reach
    Prometheus with a `$` left in it.
    """

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return variables[name]

    return _VAR_RE.sub(repl, expr)

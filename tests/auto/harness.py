"""The auto-instrumentation test harness: one wheel and one venv per session, fresh interpreters in it.

The wheel is built from a copy of the source (so concurrent edits and build artefacts never touch
the work tree) and installed with openai, gunicorn, uvicorn and the OpenTelemetry instrumentation packages
into a venv WITHOUT system site-packages: what the tests see is what a user's ``pip install`` gives.
Children export spans through ``venv_files/twtest_sink.py`` (a JSON-lines file per test) or, under
``opentelemetry-instrument``, through the console exporter; both carry the real attribute values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
VENV_FILES = HERE / "venv_files"

GENAI_INSTRUMENTATION = "opentelemetry-instrumentation-genai-openai==1.3b0"
# pinned to what the dev environment runs, so pip takes them from its cache and the venv matches
PINNED_LIKE_DEV = (
    "openai",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-semantic-conventions",
    "wrapt",
    "langsmith",
    "httpx",
    "httpx2",
    "pydantic",
)
UNPINNED = (
    "gunicorn",
    "uvicorn",
    "billiard",  # Celery's prefork pool
    "opentelemetry-instrumentation",
    "opentelemetry-distro",
    GENAI_INSTRUMENTATION,
)


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    spans: list[dict[str, Any]] = field(default_factory=list)

    @property
    def result(self) -> Any:
        for line in self.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
        raise AssertionError(f"no RESULT line\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def tracewrap_spans(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["scope"] == "tracewrap"]

    def by_model(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for span in self.tracewrap_spans():
            found.setdefault(span["attributes"].get("gen_ai.request.model"), []).append(span)
        return found


@dataclass
class AutoVenv:
    root: Path
    wheel: Path
    site_packages: Path
    base_url: str

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    def env(self, extra: Mapping[str, str] | None = None, spans_file: Path | None = None) -> dict[str, str]:
        """A clean environment: nothing of the test runner's OTEL_* / TRACEWRAP_* leaks into children."""
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": "sk-test",
            "PYTHONUNBUFFERED": "1",
        }
        if spans_file is not None:
            env["TWTEST_SPANS"] = str(spans_file)
        env.update(extra or {})
        return env

    def run(
        self,
        argv: Sequence[str],
        tmp_path: Path,
        env: Mapping[str, str] | None = None,
        *,
        sink: bool = True,
        timeout: float = 60,
        check: bool = True,
    ) -> ChildRun:
        spans_file = tmp_path / "spans.jsonl"
        spans_file.unlink(missing_ok=True)  # each run reads only its own spans
        proc = subprocess.run(
            list(argv),
            cwd=APPS,
            env=self.env(env, spans_file if sink else None),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run = ChildRun(proc.returncode, proc.stdout, proc.stderr, read_spans(spans_file))
        if check:
            assert proc.returncode == 0, (
                f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return run


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def console_spans(stdout: str) -> list[dict[str, Any]]:
    """The ConsoleSpanExporter's output: indented JSON objects one after another among other lines."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := stdout.find("{\n", index)) != -1:
        span, index = decoder.raw_decode(stdout, start)
        spans.append(span)
    return spans


def _build_wheel(out: Path) -> Path:
    source = out / "source"
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for extra in ROOT.glob("LICENSE*"):
        shutil.copy2(extra, source)
    readme = ROOT / "README.md"
    if readme.exists():
        shutil.copy2(readme, source)
    else:  # the project metadata names a README; the test only needs one to exist
        (source / "README.md").write_text("# tracewrap\n")
    dist = out / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("tracewrap-*.whl")
    return wheel


def _constraints(path: Path) -> Path:
    lines = []
    for name in PINNED_LIKE_DEV:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    path.write_text("\n".join(lines) + "\n")
    return path


def _sees_system_site_packages() -> bool:
    config = Path(sys.prefix) / "pyvenv.cfg"
    if sys.prefix == sys.base_prefix or not config.is_file():
        return False
    return "include-system-site-packages = true" in config.read_text()


def _create_venv(out: Path, wheel: Path) -> tuple[Path, Path]:
    root = out / "venv"
    # no pip inside the venv: the runner's pip installs into it (--python), which saves ~4 s. It
    # sees the system's packages when the venv running the tests does: the Python 3.15 lane takes
    # Debian's builds of what PyPI has no 3.15 wheel of (scripts/sid_python.sh)
    shared = ["--system-site-packages"] if _sees_system_site_packages() else []
    venv = [sys.executable, "-m", "venv", "--without-pip", *shared, str(root)]
    subprocess.run(venv, check=True, timeout=120)
    python = root / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(_constraints(out / "constraints.txt")),
            str(wheel),
            "openai",
            *UNPINNED,
        ],
        check=True,
        timeout=600,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    site_packages = Path(purelib)
    for item in VENV_FILES.iterdir():
        if item.suffix in (".py", ".pth"):
            shutil.copy2(item, site_packages / item.name)
    return root, site_packages


def create_auto_venv(out: Path, base_url: str) -> AutoVenv:
    """Build the wheel and the venv (~25 s, mostly pip); the caller keeps it for the session."""
    started = time.monotonic()
    wheel = _build_wheel(out)
    root, site_packages = _create_venv(out, wheel)
    sys.stderr.write(f"\n[tests/auto] wheel + venv ready in {time.monotonic() - started:.1f}s\n")
    assert sysconfig.get_paths()["purelib"] != str(site_packages)
    return AutoVenv(root, wheel, site_packages, base_url)

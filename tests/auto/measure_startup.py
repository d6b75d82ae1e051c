"""Measure what the ``.pth`` start-up hook costs each interpreter start (not a test; run it by hand).

    python tests/auto/measure_startup.py /path/to/venv [rounds]

The venv must have tracewrap's wheel installed. Configurations run interleaved, round after round,
so drift on the machine hits all of them alike; reported: median and mean wall time of
``python -c pass`` (and of ``python -c "import openai"``) per configuration, and the in-process cost of
the ``.pth`` line itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path


def _site_packages(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG")
    return {k: v for k, v in os.environ.items() if k in keep}


def main() -> None:
    venv = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    python = str(venv / "bin" / "python")
    pth = _site_packages(python) / "tracewrap_autoinstrument.pth"
    hidden = pth.with_suffix(".measuring")
    line = next(x for x in pth.read_text().splitlines() if x.startswith("import"))
    base = _base_env()
    configs = {
        "no tracewrap hook": ("hidden", base),
        "unset": ("pth", base),
        "TRACEWRAP_ENABLED=false": ("pth", {**base, "TRACEWRAP_ENABLED": "false"}),
        "TRACEWRAP_ENABLED=true": ("pth", {**base, "TRACEWRAP_ENABLED": "true"}),
    }
    # `import openai` takes ~0.5 s a run: a tenth of the rounds
    for code, code_rounds in (("pass", rounds), ("import openai", max(10, rounds // 10))):
        samples: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(code_rounds):
            for name, (state, env) in configs.items():
                if state == "hidden":
                    pth.rename(hidden)
                try:
                    samples[name].append(_time([python, "-c", code], env))
                finally:
                    if state == "hidden":
                        hidden.rename(pth)
        baseline = statistics.median(samples["no tracewrap hook"])
        print(f"\npython -c {code!r}: {code_rounds} interleaved runs each")
        for name, values in samples.items():
            median = statistics.median(values)
            print(
                f"  {name:26s} median {median:8.2f} ms  mean {statistics.fmean(values):8.2f} ms"
                f"  vs no hook {median - baseline:+7.2f} ms"
            )
    os.environ.pop("TRACEWRAP_ENABLED", None)
    per_call = min(timeit.repeat(lambda: exec(line, {}), number=10_000, repeat=5)) / 10_000
    print(f"\nthe .pth line with TRACEWRAP_ENABLED unset, in process: {per_call * 1e6:.2f} µs")


if __name__ == "__main__":
    main()

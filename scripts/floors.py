"""Print tracewrap's own dependencies pinned at the lowest versions pyproject.toml allows.

``scripts/test.sh`` builds its oldest lane from them, so each ``>=`` floor is a version the tests
ran on, not a guess: ``wrapt>=1.16`` becomes ``wrapt==1.16``. Run by the machine's Python (3.11+:
``tomllib``), before any venv exists; ``--check``, in that lane's venv, fails unless each is what
is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)\s*$")


def pinned_floors(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())
    dependencies = project["project"]["dependencies"]
    # a feature's floor above its dependency's (LangSmith export): that one is what is tested
    feature_floors = project.get("tool", {}).get("tracewrap", {}).get("tested-floors", {})
    pins = []
    for requirement in dependencies:
        found = FLOOR.match(requirement)
        if found is None:  # the oldest lane must pin every one of them
            raise SystemExit(f"floors.py: no plain '>=' floor in {requirement!r}")
        pins.append(f"{found[1]}=={feature_floors.get(found[1], found[2])}")
    return pins


def installed_off_floor(pins: list[str]) -> list[str]:
    """The pins this interpreter's installed versions do not match ("name: installed, floor")."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    off = []
    for pin in pins:
        name, floor = pin.split("==")
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed == "missing" or Version(installed) != Version(floor):
            off.append(f"{name}: {installed}, floor {floor}")
    return off


if __name__ == "__main__":
    pins = pinned_floors(Path("pyproject.toml"))
    if sys.argv[1:] == ["--check"]:  # in the oldest lane's venv: every floor is what is installed
        off = installed_off_floor(pins)
        if off:
            raise SystemExit("not on the declared floors: " + "; ".join(off))
    print(" ".join(pins))

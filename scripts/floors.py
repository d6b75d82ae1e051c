"""Print tracewrap's own dependencies pinned at the lowest versions pyproject.toml allows.

``scripts/test.sh`` builds its oldest lane from them, so each ``>=`` floor is a version the tests
ran on, not a guess: ``wrapt>=1.16`` becomes ``wrapt==1.16``. Run by the machine's Python (3.11+:
``tomllib``), before any venv exists.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)\s*$")


def pinned_floors(pyproject: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        found = FLOOR.match(requirement)
        if found is None:  # the oldest lane must pin every one of them
            raise SystemExit(f"floors.py: no plain '>=' floor in {requirement!r}")
        pins.append(f"{found[1]}=={found[2]}")
    return pins


if __name__ == "__main__":
    print(" ".join(pinned_floors(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))

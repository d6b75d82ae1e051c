"""The Agents SDK tests: openai-agents needs openai 3.x, so they belong to the openai 3 lane only.

On openai 1.x / 2.x the package cannot be installed: these files are not collected there. On
openai 3.x they are, and a missing ``agents`` package is an import error, never a skip.
"""

from __future__ import annotations

import openai

collect_ignore_glob = [] if int(openai.__version__.split(".")[0]) >= 3 else ["test_*.py"]

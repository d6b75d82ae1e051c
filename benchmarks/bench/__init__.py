"""The pieces of ``benchmarks/overhead.py``, one concern each.

``harness``: the workload (the SDK on ``tracewrap.testing.MockOpenAI``), the shared telemetry
pipeline, the scenarios and the columns. ``floor``: the hand-written OpenTelemetry floors.
``peers``: other OpenAI instrumentations as columns. ``timing``: the interleaved, paired rounds.
``side``: stream aggregation per chunk, stream memory, import cost. ``report``: the targets and the
printed report. ``ab.py``, ``instructions.py`` and ``profile_calls.py`` reuse them.
"""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
REPO = BENCHMARKS.parent
# this checkout's tracewrap, first: the shared test venvs hold an editable install of whichever
# checkout built them (scripts/test.sh), so an import that merely falls back would measure that one
if str(REPO / "src") not in sys.path[:1]:
    sys.path.insert(0, str(REPO / "src"))
if str(BENCHMARKS) not in sys.path:  # the sibling startup_hook module
    sys.path.insert(0, str(BENCHMARKS))

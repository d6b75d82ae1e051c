#!/usr/bin/env bash
# The test command: sets up everything on a fresh Debian/Ubuntu machine, then runs every test.
#
#   scripts/test.sh            # lint, the full suite on openai 1.x, 2.x and 3.x, benchmarks --quick
#   scripts/test.sh -k stream  # extra arguments go to every pytest run
#   TRACEWRAP_LANES=1 scripts/test.sh   # the test lanes one after another (default: two at once)
#
# Set-up is idempotent: venvs live in $TRACEWRAP_VENVS (default ~/.cache/tracewrap/venvs, shared by
# every checkout on the machine, so a fresh clone does not rebuild them) and are rebuilt when their
# requirements, pyproject.toml or the files the install copies (the start-up hook) change. Every
# test process gets this checkout's src/ first on PYTHONPATH, whichever checkout built the venv. Real components the tests start themselves: Prometheus (Debian
# package), Arize Phoenix (its own venv), the real langsmith client, the real openai SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENVS=${TRACEWRAP_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/tracewrap/venvs}
PY=${PYTHON:-python3}
PHOENIX_VERSION=20.26.1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH="$ROOT/src:$ROOT" PYTHONDONTWRITEBYTECODE=1
# A lane's interpreter that crashes after its tests (a segfault in the last garbage collection at
# exit: exit 139, seen once on the openai 2 lane with every test passed) prints its stacks
export PYTHONFAULTHANDLER=1

step() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)"; }

need_apt=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || need_apt+=(prometheus)
"$PY" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
    step "apt-get install ${need_apt[*]}"
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# venv NAME PIP-ARGS...: the venv for these requirements, built once. Its folder is named by a hash of
# the requirements, pyproject.toml and the files the install copies (the start-up hook), so a run
# never rebuilds a venv another run (another checkout, an older commit) is using; a lock makes two
# runs that need the same one build it once. VENV[NAME] is its folder; $VENVS/NAME links to the newest.
declare -A VENV
venv() {
    local name=$1; shift
    local stamp dir lock
    stamp=$(printf '%s\n' "$*" | cat - pyproject.toml src/tracewrap/auto/tracewrap_autoinstrument.pth \
        | sha1sum | cut -c1-16)
    dir=$VENVS/$name-$stamp
    mkdir -p "$VENVS"
    exec {lock}>"$dir.lock"
    flock "$lock"
    if [ ! -f "$dir/.complete" ]; then
        step "venv $name: pip install $*"
        rm -rf "$dir"
        "$PY" -m venv "$dir"
        "$dir/bin/python" -m pip install -q -U pip
        "$dir/bin/python" -m pip install -q "$@"
        touch "$dir/.complete"
    fi
    flock -u "$lock"
    exec {lock}>&-
    [ -d "$VENVS/$name" ] && [ ! -L "$VENVS/$name" ] || ln -sfn "$dir" "$VENVS/$name"
    VENV[$name]=$dir
}

venv openai3 -e ".[test,prometheus,cost,agents]" "openai>=3,<4"  # openai-agents needs openai 3.x
venv openai2 -e ".[test,prometheus,cost]" "openai>=2,<3"
venv openai1 -e ".[test,prometheus,cost]" "openai>=1.60,<2"
venv phoenix "arize-phoenix==$PHOENIX_VERSION"
# pydantic 1, which openai 1.x still allows: genai-prices (the cost estimate) needs pydantic 2, so
# this lane runs the call-path suites, none of which needs it (normalize/fields.py's fallback road)
venv pydantic1 -e . "openai>=1.60,<2" "pydantic<2" pytest pytest-timeout hypothesis langsmith trio
# tracewrap's own dependencies at the floors pyproject.toml declares (scripts/floors.py pins each
# `>=` to its version: wrapt 1.x, the oldest OpenTelemetry and langsmith): a floor is a claim,
# tested like the newest
FLOORS=$("$PY" scripts/floors.py)
venv oldest -e ".[test,prometheus,cost,agents]" "openai>=3,<4" $FLOORS
# litellm, langchain-openai, instructor, pydantic-ai, openai-agents, haystack, smolagents, dspy
# (tests/frameworks runs its apps in this venv's interpreter)
venv frameworks -e ".[frameworks]" "openai>=3,<4"
venv frameworks_openai2 -e ".[frameworks-openai2]" "openai>=2,<3"  # llama-index needs openai < 3

# python_of VERSION: an interpreter of that version, on PATH or installed by pyenv (Debian 12 has
# only 3.11; this machine's pyenv has 3.10)
python_of() {
    local candidate
    for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
        if "$candidate" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$1'" 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}
# the other supported Pythons, each once more with openai 3.x: 3.10, the oldest, where the GC crash
# docs/gc-safety.md prevents also lives; 3.12, where no thread may start at exit
# (exporting/bounded.py); 3.13, where multiprocessing children run atexit (process_ends.flush_at_exit)
OTHER_PYTHONS=(3.10 3.12 3.13)
declare -A OTHER_PY
for version in "${OTHER_PYTHONS[@]}"; do
    OTHER_PY[$version]=$(python_of "$version")
    if [ -n "${OTHER_PY[$version]}" ]; then
        PY=${OTHER_PY[$version]} venv "py${version/./}" -e ".[test,prometheus,cost,agents]" "openai>=3,<4"
    fi
done
export TRACEWRAP_PHOENIX_BIN=${VENV[phoenix]}/bin/phoenix
export TRACEWRAP_FRAMEWORKS_PYTHON=${VENV[frameworks]}/bin/python
export TRACEWRAP_FRAMEWORKS_OPENAI2_PYTHON=${VENV[frameworks_openai2]}/bin/python

V3=${VENV[openai3]}/bin/python
step "ruff"
"$V3" -m ruff check src tests benchmarks scripts examples
"$V3" -m ruff format --check src tests benchmarks scripts examples

# The lanes: one pytest run each (an interpreter and a set of versions). A lane keeps about three
# quarters of one core busy (the rest is waiting on the processes, servers and timeouts its tests
# drive; measured with /usr/bin/time), so two run at once ($TRACEWRAP_LANES, default 2), longest
# first; each lane's output is printed whole when it ends, and every lane runs even when one fails.

# the whole suite, the memory soak included, on each SDK major (the soak's old MemoryError was a
# span ended inside the GC: docs/gc-safety.md)
# (the framework matrix runs its apps in the frameworks venv whichever venv runs pytest: once is enough)
lane_openai() {
    local v=$1; shift
    local py=${VENV[openai$v]}/bin/python skip=()
    step "pytest, everything, on $("$py" -c 'import openai; print("openai", openai.__version__)')"
    # real Celery and gunicorn workers test how processes end, not the SDK: on openai 3.x (and
    # every Python below), not again on 1.x and 2.x
    if [ "$v" != 3 ]; then
        skip=(--ignore=tests/frameworks --ignore=tests/exporting/test_celery.py --ignore=tests/exporting/test_gunicorn.py)
    fi
    "$py" -m pytest -q "${skip[@]}" "$@"
}

lane_python() {
    local version=$1; shift
    if [ -z "${OTHER_PY[$version]}" ]; then
        step "Python $version: no interpreter found (python$version on PATH or under pyenv): its lane did NOT run"
        return
    fi
    local py=${VENV[py${version/./}]}/bin/python only=()
    step "pytest, everything, on $("$py" -c 'import sys, openai; print("Python", sys.version.split()[0], "openai", openai.__version__)')"
    # grafana-foundation-sdk (the dashboards' model round trip) needs Python 3.11+
    [ "$version" = 3.10 ] && only=(--deselect tests/dashboards/test_dashboard_static.py::test_round_trips_through_grafana_foundation_sdk_models)
    "$py" -m pytest -q --ignore=tests/frameworks "${only[@]}" "$@"
}

# Pythons 3.14 and 3.15, newer than Debian 12 or this machine's pyenv has: Debian sid's own builds, in
# a chroot (scripts/sid_python.sh; on 3.15 with Debian's builds of orjson and zstandard, which PyPI
# has no 3.15 wheel of). The Phoenix test stays on the lanes above: its server runs in its own venv
# out here, and what it reads is the same spans.
lane_sid() {
    local version=$1; shift
    step "pytest, everything, on Python $version (Debian sid's, in a chroot; openai 3.x)"
    scripts/sid_python.sh "$version" -q --ignore=tests/frameworks --ignore=tests/exporting/test_phoenix.py "$@"
}

lane_pydantic1() {
    local py=${VENV[pydantic1]}/bin/python
    step "pytest, the call path, on $("$py" -c 'import pydantic, openai; print("pydantic", pydantic.VERSION, "openai", openai.__version__)')"
    "$py" -m pytest -q "$@" \
        tests/core/test_fields.py tests/core/test_accumulators.py tests/core/test_call_matrix.py \
        tests/core/test_streams.py tests/core/test_outcomes.py tests/core/test_cancellation.py \
        tests/core/test_raw_bodies.py tests/core/test_request_layer.py tests/core/test_api_calls.py \
        tests/core/test_wrapping.py
}

lane_oldest() {
    local py=${VENV[oldest]}/bin/python
    step "pytest, the call path and the exporters, on the declared floors: $FLOORS"
    "$py" scripts/floors.py --check >/dev/null
    "$py" -m pytest -q "$@" tests/core tests/exporting tests/reliability tests/websocket tests/agent_runs \
        --ignore=tests/exporting/test_celery.py --ignore=tests/exporting/test_gunicorn.py \
        --ignore=tests/exporting/test_phoenix.py
}

LANE_LOGS=$(mktemp -d "${TMPDIR:-/tmp}/tracewrap-lanes.XXXXXX")
declare -A LANE_OF=()  # pid -> the lane it runs
FAILED_LANES=()

# reap: wait for whichever running lane ends first, then print its output and its verdict
reap() {
    local pid status=0
    wait -n -p pid || status=$?
    local name=${LANE_OF[$pid]}
    unset "LANE_OF[$pid]"
    cat "$LANE_LOGS/$name.log"
    if [ "$status" = 0 ]; then
        step "lane $name passed"
    else
        step "lane $name FAILED (exit $status)"
        FAILED_LANES+=("$name")
    fi
}

# run_lanes "NAME ARG..."...: each lane_NAME function with its arguments (and this script's), as lanes
run_lanes() {
    local lane log
    for lane in "$@"; do
        while ((${#LANE_OF[@]} >= ${TRACEWRAP_LANES:-2})); do reap; done
        log=${lane// /-}
        step "lane $log started"
        # shellcheck disable=SC2086  # (the lane's name and its arguments, split on purpose)
        (set -euo pipefail; lane_$lane "${ARGS[@]}") >"$LANE_LOGS/$log.log" 2>&1 &
        LANE_OF[$!]=$log
    done
    while ((${#LANE_OF[@]})); do reap; done
}

ARGS=("$@")
LANES=("openai 3")
for version in "${OTHER_PYTHONS[@]}"; do LANES+=("python $version"); done
LANES+=("sid 3.14" "sid 3.15" "openai 2" "openai 1" "oldest" "pydantic1")
run_lanes "${LANES[@]}"
rm -rf "$LANE_LOGS"
if ((${#FAILED_LANES[@]})); then
    step "FAILED lanes: ${FAILED_LANES[*]}"
    exit 1
fi

step "benchmark (short mode; figures printed, not asserted)"
"$V3" benchmarks/overhead.py --quick
"$V3" benchmarks/export_faults.py --quick
"$V3" benchmarks/agents_processor.py --quick

step "done"

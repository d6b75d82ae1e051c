#!/usr/bin/env bash
# Run the suite on a Python newer than any this Debian ships (3.14, 3.15), built by Debian unstable.
#
#   scripts/sid_python.sh 3.14 [pytest arguments...]
#
# Debian 12 has Python 3.11 and pyenv builds need CPython's source, which this network does not
# serve; Debian's binary packages it does. So a Debian sid root file system (debootstrap, binary
# packages only, about 30 s) holds sid's own python3.14 / python3.15 and Prometheus, and the tests
# run in it under chroot, in a private mount namespace (unshare: its mounts vanish with it, and two
# runs at once do not meet). The checkout is bind-mounted at its own path, so paths read the same
# inside and out; the loopback network is the host's. The root file system and each venv are built
# once, under a lock, and kept beside the other venvs (rebuilt when pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=$1
shift
VENVS=${TRACEWRAP_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/tracewrap/venvs}
SID=$VENVS/sid-root
MIRROR=http://deb.debian.org/debian
PACKAGES=python$VERSION,python$VERSION-venv,ca-certificates,git,prometheus

if [ "$(id -u)" != 0 ]; then
    echo "Python $VERSION: its lane needs root (debootstrap, chroot) and did NOT run" >&2
    exit 0
fi
command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# in_sid COMMAND...: COMMAND in the sid root, with /proc, /dev and this checkout mounted
in_sid() {
    unshare --mount --propagation private -- bash -c '
        set -e
        sid=$1 root=$2; shift 2
        mount -t proc proc "$sid/proc"
        mount --rbind /dev "$sid/dev"
        mkdir -p "$sid$root"
        mount --bind "$root" "$sid$root"
        exec chroot "$sid" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
            PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
            PYTHONPATH="$root/src:$root" "$@"
    ' in_sid "$SID" "$ROOT" "$@"
}

mkdir -p "$VENVS"
exec {lock}>"$SID.lock"
flock "$lock"
if [ ! -f "$SID/.complete" ]; then
    rm -rf "$SID"
    debootstrap --variant=minbase --include="$PACKAGES" sid "$SID" "$MIRROR" >/dev/null
    touch "$SID/.complete"
fi
# what apt and pip need from the host in there: its name servers, CA bundle and pip settings
cp /etc/resolv.conf "$SID/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$SID/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$SID/etc/pip.conf"
# Debian's builds of the compiled dependencies PyPI has no wheel of for the newest Python (langsmith's
# orjson and zstandard on 3.15; orjson builds with Rust, which is not here): the venvs see them
# (--system-site-packages) and pip takes them as installed. Built for every Python sid supports.
DEBIAN_BUILDS="python3-orjson python3-zstandard"
if [ ! -x "$SID/usr/bin/python$VERSION" ] || [ ! -d "$SID/usr/lib/python3/dist-packages/zstandard" ] \
    || [ ! -d "$SID/usr/lib/python3/dist-packages/orjson" ]; then
    # sid's Release file is past its Valid-Until when the mirror is a snapshot: packages still verify
    in_sid apt-get -qq -o Acquire::Check-Valid-Until=false update
    # shellcheck disable=SC2086  # (a list of package names)
    in_sid env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Acquire::Check-Valid-Until=false \
        install -y "python$VERSION" "python$VERSION-venv" $DEBIAN_BUILDS >/dev/null
fi
stamp=$(cat pyproject.toml src/tracewrap/auto/tracewrap_autoinstrument.pth scripts/sid_python.sh \
    | sha1sum | cut -c1-16)
VENV=/opt/venvs/py${VERSION/./}-$stamp
flock -u "$lock"

mkdir -p "$SID/opt/venvs"
exec {lock}>"$SID$VENV.lock"
flock "$lock"
if [ ! -f "$SID$VENV/.complete" ]; then
    rm -rf "$SID$VENV"
    in_sid bash -c "cd '$ROOT' && python$VERSION -m venv --system-site-packages '$VENV' && '$VENV/bin/pip' install -q -U pip \
        && '$VENV/bin/pip' install -q -e '.[test,prometheus,cost,agents]' 'openai>=3,<4'" \
        2> >(grep -v "^WARNING: Location" >&2)
    # The venv is shared by every checkout, but its editable install names the one that built it,
    # which the chroot of another does not have (Python 3.15's site says so on every start, into
    # the stderr the tests read): the checkout's src comes from PYTHONPATH (in_sid) instead
    rm -f "$SID$VENV"/lib/python*/site-packages/_editable_impl_tracewrap.pth
    touch "$SID$VENV/.complete"
fi
flock -u "$lock"

in_sid bash -c 'cd "$1" && shift && exec "$@"' run "$ROOT" "$VENV/bin/python" -m pytest "$@"

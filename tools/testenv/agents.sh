#!/usr/bin/env bash
# The real, unmodified clients of freezer-api, each in a venv of its own,
# for the end-to-end tests (tests/functional/test_agents_*.py):
#
#   cli-v2        python-freezerclient 6.5.0: `freezer ...` on API v2
#   cli-v1        python-freezerclient 6.3.0: `freezer ...` with
#                 OS_BACKUP_API_VERSION=1 (the last release with v1)
#   scheduler-v1  freezer 18.0.0 with python-freezerclient 6.3.0:
#                 freezer-scheduler --enable-v1-api, freezer-agent
#   scheduler-v2  freezer 19.0.0 (the current release) with
#                 python-freezerclient 6.5.0: freezer-scheduler on v2
#   tempest       tempest 47.0.0 with freezer-tempest-plugin 3.5.0:
#                 upstream's own API tests (tests/functional/test_tempest.py)
#
#   tools/testenv/agents.sh ensure [NAME...]  create the venvs that are
#                                             missing or stale (all by
#                                             default, in parallel); print
#                                             "NAME DIRECTORY" for each
#   tools/testenv/agents.sh path NAME         the venv of NAME, if ready
#   tools/testenv/agents.sh list              the names
#   tools/testenv/agents.sh clean [NAME...]   delete venvs
#
# Every package is pinned in tools/agents/NAME.txt (a `pip freeze` of a
# working venv) and installs from a wheel (not byte-compiled: Python does
# that for what it imports). A venv is reused while its
# stamp matches the pins and the Python it was made with; concurrent
# callers (pytest workers) are serialised per venv with flock.
#
# Environment: FREEZER_TESTENV_DIR (default <repo>/.data/testenv; the venvs
# go to $FREEZER_TESTENV_DIR/agents/NAME), AGENTS_PYTHON (a python >= 3.10
# for the venvs; default python3.11, else python3).  Messages go to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
PINS_DIR="$REPO/tools/agents"
TESTENV_DIR=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}
AGENTS_DIR="$TESTENV_DIR/agents"
NAMES=(cli-v2 cli-v1 scheduler-v1 scheduler-v2 tempest)

log() { printf 'agents.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=tools/testenv/python.sh
. "$SCRIPT_DIR/python.sh"

# The program whose presence shows that NAME's venv is complete.
entry_point() {
    case $1 in
        cli-*) echo freezer ;;
        scheduler-*) echo freezer-scheduler ;;
        tempest) echo tempest ;;
        *) return 1 ;;
    esac
}

check_name() {
    entry_point "$1" >/dev/null || die "unknown venv '$1' (one of: ${NAMES[*]})"
    [[ -f "$PINS_DIR/$1.txt" ]] || die "missing $PINS_DIR/$1.txt"
}

python_for_venv() {  # a python >= 3.10: $AGENTS_PYTHON, python3.11, python3
    pick_python 10 "${AGENTS_PYTHON:-}" python3.11 python3
}

# What a venv was made from: the pins and the exact interpreter.
stamp_of() {
    local name=$1 python=$2
    [[ -n "${PYTHON_VERSION:-}" ]] ||
        PYTHON_VERSION=$("$python" -c 'import sys; print(sys.version)')
    printf '%s\n%s\n' "$(cat "$PINS_DIR/$name.txt")" "$PYTHON_VERSION" |
        sha256sum | cut -d' ' -f1
}

is_ready() {  # is_ready NAME STAMP
    local dir="$AGENTS_DIR/$1"
    [[ -x "$dir/bin/$(entry_point "$1")" && -f "$dir/.stamp" ]] &&
        [[ "$(cat "$dir/.stamp")" == "$2" ]]
}

# Build NAME's venv unless it is ready; runs under NAME's lock.
build() {
    local name=$1 python=$2 stamp dir logfile start
    stamp=$(stamp_of "$name" "$python")
    dir="$AGENTS_DIR/$name"
    logfile="$AGENTS_DIR/$name.log"
    exec 8>>"$AGENTS_DIR/$name.lock"
    flock -w 1200 8 || die "could not lock $AGENTS_DIR/$name.lock"
    if is_ready "$name" "$stamp"; then
        return 0
    fi
    start=$SECONDS
    log "creating $dir (log: $logfile)"
    # A venv cannot be moved (its scripts name their interpreter), so it is
    # built in place; the stamp, written last, marks it complete.
    rm -rf "$dir"
    if ! { "$python" -m venv "$dir" &&
           "$dir/bin/python" -m pip install -q --disable-pip-version-check \
               --no-compile --only-binary :all: -r "$PINS_DIR/$name.txt"; } \
               >"$logfile" 2>&1; then
        tail -n 30 "$logfile" >&2
        die "installing $name failed (see $logfile)"
    fi
    [[ -x "$dir/bin/$(entry_point "$name")" ]] ||
        die "$name: $(entry_point "$name") missing after install"
    printf '%s\n' "$stamp" >"$dir/.stamp"
    log "$name ready in $((SECONDS - start)) s"
}

cmd_ensure() {
    local names=("$@") python name failed=0 pids=()
    [[ ${#names[@]} -gt 0 ]] || names=("${NAMES[@]}")
    for name in "${names[@]}"; do check_name "$name"; done
    mkdir -p "$AGENTS_DIR"
    [[ -f "$AGENTS_DIR/.gitignore" ]] || printf '*\n' >"$AGENTS_DIR/.gitignore"
    python=$(python_for_venv)
    PYTHON_VERSION=$("$python" -c 'import sys; print(sys.version)')
    for name in "${names[@]}"; do
        build "$name" "$python" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    [[ $failed -eq 0 ]] || die "some venvs could not be created"
    for name in "${names[@]}"; do
        printf '%s %s\n' "$name" "$AGENTS_DIR/$name"
    done
}

cmd_path() {
    [[ $# -eq 1 ]] || die "usage: agents.sh path NAME"
    check_name "$1"
    is_ready "$1" "$(stamp_of "$1" "$(python_for_venv)")" ||
        die "$1 is not ready: run agents.sh ensure $1"
    printf '%s\n' "$AGENTS_DIR/$1"
}

cmd_clean() {
    local names=("$@") name
    [[ ${#names[@]} -gt 0 ]] || names=("${NAMES[@]}")
    for name in "${names[@]}"; do
        check_name "$name"
        rm -rf "${AGENTS_DIR:?}/$name" "$AGENTS_DIR/$name.log"
    done
}

case ${1:-} in
    ensure) shift; cmd_ensure "$@" ;;
    path) shift; cmd_path "$@" ;;
    list) printf '%s\n' "${NAMES[@]}" ;;
    clean) shift; cmd_clean "$@" ;;
    *) die "usage: agents.sh ensure [NAME...] | path NAME | list | clean [NAME...]" ;;
esac

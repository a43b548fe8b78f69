#!/usr/bin/env bash
# A real OpenStack Keystone on loopback for freezer-api's tests.
#
#   tools/testenv/keystone.sh start    install (once), bootstrap (once), run,
#                                      seed; last stdout line = auth URL
#   tools/testenv/keystone.sh stop     stop it (success if not running)
#   tools/testenv/keystone.sh status   exit 0 if running and answering, else 1
#   tools/testenv/keystone.sh env      `export` lines for the tests
#
# Environment: FREEZER_TESTENV_DIR (default <repo>/.data/testenv),
# KEYSTONE_PORT (35357), FREEZER_API_PORT (19090, for the catalog),
# KEYSTONE_PYTHON (a python >= 3.11 for the venv),
# KEYSTONE_START_TIMEOUT (seconds, 120).
# Everything but the auth URL goes to stderr.  See tools/keystone/README.rst.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
KS_TOOLS="$REPO/tools/keystone"

KEYSTONE_VERSION=30.0.0
GUNICORN_VERSION=27.0.1
CONSTRAINTS="$KS_TOOLS/constraints.txt"

TESTENV_DIR=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}
KS_HOST=127.0.0.1
KS_PORT=${KEYSTONE_PORT:-35357}
KS_URL="http://$KS_HOST:$KS_PORT/v3"
FREEZER_URL="http://127.0.0.1:${FREEZER_API_PORT:-19090}"
START_TIMEOUT=${KEYSTONE_START_TIMEOUT:-120}
export KEYSTONE_ADMIN_PASSWORD=secret-admin

log() { printf 'keystone.sh: %s\n' "$*" >&2; }
T0_US=${EPOCHREALTIME/./}
elapsed() { # seconds since the script started, one decimal
    local ds=$(((${EPOCHREALTIME/./} - T0_US) / 100000))
    printf '%d.%d s' $((ds / 10)) $((ds % 10))
}
die() { log "ERROR: $*"; exit 1; }

set_paths() {
    mkdir -p "$TESTENV_DIR/keystone"
    KS_DIR=$(cd "$TESTENV_DIR/keystone" && pwd)
    VENV="$KS_DIR/venv"
    CONF="$KS_DIR/keystone.conf"
    PIDFILE="$KS_DIR/keystone.pid"
    LOGFILE="$KS_DIR/keystone.log"
    MARKER="$KS_DIR/bootstrap.done"
    URLFILE="$KS_DIR/keystone.url"
    # Runtime state only: keep it out of git whatever .gitignore says.
    [[ -f "$KS_DIR/.gitignore" ]] || printf '*\n' >"$KS_DIR/.gitignore"
}

# Serialise start/stop of concurrent callers (e.g. several test workers).
take_lock() {
    exec 9>>"$KS_DIR/.lock"
    flock -w 900 9 || die "could not lock $KS_DIR/.lock within 900 s"
}

# The pid in the pid file, if that process is alive and is our gunicorn.
running_pid() {
    local pid
    [[ -s "$PIDFILE" ]] || return 1
    pid=$(tr -dc '0-9' <"$PIDFILE")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q keystone_wsgi || return 1
    printf '%s\n' "$pid"
}

answers() { curl -sf -m 2 -o /dev/null "$KS_URL"; }

port_busy() {
    # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$KS_HOST" "$KS_PORT" 2>/dev/null
}

pick_python() {
    local py
    for py in ${KEYSTONE_PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            printf '%s\n' "$py"
            return 0
        fi
    done
    die "keystone $KEYSTONE_VERSION needs Python >= 3.11 (set KEYSTONE_PYTHON)"
}

ensure_venv() {
    local stamp want
    stamp="$VENV/.freezer-keystone"
    want="keystone==$KEYSTONE_VERSION gunicorn==$GUNICORN_VERSION $(sha256sum "$CONSTRAINTS" | cut -c1-16)"
    if [[ -x "$VENV/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]] &&
        "$VENV/bin/python" - "$KEYSTONE_VERSION" "$GUNICORN_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(not (version('keystone') == sys.argv[1]
              and version('gunicorn') == sys.argv[2]))
EOF
        return 0
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV"
        "$(pick_python)" -m venv "$VENV" >&2
    fi
    log "installing keystone==$KEYSTONE_VERSION gunicorn==$GUNICORN_VERSION (about a minute)"
    timeout 900 "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$CONSTRAINTS" "keystone==$KEYSTONE_VERSION" "gunicorn==$GUNICORN_VERSION" >&2 ||
        die "pip install into $VENV failed"
    printf '%s\n' "$want" >"$stamp"
}

write_conf() {
    mkdir -p "$KS_DIR/fernet-keys" "$KS_DIR/credential-keys"
    chmod 700 "$KS_DIR/fernet-keys" "$KS_DIR/credential-keys"
    cat >"$CONF.tmp" <<EOF
# Written by tools/testenv/keystone.sh on every start; edits are lost.
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///$KS_DIR/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = $KS_DIR/fernet-keys/

[fernet_receipts]
key_repository = $KS_DIR/fernet-keys/

[credential]
key_repository = $KS_DIR/credential-keys/

[cache]
# In-process cache: correct only with a single gunicorn worker.
enabled = true
backend = dogpile.cache.memory

[identity]
# The default bcrypt cost makes each password check take ~0.25 s.
password_hash_rounds = 4

[resource]
admin_project_name = admin
admin_project_domain_name = Default
EOF
    mv "$CONF.tmp" "$CONF"
}

# keystone-manage logs a lot at INFO; keep it in a file, show it on failure.
keystone_manage() {
    local out="$KS_DIR/keystone-manage-$1.log"
    if ! timeout 300 "$VENV/bin/keystone-manage" --config-file "$CONF" "$@" \
        >"$out" 2>&1; then
        tail -n 40 "$out" >&2 || true
        die "keystone-manage $1 failed (see $out)"
    fi
}

bootstrap_once() {
    local owner pids=() pid failed=0
    if [[ -f "$MARKER" && -f "$KS_DIR/keystone.db" ]]; then
        return 0
    fi
    log "first start: db_sync, fernet_setup, credential_setup, bootstrap"
    owner=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")
    # Each keystone-manage run is ~5 s of imports and milliseconds of work;
    # the first three are independent, so run them side by side.
    keystone_manage db_sync &
    pids+=($!)
    keystone_manage fernet_setup "${owner[@]}" &
    pids+=($!)
    keystone_manage credential_setup "${owner[@]}" &
    pids+=($!)
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    ((failed == 0)) || die "keystone setup failed"
    keystone_manage bootstrap \
        --bootstrap-username admin \
        --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
        --bootstrap-project-name admin \
        --bootstrap-role-name admin \
        --bootstrap-service-name keystone \
        --bootstrap-region-id RegionOne \
        --bootstrap-public-url "$KS_URL" \
        --bootstrap-internal-url "$KS_URL"
    date -u +%Y-%m-%dT%H:%M:%SZ >"$MARKER"
}

# Wait until /v3 answers; fail early if the server process went away.
wait_ready() {
    local pid=$1 timeout=$2 deadline
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        answers && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

launch() {
    local pid
    [[ -f "$LOGFILE" ]] && mv -f "$LOGFILE" "$LOGFILE.1"
    log "starting keystone on $KS_HOST:$KS_PORT (log: $LOGFILE)"
    # setsid: own session, so the test runner's Ctrl-C / process group
    # signals do not reach it; stdio detached so callers capturing our
    # stdout are not kept waiting by the background server; fd 9 (the
    # lock) closed so the server does not hold the lock forever.
    # One worker (the in-process cache) and one thread: every password
    # authentication writes (last_active_at), and two SQLite writers at
    # once fail with "database is locked" (tools/keystone/README.rst).
    # shellcheck disable=SC2094  # gunicorn and the redirect share the log
    OS_KEYSTONE_CONFIG_FILES="$CONF" setsid "$VENV/bin/gunicorn" \
        --pythonpath "$KS_TOOLS" \
        --chdir "$KS_DIR" \
        --bind "$KS_HOST:$KS_PORT" \
        --workers 1 --worker-class gthread --threads 1 \
        --timeout 120 --graceful-timeout 5 \
        --pid "$PIDFILE" --no-control-socket \
        --error-logfile "$LOGFILE" --capture-output \
        --access-logfile "$LOGFILE" \
        --access-logformat '%(h)s "%(r)s" %(s)s %(b)s %(M)sms' \
        keystone_wsgi:application </dev/null >>"$LOGFILE" 2>&1 9>&- &
    pid=$!
    printf '%s\n' "$KS_URL" >"$URLFILE"
    if ! wait_ready "$pid" "$START_TIMEOUT"; then
        if kill -0 "$pid" 2>/dev/null; then
            log "keystone did not answer $KS_URL within ${START_TIMEOUT}s; last log lines:"
        else
            log "gunicorn exited; last log lines:"
        fi
        tail -n 40 "$LOGFILE" >&2 || true
        kill_tree "$pid" || true
        rm -f "$PIDFILE"
        die "keystone failed to start"
    fi
}

# TERM the gunicorn master (graceful), then KILL its session if needed.
kill_tree() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    log "pid $pid ignored SIGTERM for 20 s; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    return 1
}

seed() {
    timeout 120 "$VENV/bin/python" "$KS_TOOLS/seed.py" seed \
        --auth-url "$KS_URL" --freezer-url "$FREEZER_URL" >&2 ||
        die "seeding keystone failed"
}

cmd_start() {
    local pid
    set_paths
    take_lock
    if pid=$(running_pid); then
        if [[ "$(cat "$URLFILE" 2>/dev/null)" != "$KS_URL" ]]; then
            log "pid $pid serves $(cat "$URLFILE" 2>/dev/null), not $KS_URL; restarting it"
            kill_tree "$pid" || die "could not stop pid $pid"
            rm -f "$PIDFILE"
        elif wait_ready "$pid" 20; then
            log "already running (pid $pid)"
        else
            log "pid $pid does not answer $KS_URL; restarting it"
            kill_tree "$pid" || die "could not stop pid $pid"
            rm -f "$PIDFILE"
        fi
    fi
    if ! running_pid >/dev/null; then
        port_busy && die "another process listens on $KS_HOST:$KS_PORT (set KEYSTONE_PORT)"
        rm -f "$PIDFILE"
        ensure_venv
        log "venv ready at $(elapsed)"
        write_conf
        bootstrap_once
        log "database and keys ready at $(elapsed)"
        launch
        log "keystone answers at $(elapsed)"
    fi
    seed
    log "seeded; ready in $(elapsed)"
    printf '%s\n' "$KS_URL"
}

cmd_stop() {
    local pid
    set_paths
    take_lock
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        log "not running"
        return 0
    fi
    log "stopping keystone (pid $pid)"
    kill_tree "$pid" || die "pid $pid is still alive"
    rm -f "$PIDFILE"
}

# status/env: without KEYSTONE_PORT, follow the running server's port.
use_running_url() {
    if [[ -z "${KEYSTONE_PORT:-}" && -s "$URLFILE" ]] && running_pid >/dev/null; then
        KS_URL=$(cat "$URLFILE")
    fi
}

cmd_status() {
    local pid
    set_paths
    use_running_url
    if pid=$(running_pid) && answers; then
        log "running (pid $pid) at $KS_URL"
        return 0
    fi
    log "not running"
    return 1
}

cmd_env() {
    set_paths
    use_running_url
    if ! running_pid >/dev/null || ! answers; then
        die "keystone is not running; run '$0 start'"
    fi
    timeout 60 "$VENV/bin/python" "$KS_TOOLS/seed.py" env \
        --auth-url "$KS_URL" --freezer-url "$FREEZER_URL"
    # Its log (errors, and one access line per request): tests quote the
    # errors it logged while a failing client ran.
    printf 'export KEYSTONE_LOG_FILE=%q\n' "$LOGFILE"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
    printf 'usage: %s start|stop|status|env\n' "$0" >&2
    exit 2
    ;;
esac

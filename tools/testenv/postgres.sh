#!/usr/bin/env bash
# Private, throw-away PostgreSQL server for the freezer-api test suite.
#
# Usage: tools/testenv/postgres.sh {start|stop|status|url}
#
#   start   Install PostgreSQL (Debian: apt-get install postgresql) if it is
#           missing, create a private cluster if there is none yet, start it
#           on 127.0.0.1:${FREEZER_TEST_PG_PORT:-55432} and make sure the
#           role "freezer" (password "freezer", LOGIN CREATEDB) and the
#           database "freezer_test" owned by it exist.  A no-op (that still
#           succeeds) when the server is already running from that cluster.
#           The last line of stdout is the SQLAlchemy URL; everything else
#           goes to stderr, so  URL=$(tools/testenv/postgres.sh start | tail -n1)
#           works.
#   stop    Stop the server of that cluster (pg_ctl stop -m fast).  Succeeds
#           when it is not running.
#   status  Exit 0 when the server of that cluster is running, 1 otherwise.
#   url     Print the SQLAlchemy URL only.
#
# Environment:
#   FREEZER_TESTENV_DIR      base directory (default: <repo>/.data/testenv);
#                            the cluster lives in its "postgres" sub-directory
#                            (data/ = PGDATA, run/ = unix socket, postgres.log).
#   FREEZER_TEST_PG_PORT     TCP port (default 55432), bound on 127.0.0.1 only.
#   FREEZER_TESTENV_TIMEOUT  seconds to wait for start/stop (default 60).
#
# The distribution's own service (systemd unit / init script, cluster
# 15/main on port 5432) is never used, started or needed: the server is run
# with pg_ctl directly on the private cluster.  When packages are installed,
# a temporary /usr/sbin/policy-rc.d (only if none exists) keeps the package
# scripts from starting the distribution's default instance.
#
# PostgreSQL refuses to run as root.  When this script runs as root, initdb,
# pg_ctl and psql are run as the "postgres" system user (created by the
# Debian package; created here as a system user if it is missing) through
# runuser, and the cluster directory is chowned to it.  If that user cannot
# reach the default location (e.g. the repository lives under a directory
# such as /root with mode 0700), the cluster is put under
#     /tmp/freezer-testenv-<uid>-<first 12 hex of sha256(base dir)>/postgres
# instead; the choice is deterministic, so start/stop/status always agree.
# The same short /tmp directory holds the unix socket if the socket path
# would otherwise exceed the 107-byte limit of unix socket paths.
# When run as an ordinary user, everything runs as that user (the packages
# must then be installed already).
#
# Administration uses the unix socket with peer authentication as the
# cluster superuser; TCP connections on 127.0.0.1 need a password
# (scram-sha-256).
set -euo pipefail
umask 022

PROG="postgres.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
BASE="${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}"
case "$BASE" in
    /*) ;;
    *) BASE="$PWD/$BASE" ;;
esac
BASE="${BASE%/}"
PORT="${FREEZER_TEST_PG_PORT:-55432}"
TIMEOUT="${FREEZER_TESTENV_TIMEOUT:-60}"
HOST="127.0.0.1"
DB_NAME="freezer_test"
DB_USER="freezer"
DB_PASSWORD="freezer"

# Keep the caller's libpq settings away from our psql/pg_ctl calls.
unset PGDATA PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD \
    PGPASSFILE PGOPTIONS PGSERVICE PGSERVICEFILE PGSSLMODE PGTARGETSESSIONATTRS

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

case "$PORT" in
    '' | *[!0-9]*) die "FREEZER_TEST_PG_PORT must be a number, got '$PORT'" ;;
esac
case "$TIMEOUT" in
    '' | *[!0-9]*) die "FREEZER_TESTENV_TIMEOUT must be a number, got '$TIMEOUT'" ;;
esac

url() {
    printf 'postgresql+psycopg://%s:%s@%s:%s/%s\n' \
        "$DB_USER" "$DB_PASSWORD" "$HOST" "$PORT" "$DB_NAME"
}

# --- who runs the server ----------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    RUN_AS="postgres"
    SUPERUSER="postgres"
else
    RUN_AS=""
    SUPERUSER="$(id -un)"
fi

# Run a command as the server's OS user, from "/" so that a cwd the user
# cannot read does not produce warnings or errors.
as_pg() {
    if [ -n "$RUN_AS" ]; then
        (cd / && runuser -u "$RUN_AS" -- "$@")
    else
        (cd / && "$@")
    fi
}

ensure_os_user() {
    [ -n "$RUN_AS" ] || return 0
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        log "creating system user '$RUN_AS'"
        useradd --system --user-group --no-create-home \
            --home-dir /var/lib/postgresql --shell /usr/sbin/nologin "$RUN_AS"
    fi
}

# --- where the cluster lives ------------------------------------------------
SHORT_ROOT="/tmp/freezer-testenv-$(id -u)-$(printf '%s' "$BASE" | sha256sum | cut -c1-12)"

# Can $RUN_AS reach (search) $1?  A missing path is judged by its deepest
# existing ancestor: the directories this script creates below it are 0755.
user_can_reach() {
    local p="$1"
    [ -n "$RUN_AS" ] || return 0
    id -u "$RUN_AS" >/dev/null 2>&1 || return 0 # no such user: nothing of ours can run
    while [ ! -e "$p" ]; do
        p="$(dirname "$p")"
    done
    runuser -u "$RUN_AS" -- test -x "$p" 2>/dev/null
}

PG_ROOT="" PG_DATA="" PG_LOG="" SOCK_DIR="" LOCK_FILE=""

# Decide where the cluster, its socket and our lock file live.
resolve_paths() {
    PG_ROOT="$BASE/postgres"
    if ! user_can_reach "$PG_ROOT"; then
        PG_ROOT="$SHORT_ROOT/postgres"
    fi
    PG_DATA="$PG_ROOT/data"
    PG_LOG="$PG_ROOT/postgres.log"
    SOCK_DIR="$PG_ROOT/run"
    # sun_path holds 108 bytes including the terminating NUL.
    if [ $((${#SOCK_DIR} + ${#PORT} + 12)) -gt 107 ]; then
        SOCK_DIR="$SHORT_ROOT/pg-run"
    fi
    LOCK_FILE="$(dirname "$PG_ROOT")/postgres.lock"
}

make_short_root() {
    # Parallel starts may race here: a failed mkdir is judged by the check.
    mkdir -m 0755 "$SHORT_ROOT" 2>/dev/null || true
    if [ -L "$SHORT_ROOT" ] || [ ! -d "$SHORT_ROOT" ] ||
        [ "$(stat -c %u "$SHORT_ROOT" 2>/dev/null)" != "$(id -u)" ]; then
        die "$SHORT_ROOT is not a directory owned by $(id -un); remove it"
    fi
}

# mkdir -p + hand the directory to the server's OS user.
make_pg_dir() {
    mkdir -p "$1"
    if [ -n "$RUN_AS" ]; then
        chown "$RUN_AS:" "$1"
    fi
}

# --- binaries ---------------------------------------------------------------
PG_BINDIR=""

# Newest /usr/lib/postgresql/<major>/bin with initdb, else pg_config's bindir.
find_bindir() {
    local want="${1:-}" d
    if [ -n "$want" ]; then
        d="/usr/lib/postgresql/$want/bin"
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            PG_BINDIR="$d"
            return 0
        fi
    else
        for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -n -r); do
            if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
                PG_BINDIR="$d"
                return 0
            fi
        done
    fi
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            if [ -z "$want" ] || "$d/pg_ctl" --version | grep -q " ${want}[.]"; then
                PG_BINDIR="$d"
                return 0
            fi
        fi
    fi
    return 1
}

# The binaries that match an existing cluster (PG_VERSION), else the newest.
select_bindir() {
    local major=""
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        major="$(cat "$PG_DATA/PG_VERSION")"
    fi
    find_bindir "$major"
}

# shellcheck source=tools/testenv/apt.sh
. "$SCRIPT_DIR/apt.sh"

# Install the server if there is none at all (the OS user comes with it).
ensure_installed() {
    if find_bindir; then
        return 0
    fi
    apt_install postgresql
    find_bindir || die "PostgreSQL binaries not found after installing (looked in /usr/lib/postgresql/*/bin)"
}

# The binaries must match the cluster's major version.
ensure_matching_bindir() {
    if ! select_bindir; then
        die "cluster $PG_DATA was made by PostgreSQL $(cat "$PG_DATA/PG_VERSION"), which is not installed; remove $PG_ROOT to start afresh"
    fi
}

# --- state ------------------------------------------------------------------
is_initialised() { [ -f "$PG_DATA/PG_VERSION" ]; }

is_running() {
    is_initialised || return 1
    [ -n "$PG_BINDIR" ] || select_bindir || return 1
    as_pg "$PG_BINDIR/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

# Port the running postmaster listens on (line 4 of postmaster.pid).
running_port() {
    sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
}

show_log_tail() {
    if [ -f "$PG_LOG" ]; then
        log "last lines of $PG_LOG:"
        tail -n 40 "$PG_LOG" >&2 || true
    fi
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

write_config() {
    local conf="$PG_DATA/freezer_testenv.conf"
    {
        echo "# Written by tools/testenv/postgres.sh on every start; do not edit."
        echo "listen_addresses = '$HOST'"
        echo "port = $PORT"
        echo "unix_socket_directories = $(sql_quote "$SOCK_DIR")"
        echo "max_connections = 200"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "logging_collector = off"
        echo "log_min_messages = warning"
    } >"$conf.tmp"
    mv -f "$conf.tmp" "$conf"
    if [ -n "$RUN_AS" ]; then
        chown "$RUN_AS:" "$conf"
    fi
    if ! grep -q "^include_if_exists = 'freezer_testenv.conf'" "$PG_DATA/postgresql.conf"; then
        printf "\n# freezer-api test environment\ninclude_if_exists = 'freezer_testenv.conf'\n" \
            >>"$PG_DATA/postgresql.conf"
    fi
}

init_cluster() {
    log "initialising a new cluster in $PG_DATA"
    rm -rf "$PG_DATA"
    make_pg_dir "$PG_DATA"
    chmod 0700 "$PG_DATA"
    if ! as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$SUPERUSER" \
        --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C --no-sync >&2; then
        rm -rf "$PG_DATA"
        die "initdb failed"
    fi
}

wait_ready() {
    local deadline=$((SECONDS + TIMEOUT))
    until as_pg "$PG_BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -d postgres; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail
            die "PostgreSQL did not accept connections on $HOST:$PORT within ${TIMEOUT}s"
        fi
        if ! is_running; then
            show_log_tail
            die "PostgreSQL exited during start-up"
        fi
        sleep 0.5
    done
}

provision() {
    as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$SOCK_DIR" -p "$PORT" -U "$SUPERUSER" -d postgres >&2 <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
        CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
    ELSE
        ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
    END IF;
END
\$\$;
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
ALTER DATABASE $DB_NAME OWNER TO $DB_USER;
SQL
    # Prove the URL works: password login over TCP as the test user.
    if ! as_pg env PGPASSWORD="$DB_PASSWORD" \
        "$PG_BINDIR/psql" -X -q -At -h "$HOST" -p "$PORT" -U "$DB_USER" -d "$DB_NAME" \
        -c 'SELECT 1' >/dev/null; then
        die "could not log in as $DB_USER over TCP on $HOST:$PORT"
    fi
}

stop_server() {
    log "stopping PostgreSQL ($PG_DATA)"
    if ! as_pg "$PG_BINDIR/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$TIMEOUT" >&2; then
        log "fast shutdown failed, trying immediate shutdown"
        as_pg "$PG_BINDIR/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t "$TIMEOUT" >&2 ||
            die "could not stop PostgreSQL ($PG_DATA)"
    fi
}

take_lock() {
    exec 9>"$LOCK_FILE"
    flock -w $((TIMEOUT * 5)) 9 || die "timed out waiting for $LOCK_FILE"
}

# --- sub-commands -----------------------------------------------------------
cmd_start() {
    local t0=$SECONDS rport
    ensure_installed
    ensure_os_user
    resolve_paths
    ensure_matching_bindir
    if [ "${PG_ROOT#"$SHORT_ROOT"/}" != "$PG_ROOT" ] || [ "${SOCK_DIR#"$SHORT_ROOT"/}" != "$SOCK_DIR" ]; then
        make_short_root
    fi
    mkdir -p "$(dirname "$PG_ROOT")"
    take_lock
    make_pg_dir "$PG_ROOT"
    make_pg_dir "$SOCK_DIR"
    if [ -n "$RUN_AS" ] && [ -d "$PG_DATA" ] && [ "$(stat -c %U "$PG_DATA")" != "$RUN_AS" ]; then
        chown -R "$RUN_AS:" "$PG_DATA"
    fi
    is_initialised || init_cluster

    if is_running; then
        rport="$(running_port)"
        if [ "$rport" = "$PORT" ]; then
            log "already running on $HOST:$PORT ($PG_DATA)"
        else
            log "running on port $rport, restarting on $PORT"
            stop_server
        fi
    fi
    if ! is_running; then
        write_config
        if [ -n "$RUN_AS" ]; then
            touch "$PG_LOG" && chown "$RUN_AS:" "$PG_LOG"
        fi
        log "starting PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') on $HOST:$PORT ($PG_DATA)"
        # fd 9 holds our lock: the server must not inherit it.
        if ! as_pg "$PG_BINDIR/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" \
            -w -t "$TIMEOUT" >&2 9>&-; then
            show_log_tail
            die "PostgreSQL failed to start (log above; start timeout ${TIMEOUT}s)"
        fi
    fi
    wait_ready
    provision
    log "ready after $((SECONDS - t0))s"
    url
}

cmd_stop() {
    resolve_paths
    if ! is_initialised; then
        log "no cluster in $PG_DATA: nothing to stop"
        return 0
    fi
    if ! select_bindir; then
        log "PostgreSQL is not installed: nothing to stop"
        return 0
    fi
    take_lock
    if is_running; then
        stop_server
    else
        log "not running ($PG_DATA)"
    fi
}

cmd_status() {
    resolve_paths
    if is_running; then
        log "running on $HOST:$(running_port) ($PG_DATA)"
        return 0
    fi
    log "not running ($PG_DATA)"
    return 1
}

usage() {
    echo "usage: $0 {start|stop|status|url}" >&2
    exit 2
}

[ $# -eq 1 ] || usage
case "$1" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) url ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac

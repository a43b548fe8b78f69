#!/usr/bin/env bash
# Private, throw-away MariaDB server for the freezer-api test suite.
#
# Usage: tools/testenv/mariadb.sh {start|stop|status|url}
#
#   start   Install MariaDB (Debian: apt-get install mariadb-server
#           mariadb-client) if it is missing, create a private datadir if
#           there is none yet (mariadb-install-db), start mariadbd in the
#           background on 127.0.0.1:${FREEZER_TEST_MYSQL_PORT:-53306} and make
#           sure the database "freezer_test" (utf8mb4) and the user "freezer"
#           (password "freezer", ALL PRIVILEGES ON *.*, so that tests can
#           create and drop their own databases) exist.  A no-op (that still
#           succeeds) when the server is already running from that datadir.
#           The last line of stdout is the SQLAlchemy URL; everything else
#           goes to stderr, so  URL=$(tools/testenv/mariadb.sh start | tail -n1)
#           works.
#   stop    Shut the server of that datadir down (mariadb-admin shutdown over
#           its socket, then SIGTERM/SIGKILL from its pid file if needed).
#           Succeeds when it is not running.
#   status  Exit 0 when the server of that datadir is running, 1 otherwise.
#   url     Print the SQLAlchemy URL only.
#
# Environment:
#   FREEZER_TESTENV_DIR      base directory (default: <repo>/.data/testenv);
#                            the server lives in its "mariadb" sub-directory
#                            (data/, run/mariadbd.sock, run/mariadbd.pid,
#                            mariadb.log).
#   FREEZER_TEST_MYSQL_PORT  TCP port (default 53306), bound on 127.0.0.1 only.
#   FREEZER_TESTENV_TIMEOUT  seconds to wait for start/stop (default 60).
#
# The distribution's own service (systemd unit / init script, /var/lib/mysql,
# port 3306) is never used, started or needed: mariadbd is started directly
# with --no-defaults, so /etc/mysql is not read either.  When packages are
# installed, a temporary /usr/sbin/policy-rc.d (only if none exists) keeps the
# package scripts from starting the distribution's default instance.
#
# When run as root, mariadbd runs as the "mysql" system user (--user=mysql;
# the user comes with the Debian package and is created here as a system
# user if it is missing) and the directory is chowned to it.  If that user
# cannot reach the default location (e.g. the repository lives under a
# directory such as /root with mode 0700), the server is put under
#     /tmp/freezer-testenv-<uid>-<first 12 hex of sha256(base dir)>/mariadb
# instead; the choice is deterministic, so start/stop/status always agree.
# The same short /tmp directory holds the unix socket if the socket path
# would otherwise exceed the 107-byte limit of unix socket paths.
# When run as an ordinary user, everything runs as that user (the packages
# must then be installed already).
#
# Administration uses the unix socket as root (unix_socket authentication:
# the OS user root, or the invoking user when not run as root).
set -euo pipefail
umask 022

PROG="mariadb.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
BASE="${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}"
case "$BASE" in
    /*) ;;
    *) BASE="$PWD/$BASE" ;;
esac
BASE="${BASE%/}"
PORT="${FREEZER_TEST_MYSQL_PORT:-53306}"
TIMEOUT="${FREEZER_TESTENV_TIMEOUT:-60}"
HOST="127.0.0.1"
DB_NAME="freezer_test"
DB_USER="freezer"
DB_PASSWORD="freezer"
# mariadbd and the install script live in /usr/sbin and /usr/bin on Debian.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# Keep the caller's client settings away from our client calls.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT MYSQL_PWD

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

case "$PORT" in
    '' | *[!0-9]*) die "FREEZER_TEST_MYSQL_PORT must be a number, got '$PORT'" ;;
esac
case "$TIMEOUT" in
    '' | *[!0-9]*) die "FREEZER_TESTENV_TIMEOUT must be a number, got '$TIMEOUT'" ;;
esac

url() {
    printf 'mysql+pymysql://%s:%s@%s:%s/%s?charset=utf8mb4\n' \
        "$DB_USER" "$DB_PASSWORD" "$HOST" "$PORT" "$DB_NAME"
}

# --- who runs the server ----------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    RUN_AS="mysql"
    ADMIN_USER="root"
else
    RUN_AS=""
    ADMIN_USER="$(id -un)"
fi

ensure_os_user() {
    [ -n "$RUN_AS" ] || return 0
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        log "creating system user '$RUN_AS'"
        useradd --system --user-group --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_AS"
    fi
}

# --- where the server lives -------------------------------------------------
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

MY_ROOT="" MY_DATA="" MY_LOG="" RUN_DIR="" SOCKET="" PID_FILE="" LOCK_FILE=""

# Decide where the datadir, socket, pid file and our lock file live.
resolve_paths() {
    MY_ROOT="$BASE/mariadb"
    if ! user_can_reach "$MY_ROOT"; then
        MY_ROOT="$SHORT_ROOT/mariadb"
    fi
    MY_DATA="$MY_ROOT/data"
    MY_LOG="$MY_ROOT/mariadb.log"
    RUN_DIR="$MY_ROOT/run"
    # sun_path holds 108 bytes including the terminating NUL.
    if [ $((${#RUN_DIR} + 15)) -gt 107 ]; then
        RUN_DIR="$SHORT_ROOT/my-run"
    fi
    SOCKET="$RUN_DIR/mariadbd.sock"
    PID_FILE="$RUN_DIR/mariadbd.pid"
    LOCK_FILE="$(dirname "$MY_ROOT")/mariadb.lock"
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
make_my_dir() {
    mkdir -p "$1"
    if [ -n "$RUN_AS" ]; then
        chown "$RUN_AS:" "$1"
    fi
}

# --- binaries ---------------------------------------------------------------
MARIADBD="" INSTALL_DB="" CLIENT="" ADMIN=""

first_cmd() {
    local c
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

find_binaries() {
    MARIADBD="$(first_cmd mariadbd mysqld)" &&
        INSTALL_DB="$(first_cmd mariadb-install-db mysql_install_db)" &&
        CLIENT="$(first_cmd mariadb mysql)" &&
        ADMIN="$(first_cmd mariadb-admin mysqladmin)"
}

# shellcheck source=tools/testenv/apt.sh
. "$SCRIPT_DIR/apt.sh"

ensure_installed() {
    if find_binaries; then
        return 0
    fi
    apt_install mariadb-server mariadb-client
    find_binaries || die "mariadbd/mariadb-install-db/mariadb/mariadb-admin not found after installing"
}

# --- state ------------------------------------------------------------------
is_initialised() { [ -d "$MY_DATA/mysql" ]; }

# Pid of the mariadbd serving our datadir, if it is alive.
server_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--datadir=$MY_DATA" || return 1
    echo "$pid"
}

is_running() { server_pid >/dev/null; }

# Port of the running server, from its command line.
running_port() {
    local pid
    pid="$(server_pid)" || return 0
    tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n 's/^--port=//p'
}

show_log_tail() {
    if [ -f "$MY_LOG" ]; then
        log "last lines of $MY_LOG:"
        tail -n 40 "$MY_LOG" >&2 || true
    fi
}

admin_sql() {
    "$CLIENT" --no-defaults --protocol=socket --socket="$SOCKET" -u "$ADMIN_USER" "$@"
}

init_datadir() {
    local tmp="$MY_ROOT/data.init"
    local user_opt=()
    [ -z "$RUN_AS" ] || user_opt=(--user="$RUN_AS")
    log "initialising a new datadir in $MY_DATA"
    rm -rf "$tmp" "$MY_DATA"
    make_my_dir "$tmp"
    chmod 0750 "$tmp"
    # --no-defaults must come first.  Root gets a unix_socket-authenticated
    # account, so no password is needed over the private socket.
    if ! (cd / && "$INSTALL_DB" --no-defaults "${user_opt[@]}" --datadir="$tmp" \
        --auth-root-authentication-method=socket --skip-test-db \
        --skip-name-resolve >>"$MY_LOG" 2>&1); then
        rm -rf "$tmp"
        show_log_tail
        die "mariadb-install-db failed"
    fi
    mv "$tmp" "$MY_DATA"
}

start_server() {
    local pid deadline user_opt=()
    [ -z "$RUN_AS" ] || user_opt=(--user="$RUN_AS")
    rm -f "$PID_FILE"
    if [ -n "$RUN_AS" ]; then
        touch "$MY_LOG" && chown "$RUN_AS:" "$MY_LOG"
    fi
    log "starting $("$MARIADBD" --version | awk '{print $3}') on $HOST:$PORT ($MY_DATA)"
    # A session of its own, no terminal, all fds closed or redirected (fd 9
    # holds our lock, fd 8 possibly the apt lock): the script can return and
    # $(...) callers are not kept waiting for the server's output.  The
    # subshell is not a process group leader (no job control here), so
    # setsid does not fork and $! is mariadbd's pid.
    (cd / && exec setsid "$MARIADBD" --no-defaults "${user_opt[@]}" \
        --datadir="$MY_DATA" \
        --socket="$SOCKET" \
        --pid-file="$PID_FILE" \
        --port="$PORT" \
        --bind-address="$HOST" \
        --skip-name-resolve \
        --log-error="$MY_LOG" \
        --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_unicode_ci \
        --innodb-flush-log-at-trx-commit=2 \
        --skip-log-bin \
        --innodb-buffer-pool-size=256M \
        --max-connections=200 \
        </dev/null >>"$MY_LOG" 2>&1 8>&- 9>&-) &
    pid=$!
    disown "$pid" 2>/dev/null || true

    deadline=$((SECONDS + TIMEOUT))
    until "$ADMIN" --no-defaults --protocol=socket --socket="$SOCKET" \
        -u "$ADMIN_USER" --connect-timeout=2 ping >/dev/null 2>&1 && is_running; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail
            die "MariaDB did not accept connections within ${TIMEOUT}s"
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail
            die "mariadbd exited during start-up"
        fi
        sleep 0.5
    done
}

provision() {
    local h sql
    sql="CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    # With --skip-name-resolve, TCP clients match '127.0.0.1', socket
    # clients 'localhost'.
    for h in 127.0.0.1 localhost; do
        sql+="
CREATE USER IF NOT EXISTS '$DB_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'$h';"
    done
    admin_sql -e "$sql" >&2 || die "could not create user/database"
    # Prove the URL works: password login over TCP as the test user.
    if ! "$CLIENT" --no-defaults --protocol=tcp -h "$HOST" -P "$PORT" \
        -u "$DB_USER" --password="$DB_PASSWORD" -D "$DB_NAME" \
        -e 'SELECT 1' >/dev/null; then
        die "could not log in as $DB_USER over TCP on $HOST:$PORT"
    fi
}

stop_server() {
    local pid deadline
    pid="$(server_pid)" || return 0
    log "stopping MariaDB (pid $pid, $MY_DATA)"
    if [ -z "$ADMIN" ] || ! timeout "$TIMEOUT" "$ADMIN" --no-defaults --protocol=socket \
        --socket="$SOCKET" -u "$ADMIN_USER" shutdown >&2; then
        log "mariadb-admin shutdown failed, sending SIGTERM"
        kill -TERM "$pid" 2>/dev/null || true
    fi
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "still running after ${TIMEOUT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.3
    done
    ! kill -0 "$pid" 2>/dev/null || die "could not stop mariadbd (pid $pid)"
    rm -f "$PID_FILE"
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
    if [ "${MY_ROOT#"$SHORT_ROOT"/}" != "$MY_ROOT" ] || [ "${RUN_DIR#"$SHORT_ROOT"/}" != "$RUN_DIR" ]; then
        make_short_root
    fi
    mkdir -p "$(dirname "$MY_ROOT")"
    take_lock
    make_my_dir "$MY_ROOT"
    make_my_dir "$RUN_DIR"
    if [ -n "$RUN_AS" ] && [ -d "$MY_DATA" ] && [ "$(stat -c %U "$MY_DATA")" != "$RUN_AS" ]; then
        chown -R "$RUN_AS:" "$MY_DATA"
    fi
    is_initialised || init_datadir

    if is_running; then
        rport="$(running_port)"
        if [ "$rport" = "$PORT" ]; then
            log "already running on $HOST:$PORT ($MY_DATA)"
        else
            log "running on port $rport, restarting on $PORT"
            stop_server
        fi
    fi
    is_running || start_server
    # mariadbd opens its TCP port before its socket, so it is up now; the
    # login check at the end of provision proves it (a probe without valid
    # credentials would only fill the log with "Aborted connection").
    provision
    log "ready after $((SECONDS - t0))s"
    url
}

cmd_stop() {
    resolve_paths
    if ! is_initialised; then
        log "no datadir in $MY_DATA: nothing to stop"
        return 0
    fi
    if ! is_running; then
        log "not running ($MY_DATA)"
        return 0
    fi
    find_binaries || true # without mariadb-admin, stop_server signals the pid
    take_lock
    stop_server
}

cmd_status() {
    resolve_paths
    if is_running; then
        log "running on $HOST:$(running_port) ($MY_DATA)"
        return 0
    fi
    log "not running ($MY_DATA)"
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

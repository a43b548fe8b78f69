#!/usr/bin/env bash
# A throw-away single-node search engine for the freezer-api tests: OpenSearch
# or Elasticsearch, each run by a small launcher from Maven Central jars in
# one JVM (tools/opensearch-node, tools/elasticsearch-node; see their
# README.rst). Called through the wrappers opensearch.sh and elasticsearch.sh:
#
#   tools/testenv/ENGINE.sh start    build if needed, start, wait; print the URL last
#   tools/testenv/ENGINE.sh stop     SIGTERM the node and wait for it to exit
#   tools/testenv/ENGINE.sh status   exit 0 if running (and say so on stderr), else 1
#   tools/testenv/ENGINE.sh url      print the URL
#
# (or: tools/testenv/search-engine.sh ENGINE COMMAND). Only the URL goes to
# stdout; everything else goes to stderr, so `URL=$(tools/testenv/opensearch.sh
# start)` works. Both engines may run at once: each has its own port, state
# directory, locks and launcher build.
#
# Environment, with P = OPENSEARCH or ELASTICSEARCH:
#   P_PORT                    HTTP port on 127.0.0.1 (default 9200 for
#                             OpenSearch, 9201 for Elasticsearch)
#   FREEZER_TESTENV_DIR       state root (default $REPO/.data/testenv); the
#                             node lives in $FREEZER_TESTENV_DIR/ENGINE
#   P_HEAP                    -Xms/-Xmx (default 512m)
#   P_JAVA_OPTS               extra JVM options
#   P_JAVA_HOME               JDK to use (default: JDK 17 under /usr/lib/jvm,
#                             else 21, else JAVA_HOME, else java on PATH;
#                             17 or newer)
#   P_START_TIMEOUT           seconds to wait for the node (default 120)
#   P_STOP_TIMEOUT            seconds to wait after SIGTERM (default 60)
#   P_TRANSPORT_PORT          read by the launcher itself: its transport port
#                             (default 0, any free one)
#   P_NODE_ARGS               more launcher options, after the others
#                             (--node-name=..., -Ekey=value...; split on
#                             spaces): opensearch-cluster.sh makes nodes of
#                             a cluster with them
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

ENGINE=${1:-}
[[ $# -gt 0 ]] && shift
case $ENGINE in
    opensearch)
        TITLE=OpenSearch VARS=OPENSEARCH DEFAULT_PORT=9200 DOWNLOAD="~85 MB" ;;
    elasticsearch)
        TITLE=Elasticsearch VARS=ELASTICSEARCH DEFAULT_PORT=9201 DOWNLOAD="~45 MB" ;;
    *)
        echo "usage: $0 opensearch|elasticsearch start|stop|status|url" >&2
        exit 2
        ;;
esac
# The engine's own variable $VARS_$1, else $2.
setting() {
    local name=${VARS}_$1
    printf '%s' "${!name:-${2:-}}"
}

NODE_SRC=$REPO/tools/$ENGINE-node
JAR=$NODE_SRC/target/$ENGINE-node.jar

PORT=$(setting PORT "$DEFAULT_PORT")
STATE=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}/$ENGINE
[[ $STATE == /* ]] || STATE=$PWD/$STATE
PIDFILE=$STATE/$ENGINE.pid
READYFILE=$STATE/node.ready
CONSOLE_LOG=$STATE/logs/console.log
LOCKFILE=$STATE/.lock
URL=http://127.0.0.1:$PORT
HEAP=$(setting HEAP 512m)
START_TIMEOUT=$(setting START_TIMEOUT 120)
STOP_TIMEOUT=$(setting STOP_TIMEOUT 60)
JAVA_HOME_WANTED=$(setting JAVA_HOME)
EXTRA_JAVA_OPTS=$(setting JAVA_OPTS)
NODE_ARGS=$(setting NODE_ARGS)

log() { printf '%s.sh: %s\n' "$ENGINE" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Serialise start/stop (parallel test workers may call start at once).
# $1: seconds to wait for the lock (a cold build may hold it for minutes).
# The node must not inherit fd 9 (see the `9>&-` below), or it would hold
# the lock for as long as it runs.
take_lock() {
    mkdir -p "$STATE"
    # Keep the node's files out of `git status` when the state is in the repo.
    [[ -f $STATE/.gitignore ]] || echo '*' >"$STATE/.gitignore"
    exec 9>"$LOCKFILE"
    if command -v flock >/dev/null 2>&1; then
        flock -w "$1" 9 || die "could not lock $LOCKFILE within $1s"
    fi
}

# True if pid $1 is our launcher serving $STATE (and HTTP port $2, if given).
is_our_node() {
    local cmdline
    cmdline=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
    [[ $cmdline == *$ENGINE-node.jar*" --home=$STATE "* ]] || return 1
    [[ -z ${2:-} || $cmdline == *" --http-port=$2 "* ]]
}

# Prints the pid of our running node, or fails. Trusts the pid file when it
# names our launcher (pids get recycled); otherwise looks through /proc, in
# case the pid file was lost (e.g. the state directory was wiped under a
# running node).
running_pid() {
    local pid cmd
    if [[ -f $PIDFILE ]]; then
        pid=$(tr -dc '0-9' <"$PIDFILE")
        if [[ -n $pid ]] && is_our_node "$pid"; then
            printf '%s\n' "$pid"
            return 0
        fi
    fi
    for cmd in /proc/[0-9]*/cmdline; do
        pid=${cmd#/proc/}
        pid=${pid%/cmdline}
        if is_our_node "$pid"; then
            printf '%s\n' "$pid"
            return 0
        fi
    done
    return 1
}

java_major() {
    "$1" -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | head -n1 | sed 's/^1\.//; s/\..*//'
}

# Sets JAVA_BIN and BUILD_JAVA_HOME. OpenSearch 2.19 needs Java 11+, and
# Elasticsearch 7.17 Java 8+; both are built and tested here on 17
# (preferred); 21 and 25 were seen to start OpenSearch too.
pick_java() {
    local candidates=() c home major
    if [[ -n $JAVA_HOME_WANTED ]]; then
        candidates+=("$JAVA_HOME_WANTED")
    else
        for c in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/temurin-17-* \
                 /usr/lib/jvm/java-21-openjdk-* /usr/lib/jvm/temurin-21-*; do
            [[ -x $c/bin/java ]] && candidates+=("$c")
        done
        [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME")
        if command -v java >/dev/null 2>&1; then
            home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
            candidates+=("$home")
        fi
        for c in /usr/lib/jvm/*; do
            [[ -x $c/bin/java ]] && candidates+=("$c")
        done
    fi
    for home in "${candidates[@]}"; do
        [[ -x $home/bin/java && -x $home/bin/javac ]] || continue
        major=$(java_major "$home/bin/java")
        if [[ -n $major ]] && (( major >= 17 )); then
            JAVA_BIN=$home/bin/java
            BUILD_JAVA_HOME=$home
            return 0
        fi
        [[ -n $JAVA_HOME_WANTED ]] && die "$home is Java ${major:-?}; need a JDK 17 or newer"
    done
    die "no JDK 17+ found (apt-get install openjdk-17-jdk-headless, or set ${VARS}_JAVA_HOME)"
}

# Prints why the launcher needs a build, or nothing.
build_reason() {
    if [[ ! -f $JAR || ! -d $NODE_SRC/target/lib ]]; then
        echo "not built yet"
    elif [[ -n $(find "$NODE_SRC/pom.xml" "$NODE_SRC/src" -newer "$JAR" -print -quit) ]]; then
        echo "sources changed"
    fi
}

# Builds the launcher when its jar is missing or older than its
# sources. Several state directories (hence several state locks) may share
# one build, so the build has its own lock (fd 8).
build_if_needed() {
    local reason t0
    [[ -n $(build_reason) ]] || return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
    exec 8>"$NODE_SRC/.build.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 900 8 || die "could not lock $NODE_SRC/.build.lock"
    fi
    reason=$(build_reason)
    if [[ -n $reason ]]; then
        log "building $NODE_SRC ($reason; a first build downloads $DOWNLOAD from Maven Central)"
        t0=$SECONDS
        # Remove, do not overwrite: nodes still running from these jars keep
        # reading the old files, and rewriting a jar in place can crash them.
        # Stale dependency jars would also stay on the manifest class path.
        rm -rf "$NODE_SRC/target/lib" "$JAR"
        mkdir -p "$NODE_SRC/target"
        if ! (cd "$NODE_SRC" && JAVA_HOME=$BUILD_JAVA_HOME mvn -B -ntp -Dstyle.color=never package \
                >"$NODE_SRC/target/maven-build.log" 2>&1); then
            tail -n 40 "$NODE_SRC/target/maven-build.log" >&2 || true
            die "maven build of $NODE_SRC failed (log: $NODE_SRC/target/maven-build.log)"
        fi
        [[ -f $JAR ]] || die "build produced no $JAR"
        touch "$JAR"
        log "built in $((SECONDS - t0))s"
    fi
    exec 8>&-
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

healthy() {
    curl -fsS -m 2 -o /dev/null "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null
}

# Waits for the node with pid $1 to answer; fails if it dies or times out.
# With $2 = "marker" it also waits for the launcher's node.ready file.
wait_ready() {
    local pid=$1 want_marker=${2:-} deadline=$((SECONDS + START_TIMEOUT))
    while (( SECONDS < deadline )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "the node exited during start-up; last lines of $CONSOLE_LOG:"
            tail -n 30 "$CONSOLE_LOG" >&2 || true
            return 1
        fi
        # node.ready ("PID URL") is written by the launcher once it has
        # finished setting up; it proves the answer comes from our node and
        # not from some other server that took the port meanwhile.
        if [[ -z $want_marker ]] ||
            [[ -f $READYFILE && $(cut -d' ' -f1 "$READYFILE" 2>/dev/null) == "$pid" ]]; then
            if healthy; then
                return 0
            fi
        fi
        sleep 1
    done
    log "no healthy answer from $URL within ${START_TIMEOUT}s; see $STATE/logs/$ENGINE.log"
    return 1
}

cmd_start() {
    local pid t0
    command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"
    take_lock 900
    if pid=$(running_pid); then
        if ! is_our_node "$pid" "$PORT"; then
            die "the node for $STATE (pid $pid) serves another port, not $PORT; stop it first"
        fi
        if wait_ready "$pid"; then
            log "already running (pid $pid)"
            echo "$URL"
            return 0
        fi
        die "a node (pid $pid) is running but not healthy; try: tools/testenv/$ENGINE.sh stop"
    fi
    rm -f "$PIDFILE" "$READYFILE"
    if port_in_use; then
        die "127.0.0.1:$PORT is already taken by another process (set ${VARS}_PORT)"
    fi
    pick_java
    build_if_needed
    mkdir -p "$STATE/logs" "$STATE/tmp"

    local jvm_opts=(
        "-Xms$HEAP" "-Xmx$HEAP" -Xss1m
        -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:-HeapDumpOnOutOfMemoryError
        # C1 only: halves the start-up CPU (~17 s -> ~8 s on 2 cores); plenty
        # for a test node. P_JAVA_OPTS=-XX:TieredStopAtLevel=4 undoes it.
        -XX:TieredStopAtLevel=1
        -Djava.io.tmpdir="$STATE/tmp"
        -Djava.net.preferIPv4Stack=true
        -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
        -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
        -Dio.netty.recycler.maxCapacityPerThread=0
    )
    if [[ -n $EXTRA_JAVA_OPTS ]]; then
        # shellcheck disable=SC2206  # word splitting wanted
        jvm_opts+=($EXTRA_JAVA_OPTS)
    fi

    local node_args=()
    if [[ -n $NODE_ARGS ]]; then
        # shellcheck disable=SC2206  # word splitting wanted
        node_args=($NODE_ARGS)
    fi

    t0=$SECONDS
    log "starting $TITLE on $URL (state in $STATE, java $JAVA_BIN)"
    {
        printf '\n==== %s start\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >>"$CONSOLE_LOG"
    nohup "$JAVA_BIN" "${jvm_opts[@]}" -jar "$JAR" \
        --home="$STATE" --http-port="$PORT" --pidfile="$PIDFILE" "${node_args[@]}" \
        </dev/null >>"$CONSOLE_LOG" 2>&1 8>&- 9>&- &
    pid=$!
    # The launcher writes the same pid itself; write it now so that `stop`
    # works even while the JVM is still booting.
    echo "$pid" >"$PIDFILE"
    if ! wait_ready "$pid" marker; then
        stop_pid "$pid" || true
        die "start failed"
    fi
    running_pid >/dev/null || die "the node exited right after answering"
    log "ready in $((SECONDS - t0))s (pid $pid)"
    echo "$URL"
}

# SIGTERMs pid $1 and waits for it; SIGKILL after STOP_TIMEOUT.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS >= deadline )); then
            log "pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.2
    done
    rm -f "$PIDFILE" "$READYFILE"
}

cmd_stop() {
    local pid
    take_lock 300
    if pid=$(running_pid); then
        log "stopping pid $pid"
        stop_pid "$pid"
        log "stopped"
    else
        rm -f "$PIDFILE" "$READYFILE"
        log "not running"
    fi
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        if healthy; then
            log "running (pid $pid) on $URL"
        else
            log "running (pid $pid) on $URL but not answering yet"
        fi
        return 0
    fi
    log "not running"
    return 1
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "$URL" ;;
    *)
        echo "usage: tools/testenv/$ENGINE.sh start|stop|status|url" >&2
        exit 2
        ;;
esac

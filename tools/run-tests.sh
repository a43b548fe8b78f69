#!/usr/bin/env bash
# `make test`: start every backend the suite needs on loopback (installing
# them when missing), run the whole suite with none of them optional, and
# stop what this run started.
set -euo pipefail
cd "$(dirname "$0")/.."
started=()
cleanup() {
    for name in "${started[@]}"; do
        tools/testenv/"$name".sh stop >&2 || true
    done
}
trap cleanup EXIT

# Every backend starts at once, each in the background, and so do the
# installs of upstream's releases (Debian installs are serialised by
# tools/testenv/apt.sh, builds and venvs by locks of their own); then each
# one's URL is exported, or the run stops once all have ended, with their
# logs.
logs=$(mktemp -d)
names=() vars=() pids=()
launch() {  # launch NAME VARIABLE COMMAND...: run it in the background;
    # VARIABLE (if not empty) gets the last line it prints
    local name=$1 var=$2
    shift 2
    "$@" >"$logs/$name.out" 2>"$logs/$name.err" &
    names+=("$name") vars+=("$var") pids+=("$!")
}
backend() {  # backend NAME VARIABLE: start tools/testenv/NAME.sh
    if ! tools/testenv/"$1".sh status >/dev/null 2>&1; then
        started+=("$1")
    fi
    launch "$1" "$2" tools/testenv/"$1".sh start
}
collect() {  # wait for everything launched; export the URLs
    local i name url ok failed=0
    for i in "${!names[@]}"; do
        name=${names[$i]} url= ok=1
        if wait "${pids[$i]}"; then
            url=$(tail -n 1 "$logs/$name.out")
        else
            ok=0
        fi
        sed "s/^/[$name] /" "$logs/$name.err" >&2
        if [ "$ok" -eq 1 ] && [ -n "${vars[$i]}" ] && [ -n "$url" ]; then
            export "${vars[$i]}=$url"
            echo "== $name: $url" >&2
        elif [ "$ok" -eq 1 ] && [ -z "${vars[$i]}" ]; then
            echo "== $name: done" >&2
        else
            echo "== $name failed" >&2
            failed=1
        fi
    done
    rm -rf "$logs"
    [ "$failed" -eq 0 ] || exit 1
}

began=$(date +%s)
echo "== starting postgres, mariadb, opensearch, elasticsearch, keystone;" \
    "installing upstream freezer-api 18.0.0 and 19.0.0 and the dashboard" >&2
backend postgres FREEZER_TEST_PG_URL
backend mariadb FREEZER_TEST_MYSQL_URL
backend opensearch FREEZER_TEST_OPENSEARCH_URL
backend elasticsearch FREEZER_TEST_ELASTICSEARCH_URL
backend keystone KEYSTONE_URL
# Upstream freezer-api from PyPI, each in a venv of its own (pinned in
# tools/upstream/; a no-op once installed), for
# tests/functional/test_import_upstream.py and the benchmarks.
for version in 18.0.0 19.0.0; do
    launch "upstream-$version" "" \
        .venv/bin/python -m benchmarks.upstream install "$version"
done
# Horizon + freezer-web-ui and headless Chromium for the browser test
# (tests/functional/test_dashboard.py).
launch dashboard "" tools/testenv/dashboard.sh ensure
collect
echo "== backends ready after $(( $(date +%s) - began )) s" >&2
# The Keystone tests' users, projects and ids (tools/keystone/README.rst).
keystone_env=$(tools/testenv/keystone.sh env) ||
    { echo "keystone.sh env failed" >&2; exit 1; }
eval "$keystone_env"
export FREEZER_TEST_REQUIRE_ALL=1

start=$(date +%s)
set +e
.venv/bin/python -m pytest -q -n 2 -m "not alone" "$@"
status=$?
# Then the tests whose assertions hold a time bound (p99 latency, how soon
# a process dies), one at a time, with nothing else on the two cores.
echo "== the time-bound tests, one at a time" >&2
.venv/bin/python -m pytest -q -m alone "$@"
alone=$?
set -e
[ "$alone" -eq 5 ] && alone=0  # none among the paths given
[ "$status" -ne 0 ] || status=$alone
echo "== make test: pytest exit $status after $(( $(date +%s) - start )) s" >&2
if [ "$status" -ne 0 ] && [ -f "${KEYSTONE_LOG_FILE:-}" ]; then
    # The test Keystone's own errors, if any: a client's failure may be
    # Keystone's, and CI keeps nothing but this output.
    echo "== the test Keystone's errors and 5xx answers ($KEYSTONE_LOG_FILE):" >&2
    .venv/bin/python -c 'from tests.functional import keystone_support as k
print(k.Keystone().log_trouble() or "(none)")' >&2 || true
fi
exit $status

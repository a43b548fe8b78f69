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

# Every backend starts at once, each in the background (their Debian
# installs are serialised by tools/testenv/apt.sh, their builds by locks of
# their own); then each one's URL is exported, or the run stops with its
# log.
logs=$(mktemp -d)
names=() vars=() pids=()
launch() {  # launch NAME VARIABLE: start the backend in the background
    local name=$1
    if ! tools/testenv/"$name".sh status >/dev/null 2>&1; then
        started+=("$name")
    fi
    tools/testenv/"$name".sh start >"$logs/$name.out" 2>"$logs/$name.err" &
    names+=("$name") vars+=("$2") pids+=("$!")
}
collect() {  # wait for every launched backend, export its URL
    local i name url failed=0
    for i in "${!names[@]}"; do
        name=${names[$i]}
        if wait "${pids[$i]}"; then
            url=$(tail -n 1 "$logs/$name.out")
        else
            url=
        fi
        sed "s/^/[$name] /" "$logs/$name.err" >&2
        if [ -z "$url" ]; then
            echo "== $name did not start" >&2
            failed=1
            continue
        fi
        export "${vars[$i]}=$url"
        echo "== $name: $url" >&2
    done
    rm -rf "$logs"
    [ "$failed" -eq 0 ] || exit 1
}

began=$(date +%s)
echo "== starting postgres, mariadb, opensearch, elasticsearch, keystone" >&2
launch postgres FREEZER_TEST_PG_URL
launch mariadb FREEZER_TEST_MYSQL_URL
launch opensearch FREEZER_TEST_OPENSEARCH_URL
launch elasticsearch FREEZER_TEST_ELASTICSEARCH_URL
launch keystone KEYSTONE_URL
collect
echo "== backends ready after $(( $(date +%s) - began )) s" >&2
# The Keystone tests' users, projects and ids (tools/keystone/README.rst).
keystone_env=$(tools/testenv/keystone.sh env) ||
    { echo "keystone.sh env failed" >&2; exit 1; }
eval "$keystone_env"
export FREEZER_TEST_REQUIRE_ALL=1

start=$(date +%s)
set +e
.venv/bin/python -m pytest -q -n 2 "$@"
status=$?
set -e
echo "== make test: pytest exit $status after $(( $(date +%s) - start )) s" >&2
if [ "$status" -ne 0 ] && [ -f "${KEYSTONE_LOG_FILE:-}" ]; then
    # The test Keystone's own errors, if any: a client's failure may be
    # Keystone's, and CI keeps nothing but this output.
    echo "== the test Keystone's errors and 5xx answers ($KEYSTONE_LOG_FILE):" >&2
    .venv/bin/python -c 'from tests.functional import keystone_support as k
print(k.Keystone().log_trouble() or "(none)")' >&2 || true
fi
exit $status

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

ensure() {  # ensure NAME VARIABLE: start the backend, export its URL
    local name=$1 var=$2 url
    if ! tools/testenv/"$name".sh status >/dev/null 2>&1; then
        started+=("$name")
    fi
    echo "== starting $name" >&2
    url=$(tools/testenv/"$name".sh start | tail -n 1)
    [ -n "$url" ] || { echo "$name did not start" >&2; exit 1; }
    export "$var=$url"
    echo "== $name: $url" >&2
}

# Horizon + freezer-web-ui and headless Chromium for the browser test
# (tests/functional/test_dashboard.py): installed while the backends start.
tools/testenv/dashboard.sh ensure >/dev/null &
dashboard_pid=$!
ensure postgres FREEZER_TEST_PG_URL
ensure mariadb FREEZER_TEST_MYSQL_URL
ensure opensearch FREEZER_TEST_OPENSEARCH_URL
ensure elasticsearch FREEZER_TEST_ELASTICSEARCH_URL
ensure keystone KEYSTONE_URL
# The Keystone tests' users, projects and ids (tools/keystone/README.rst).
keystone_env=$(tools/testenv/keystone.sh env) ||
    { echo "keystone.sh env failed" >&2; exit 1; }
eval "$keystone_env"
export FREEZER_TEST_REQUIRE_ALL=1
wait "$dashboard_pid" || { echo "tools/testenv/dashboard.sh ensure failed" >&2; exit 1; }

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

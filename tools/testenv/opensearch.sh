#!/usr/bin/env bash
# A throw-away single-node OpenSearch 2.19 for the freezer-api tests
# (tools/opensearch-node): opensearch.sh start|stop|status|url.
# OPENSEARCH_PORT (default 9200), FREEZER_TESTENV_DIR (the node lives in
# $FREEZER_TESTENV_DIR/opensearch), OPENSEARCH_HEAP, OPENSEARCH_JAVA_OPTS,
# OPENSEARCH_JAVA_HOME, OPENSEARCH_START_TIMEOUT, OPENSEARCH_STOP_TIMEOUT:
# see search-engine.sh, which does the work for both engines.
exec "$(dirname "${BASH_SOURCE[0]}")/search-engine.sh" opensearch "$@"

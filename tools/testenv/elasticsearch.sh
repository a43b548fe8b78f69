#!/usr/bin/env bash
# A throw-away single-node Elasticsearch 7.17 for the freezer-api tests
# (tools/elasticsearch-node): elasticsearch.sh start|stop|status|url.
# ELASTICSEARCH_PORT (default 9201), FREEZER_TESTENV_DIR (the node lives in
# $FREEZER_TESTENV_DIR/elasticsearch), ELASTICSEARCH_HEAP,
# ELASTICSEARCH_JAVA_OPTS, ELASTICSEARCH_JAVA_HOME,
# ELASTICSEARCH_START_TIMEOUT, ELASTICSEARCH_STOP_TIMEOUT: see
# search-engine.sh, which does the work for both engines.
exec "$(dirname "${BASH_SOURCE[0]}")/search-engine.sh" elasticsearch "$@"

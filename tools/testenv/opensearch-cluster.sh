#!/usr/bin/env bash
# A throw-away 3-node OpenSearch 2.19 cluster on 127.0.0.1 for the
# freezer-api tests: three nodes of tools/opensearch-node, each started by
# opensearch.sh (so built, locked, started, waited for and stopped the same
# way as the single node), joined by their transport ports.
#
#   tools/testenv/opensearch-cluster.sh start [N...]  start the nodes (all
#                         by default) at once; wait until each answers and
#                         the cluster is at least yellow; print the URLs
#   tools/testenv/opensearch-cluster.sh stop [N...]   SIGTERM them, wait
#   tools/testenv/opensearch-cluster.sh status        exit 0 if all run
#   tools/testenv/opensearch-cluster.sh url           the hosts, comma-separated
#   tools/testenv/opensearch-cluster.sh home N        node N's state directory
#
# N is 1, 2 or 3. Only URLs and paths go to stdout. A node started alone
# (after a stop or a SIGKILL) rejoins the others with its data. The nodes
# must start together the first time: the first election needs two of the
# three (cluster.initial_cluster_manager_nodes names all three).
#
# Environment:
#   FREEZER_TESTENV_DIR            state root (default $REPO/.data/testenv);
#                                  node N lives in
#                                  $FREEZER_TESTENV_DIR/opensearch-cluster/node-N
#   OPENSEARCH_CLUSTER_HTTP_PORTS  three HTTP ports (default "9210 9211 9212")
#   OPENSEARCH_CLUSTER_TRANSPORT_PORTS
#                                  three transport ports (default
#                                  "9310 9311 9312")
#   OPENSEARCH_CLUSTER_NAME        default freezer-cluster
#   OPENSEARCH_HEAP                each node's heap (default here 384m)
#   and opensearch.sh's other OPENSEARCH_* variables, for every node.
#
# Indices get the engine's stock default of one replica per shard (the
# launcher's --default-replicas is left empty); freezer-api creates its own
# with [elasticsearch] number_of_replicas.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}/opensearch-cluster
[[ $ROOT == /* ]] || ROOT=$PWD/$ROOT
read -r -a HTTP_PORTS <<<"${OPENSEARCH_CLUSTER_HTTP_PORTS:-9210 9211 9212}"
read -r -a TRANSPORT_PORTS <<<"${OPENSEARCH_CLUSTER_TRANSPORT_PORTS:-9310 9311 9312}"
NAME=${OPENSEARCH_CLUSTER_NAME:-freezer-cluster}
NODES=(1 2 3)

log() { printf 'opensearch-cluster.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

(( ${#HTTP_PORTS[@]} == 3 && ${#TRANSPORT_PORTS[@]} == 3 )) ||
    die "OPENSEARCH_CLUSTER_HTTP_PORTS and _TRANSPORT_PORTS need three ports each"

check_node() {
    [[ $1 == [123] ]] || die "no node '$1' (1, 2 or 3)"
}

url() { printf 'http://127.0.0.1:%s' "${HTTP_PORTS[$1 - 1]}"; }

# opensearch.sh COMMAND for node $1.
node() {
    local n=$1 seeds="" i
    shift
    for i in "${NODES[@]}"; do
        seeds+=${seeds:+,}127.0.0.1:${TRANSPORT_PORTS[$i - 1]}
    done
    FREEZER_TESTENV_DIR=$ROOT/node-$n \
    OPENSEARCH_PORT=${HTTP_PORTS[$n - 1]} \
    OPENSEARCH_TRANSPORT_PORT=${TRANSPORT_PORTS[$n - 1]} \
    OPENSEARCH_HEAP=${OPENSEARCH_HEAP:-384m} \
    OPENSEARCH_NODE_ARGS="--node-name=node-$n --cluster-name=$NAME --default-replicas=
        -Ediscovery.type=zen -Ediscovery.seed_hosts=$seeds
        -Ecluster.initial_cluster_manager_nodes=node-1,node-2,node-3" \
        "$HERE/opensearch.sh" "$@"
}

# Runs `node N COMMAND` for each N of $2... at once; fails if any failed.
each() {
    local command=$1 n pids=() failed=0
    shift
    for n in "$@"; do
        node "$n" "$command" >/dev/null &
        pids+=($!)
    done
    for n in "${pids[@]}"; do
        wait "$n" || failed=1
    done
    return "$failed"
}

cmd_start() {
    local nodes=("$@") n
    (( ${#nodes[@]} )) || nodes=("${NODES[@]}")
    for n in "${nodes[@]}"; do check_node "$n"; done
    each start "${nodes[@]}" || die "a node did not start (logs in $ROOT/node-*/opensearch/logs)"
    for n in "${nodes[@]}"; do
        curl -fsS -m 70 -o /dev/null \
            "$(url "$n")/_cluster/health?wait_for_status=yellow&wait_for_nodes=ge(2)&timeout=60s" ||
            die "node $n answers, but the cluster is not yellow"
    done
    log "nodes ${nodes[*]} ready"
    cmd_url
}

cmd_stop() {
    local nodes=("$@") n
    (( ${#nodes[@]} )) || nodes=("${NODES[@]}")
    for n in "${nodes[@]}"; do check_node "$n"; done
    each stop "${nodes[@]}"
}

cmd_status() {
    local n failed=0
    for n in "${NODES[@]}"; do
        node "$n" status || failed=1
    done
    return "$failed"
}

cmd_url() {
    local n out=""
    for n in "${NODES[@]}"; do
        out+=${out:+,}$(url "$n")
    done
    echo "$out"
}

command=${1:-}
[[ $# -gt 0 ]] && shift
case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    url) cmd_url ;;
    home) check_node "${1:-}"; echo "$ROOT/node-$1/opensearch" ;;
    *)
        echo "usage: tools/testenv/opensearch-cluster.sh start|stop [N...] | status | url | home N" >&2
        exit 2
        ;;
esac

"""The test search engines of tools/testenv/search.py, for real: private
OpenSearch and Elasticsearch nodes started from pytest's tmp_path on free
ports, and once a private 3-node OpenSearch cluster; never the nodes the
suite shares.

A node is started (the URL, our JVM with its JVM options, node.ready),
started again (reused: same URL, same pid), asked for its status, started
from two processes at once (one JVM), refused a port something else holds
and a port other than the one its running node serves, found again when
its pid file is lost, SIGKILLed and started again with its data, stopped,
stopped again, wiped. The launcher is built by Maven in a copy of its
project (not built yet, then sources changed: the old jar removed, not
rewritten). The cluster forms from three nodes, keeps serving while one is
stopped, and takes the node back with its data.
"""

import os
import shutil
import socket
import subprocess
import sys

import pytest
import requests

from tools.testenv import base
from tools.testenv import search

REPO = base.REPO
pytestmark = pytest.mark.slow

VERSIONS = {"opensearch": "2.19.", "elasticsearch": "7.17."}


@pytest.fixture
def nodes():
    """make(cls, base_dir, **kwargs): a node on a free port; every node
    made is stopped at the end."""
    made = []

    def make(cls, base_dir, **kwargs):
        kwargs.setdefault("port", base.free_port())
        node = cls(base=str(base_dir), **kwargs)
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop()


def jvms(node):
    """The pids of every process running a launcher for ``node``'s state
    directory."""
    return [int(pid) for pid in os.listdir("/proc")
            if pid.isdigit() and node._ours(int(pid))]


def index_doc(url, index, doc_id, body, replicas=0):
    requests.put("%s/%s" % (url, index), json={"settings": {
        "number_of_shards": 1, "number_of_replicas": replicas}},
        timeout=60).raise_for_status()
    requests.put("%s/%s/_doc/%s?refresh=true" % (url, index, doc_id),
                 json=body, timeout=60).raise_for_status()


def wait_health(url, status, nodes):
    """The cluster health once ``status`` and ``nodes`` are reached, or after
    60 s, whichever is first (the caller asserts on what it got)."""
    return requests.get(
        "%s/_cluster/health?wait_for_status=%s&wait_for_nodes=%d"
        "&wait_for_no_initializing_shards=true&timeout=60s"
        % (url, status, nodes), timeout=70).json()


def get_doc(url, index, doc_id):
    answer = requests.get("%s/%s/_doc/%s" % (url, index, doc_id), timeout=60)
    answer.raise_for_status()
    return answer.json()["_source"]


@pytest.mark.parametrize("cls", [search.OpenSearch, search.Elasticsearch],
                         ids=["opensearch", "elasticsearch"])
def test_start_reuse_status_stop(cls, nodes, tmp_path):
    node = nodes(cls, tmp_path, heap="384m")
    assert node.home == str(tmp_path / node.engine)
    assert not node.status() and node.pid() is None

    url = node.start()
    assert url == "http://127.0.0.1:%d" % node.port == node.url()
    assert node.environment() == {node.url_variable: url}
    info = requests.get(url, timeout=10).json()
    assert info["version"]["number"].startswith(VERSIONS[node.engine])
    pid = node.pid()
    assert pid is not None and jvms(node) == [pid]
    argv = base.cmdline(pid)
    assert argv[0].endswith("/bin/java")
    for option in ("-Xms384m", "-Xmx384m", "-XX:TieredStopAtLevel=1",
                   "--home=" + node.home, "--http-port=%d" % node.port,
                   "--pidfile=" + node.pid_file):
        assert option in argv
    with open(node.ready_file) as f:
        assert f.read().split()[0] == str(pid)
    assert base.read_pid(node.pid_file) == pid
    assert node.status()

    again = cls(base=str(tmp_path), port=node.port)
    assert again.start() == url
    assert again.pid() == pid and jvms(node) == [pid]

    node.stop()
    assert not node.status() and node.pid() is None
    assert not base.alive(pid)
    assert not base.port_in_use(node.port)
    assert not os.path.exists(node.pid_file)
    node.stop()     # fine when it does not run
    assert not node.status()


def test_settings_reach_the_jvm(nodes, tmp_path, monkeypatch):
    """The P_* variables, and the constructor's arguments over them."""
    monkeypatch.setenv("OPENSEARCH_HEAP", "300m")
    monkeypatch.setenv("OPENSEARCH_JAVA_OPTS", "-Dfreezer.a=1 -Dfreezer.b=2")
    monkeypatch.setenv("OPENSEARCH_NODE_ARGS", "--node-name=env-node")
    monkeypatch.setenv("OPENSEARCH_START_TIMEOUT", "77")
    monkeypatch.setenv("OPENSEARCH_STOP_TIMEOUT", "33")
    from_env = search.OpenSearch(base=str(tmp_path))
    options = from_env.jvm_options()
    assert options[:2] == ["-Xms300m", "-Xmx300m"]
    assert options[-2:] == ["-Dfreezer.a=1", "-Dfreezer.b=2"]
    assert from_env.node_args == ["--node-name=env-node"]
    assert (from_env.timeout, from_env.stop_timeout) == (77, 33)
    monkeypatch.setenv("OPENSEARCH_PORT", "9876")
    assert search.OpenSearch(base=str(tmp_path)).port == 9876
    monkeypatch.undo()

    transport = base.free_port()
    node = nodes(search.OpenSearch, tmp_path, heap="320m",
                 java_opts="-XX:TieredStopAtLevel=4", node_args=[],
                 transport_port=transport, env={"FREEZER_PROBE": "yes"})
    node.start()
    argv = base.cmdline(node.pid())
    assert "-Xmx320m" in argv and "-Xmx300m" not in argv
    # Given after the default C1-only option, the full JIT wins.
    assert argv.index("-XX:TieredStopAtLevel=4") > argv.index(
        "-XX:TieredStopAtLevel=1")
    assert not any(arg.startswith("--node-name") for arg in argv)
    with open("/proc/%d/environ" % node.pid(), "rb") as f:
        environ = f.read().split(b"\0")
    assert b"FREEZER_PROBE=yes" in environ
    assert ("OPENSEARCH_TRANSPORT_PORT=%d" % transport).encode() in environ
    with open(os.path.join(node.home, "logs", "transport.ports")) as f:
        assert str(transport) in f.read()


def test_two_processes_start_one_node(nodes, tmp_path):
    """Two command lines at once, the node named by the variables."""
    node = nodes(search.OpenSearch, tmp_path)
    env = dict(os.environ, FREEZER_TESTENV_DIR=str(tmp_path),
               OPENSEARCH_PORT=str(node.port))
    cli = [sys.executable, "-m", "tools.testenv", "start", "opensearch"]
    starts = [subprocess.Popen(cli, cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(2)]
    outputs = [start.communicate(timeout=600) for start in starts]
    assert [start.returncode for start in starts] == [0, 0], outputs
    assert [out for out, _err in outputs] == [node.url() + "\n"] * 2
    said = outputs[0][1] + outputs[1][1]
    assert said.count("starting OpenSearch") == 1, said
    assert said.count("already running") == 1, said
    assert len(jvms(node)) == 1 and node.status()


def test_a_port_taken_by_another_process(nodes, tmp_path):
    with socket.socket() as squatter:
        squatter.bind((base.LOOPBACK, 0))
        squatter.listen()
        node = nodes(search.OpenSearch, tmp_path,
                     port=squatter.getsockname()[1])
        with pytest.raises(base.ServiceError, match="already taken"):
            node.start()
        assert node.pid() is None and jvms(node) == []


def test_a_failed_start_says_why(nodes, tmp_path):
    node = nodes(search.OpenSearch, tmp_path,
                 java_opts="-XX:+FreezerNoSuchOption")
    with pytest.raises(base.ServiceError, match="(?s)did not start \\(exit "
                       "status 1\\).*"
                       "Unrecognized VM option 'FreezerNoSuchOption'"):
        node.start()
    assert node.pid() is None and not base.port_in_use(node.port)


def test_a_node_serving_another_port_is_not_taken(nodes, tmp_path):
    node = nodes(search.OpenSearch, tmp_path)
    node.start()
    other = nodes(search.OpenSearch, tmp_path)
    with pytest.raises(base.ServiceError, match="serves port %d, not %d"
                       % (node.port, other.port)):
        other.start()
    assert node.status() and not base.port_in_use(other.port)


def test_lost_pid_file_kill_and_data_kept(nodes, tmp_path):
    node = nodes(search.OpenSearch, tmp_path)
    url = node.start()
    index_doc(url, "kept", "1", {"name": "before"})
    pid = node.pid()

    os.unlink(node.pid_file)    # found again through /proc
    assert node.pid() == pid and node.status()
    assert node.start() == url and node.pid() == pid

    node.kill()
    assert not base.alive(pid) and node.pid() is None
    assert not node.status()
    # A stale pid file and node.ready stay behind, as after a crash.
    assert node.start() == url
    assert node.pid() not in (None, pid)
    assert get_doc(url, "kept", "1") == {"name": "before"}

    node.wipe()
    assert not os.path.exists(node.home) and node.pid() is None
    with pytest.raises(base.ServiceError, match="no running node"):
        node.kill()
    node.start()
    assert requests.get(url + "/kept", timeout=10).status_code == 404


def test_the_launcher_is_built_when_missing_or_older(tmp_path):
    node = search.OpenSearch(base=str(tmp_path), port=base.free_port())
    node.source = str(tmp_path / "opensearch-node")
    shutil.copytree(os.path.join(REPO, "tools", "opensearch-node"),
                    node.source,
                    ignore=shutil.ignore_patterns("target", ".build.lock"))
    assert node.build_reason() == "not built yet"
    node.build()
    assert node.build_reason() is None
    lib = os.path.join(node.source, "target", "lib")
    first = os.stat(node.jar).st_ino
    stale = os.path.join(lib, "stale-dependency.jar")
    open(stale, "w").close()

    node.build()    # up to date: nothing to do
    assert os.stat(node.jar).st_ino == first and os.path.exists(stale)

    source = os.path.join(node.source, "src", "main", "java", "org",
                          "freezerapi", "testnode", "OpenSearchNode.java")
    older = os.stat(source).st_mtime - 60
    os.utime(node.jar, (older, older))
    assert node.build_reason() == "sources changed"
    node.build()
    assert node.build_reason() is None
    # Removed and made anew, not rewritten in place; nothing stale kept.
    assert os.stat(node.jar).st_ino != first
    assert not os.path.exists(stale) and os.listdir(lib)


def test_cluster_forms_survives_a_node_and_takes_it_back(tmp_path):
    """Three JVMs: the heaviest test here, run once."""
    http = [base.free_port() for _ in range(3)]
    transport = [base.free_port() for _ in range(3)]
    cluster = search.OpenSearchCluster(base=str(tmp_path), http_ports=http,
                                       transport_ports=transport)
    assert cluster.hosts == ["http://127.0.0.1:%d" % p for p in http]
    assert cluster.url() == ",".join(cluster.hosts)
    assert [n.home for n in cluster.nodes] == [
        str(tmp_path / "opensearch-cluster" / ("node-%d" % n) / "opensearch")
        for n in (1, 2, 3)]
    with pytest.raises(base.ServiceError, match="no node"):
        cluster.start(4)
    try:
        assert cluster.start() == cluster.hosts
        assert cluster.status()
        for node in cluster.nodes:
            argv = base.cmdline(node.pid())
            assert "-Xmx384m" in argv
            assert "-Ediscovery.seed_hosts=" + ",".join(
                "127.0.0.1:%d" % p for p in transport) in argv
            assert ("-Ecluster.initial_cluster_manager_nodes="
                    "node-1,node-2,node-3") in argv
        health = requests.get(cluster.hosts[0] + "/_cluster/health",
                              timeout=30).json()
        assert health["cluster_name"] == "freezer-cluster"
        assert health["number_of_nodes"] == 3
        index_doc(cluster.hosts[0], "replicated", "1", {"n": 1}, replicas=1)
        # The replica must be started before a node goes, or the node that
        # goes may hold the only started copy.
        assert wait_health(cluster.hosts[0], "green", 3)["status"] == "green"

        cluster.stop(2)
        assert cluster.nodes[1].pid() is None and not cluster.status()
        # If node 2 held the primary, reads fail until the cluster promotes
        # the replica: yellow means every primary is active again.
        health = wait_health(cluster.hosts[2], "yellow", 2)
        assert health["number_of_nodes"] == 2, health
        assert get_doc(cluster.hosts[2], "replicated", "1") == {"n": 1}

        cluster.nodes[2].kill()
        assert cluster.nodes[2].pid() is None
        assert cluster.start(2, 3) == cluster.hosts
        health = wait_health(cluster.hosts[1], "green", 3)
        assert health["number_of_nodes"] == 3, health
        assert health["status"] == "green", health
        assert get_doc(cluster.hosts[1], "replicated", "1") == {"n": 1}
    finally:
        cluster.wipe()
    assert not os.path.exists(cluster.home)
    assert all(node.pid() is None for node in cluster.nodes)

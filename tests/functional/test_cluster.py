"""Outgrowing one machine: two freezer-api servers (the real command,
gunicorn with 2 workers each) on one shared store, under a write load from
agents of both, while the store loses machines:

* a 3-node OpenSearch cluster (tools/testenv/search.py, private to
  this module: its own state directory and free ports; one replica
  per shard; both servers configured with all three hosts). The node
  holding most primaries is SIGKILLed: the two others keep a quorum and the
  service goes on. Later the node now holding most primaries is SIGKILLed
  too: one node of three is no quorum. Both come back (same data, same
  ports) and the cluster heals;
* a private PostgreSQL server (tools/testenv/sql.py), stopped and
  started again.

Throughout: every answer is acknowledged or 503 with Retry-After and a
JSON {"title", "description"} body (never another status, never a cut
connection); the same master and workers serve again by themselves (nobody
restarts them); every acknowledged write is there and every session and
its jobs agree; each session round bumped the session's tag exactly once
(tests/functional/test_faults.py's Agent and consistency check, which
these tests share). The unavailable windows (the longest stretch without
any acknowledged write after each failure) are printed, not asserted; the
only times asserted are the bounds of every wait.
"""

import json
import os
import threading
import time

import pytest
import requests

from tests.functional import server as server_module
from tests.functional import test_faults as faults
from tests.functional.test_faults import private_postgres  # noqa: F401

WRITES = 40        # acknowledged writes to see in each phase
AGENTS = 2         # per server
QUORUM_LOSS = 10   # seconds the cluster stays without a quorum
GRACE = 10         # seconds the last 503s may follow the nodes' return


@pytest.fixture(scope="module")
def cluster():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    nodes = server_module.private_opensearch_cluster(os.path.join(
        server_module.REPO, ".data", "testenv-cluster", worker))
    nodes.wipe()  # what an interrupted run left behind
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


class Fleet:
    """Two servers on one store, and the agents of both."""

    def __init__(self, tmp_path, url, extra_conf=""):
        self.servers = []
        for name in ("api-a", "api-b"):
            directory = tmp_path / name
            directory.mkdir()
            self.servers.append(server_module.Server(
                directory, url, workers=2, extra_conf=extra_conf))
        self.stop, self.acks = threading.Event(), []
        self.agents = []

    def start(self):
        for server in self.servers:
            server.start(timeout=90)
        for server in self.servers:
            faults._wait_for(lambda: len(server.worker_pids()) == 2,
                             "2 workers")
        self.pids = [(s.proc.pid, sorted(s.worker_pids()))
                     for s in self.servers]
        host = faults.PROJECT + "_fleet-host"
        first = faults.Client(self.servers[0].base_url)
        assert first.request("POST", "/clients", json={
            "client_id": host, "hostname": "fleet-host"}).status_code == 201
        for s, server in enumerate(self.servers):
            client = faults.Client(server.base_url)
            for n in range(AGENTS):
                agent = faults.Agent("api%d-agent%d" % (s, n), client, host,
                                     self.stop, self.acks)
                agent.pause = 0.2  # as a client honouring Retry-After
                self.agents.append(agent)
        for agent in self.agents:
            agent.start()
        return self

    def wait_writes(self, what):
        mark = len(self.acks)
        faults._wait_for(lambda: len(self.acks) >= mark + WRITES,
                         "writes " + what, timeout=180)

    def halt(self):
        self.stop.set()
        for agent in self.agents:
            agent.join()

    def window(self, begin, end):
        """The longest stretch in [begin, end] without an acknowledged
        write (seconds)."""
        times = sorted(t for t in self.acks if begin <= t <= end)
        edges = [begin] + times + [end]
        return max(b - a for a, b in zip(edges, edges[1:]))

    def failures_in(self, begin, end):
        return sum(1 for agent in self.agents for f in agent.failures
                   if begin <= f[0] <= end)

    def check(self):
        """Everything the module's docstring promises but the windows."""
        errors = [e for agent in self.agents for e in agent.errors]
        assert not errors, errors[:5]
        for agent in self.agents:
            for t, method, path, status, headers, text in agent.failures:
                what = (method, path, status, text[:300])
                assert status == 503, what
                assert headers.get("Retry-After", "").isdigit(), what
                assert headers.get("Content-Type") == \
                    "application/json", what
                assert set(json.loads(text)) == {"title", "description"}
        # It healed by itself: the same processes served it all.
        assert [(s.proc.pid, sorted(s.worker_pids()))
                for s in self.servers] == self.pids
        for server in self.servers:
            assert server.proc.poll() is None
            assert requests.get(server.base_url + "/healthcheck",
                                timeout=60).status_code == 200
        client = faults.Client(self.servers[1].base_url)
        jobs, sessions = faults._check_consistency(client, self.agents)
        assert jobs and sessions
        for server in self.servers:
            log = server.log_tail(10 ** 7)
            assert "Traceback" not in log
            assert "WORKER TIMEOUT" not in log
        return jobs, sessions

    def close(self):
        self.stop.set()
        for agent in self.agents:
            if agent.is_alive():
                agent.join()
        for server in self.servers:
            server.stop()


def _kill_busiest(cluster, alive):
    """SIGKILL the node of ``alive`` (numbers) holding most primaries of
    freezer's indices: (its number, its primaries, when)."""
    for n in alive:
        try:
            shards = requests.get(
                cluster.hosts[n - 1] + "/_cat/shards/freezer-cluster-*"
                "?format=json&h=prirep,state,node", timeout=10).json()
            break
        except (requests.RequestException, ValueError):
            continue
    else:
        pytest.fail("no node answered")
    counts = {}
    for shard in shards:
        if shard["prirep"] == "p" and shard["state"] == "STARTED":
            counts[shard["node"]] = counts.get(shard["node"], 0) + 1
    victim = max(alive, key=lambda n: counts.get("node-%d" % n, 0))
    killed_at = time.monotonic()
    cluster.nodes[victim - 1].kill()
    return victim, counts.get("node-%d" % victim, 0), killed_at


def _report(record_property, fleet, lines):
    """What was measured: printed, and in the run's summary
    (tests/functional/reporting.py)."""
    text = "%d acknowledged writes by %d agents, %d 503s; lost: 0 " \
        "(checked); %s" % (len(fleet.acks), len(fleet.agents),
                           sum(len(a.failures) for a in fleet.agents),
                           "; ".join(lines))
    print("\n" + text)
    record_property("measured", text)


@pytest.mark.slow
@pytest.mark.alone
def test_cluster_loses_a_node_then_its_quorum_and_heals(
        cluster, tmp_path, record_property):
    hosts = cluster.hosts
    fleet = Fleet(tmp_path, "sqlite:///%s" % (tmp_path / "unused.sqlite"),
                  "\n[storage]\ndriver = elasticsearch\n\n[elasticsearch]\n"
                  "hosts = %s\nindex_prefix = freezer-cluster\n"
                  "number_of_replicas = 1\nrefresh_interval = 50ms\n"
                  % ",".join(hosts))
    lines = []
    try:
        fleet.start()
        fleet.wait_writes("before the first SIGKILL")
        # One node of three: the two others keep a quorum.
        first, primaries, killed_at = _kill_busiest(cluster, (1, 2, 3))
        fleet.wait_writes("with two nodes of three")
        assert not fleet.failures_in(killed_at, time.monotonic()), [
            (round(f[0] - killed_at, 1),) + f[1:4] + (f[5][:200],)
            for agent in fleet.agents for f in agent.failures][:10]
        lines.append(
            "node-%d (%d primaries) SIGKILLed: the longest stretch without "
            "an acknowledged write %.1f s, no 503, then %d writes on two "
            "nodes" % (first, primaries,
                       fleet.window(killed_at, time.monotonic()), WRITES))
        # A second one: no quorum, until both come back.
        second, primaries, killed_at = _kill_busiest(
            cluster, [n for n in (1, 2, 3) if n != first])
        time.sleep(QUORUM_LOSS)
        restart_at = time.monotonic()
        cluster.start(first, second)
        back_at = time.monotonic()
        fleet.wait_writes("after the nodes came back")
        failed = sorted(f[0] for agent in fleet.agents
                        for f in agent.failures)
        # 503s only from the loss of the quorum until both nodes are back
        # (some shards' only up-to-date copies are on the second one):
        # never while two nodes of three serve.
        assert failed, "the loss of the quorum went unnoticed"
        assert failed[0] >= killed_at, failed[0] - killed_at
        assert failed[-1] <= back_at + GRACE, failed[-1] - back_at
        lines.append(
            "node-%d (%d primaries) SIGKILLed too (no quorum), restarted "
            "with node-%d %.1f s later (the start took %.1f s): 503s from "
            "%.1f s to %.1f s after that SIGKILL (%d of them), the longest "
            "stretch without an acknowledged write %.1f s" % (
                second, primaries, first, restart_at - killed_at,
                back_at - restart_at, failed[0] - killed_at,
                failed[-1] - killed_at, len(failed),
                fleet.window(killed_at, failed[-1])))
        fleet.halt()
        jobs, sessions = fleet.check()
        lines.append("stored %d jobs, %d sessions" % (jobs, sessions))
        _report(record_property, fleet, lines)
    finally:
        fleet.close()


@pytest.mark.slow
@pytest.mark.alone
def test_postgresql_restart_under_two_servers_heals(
        private_postgres, tmp_path,  # noqa: F811 (the fixture)
        record_property):
    private_postgres.start()  # (a no-op when it runs)
    url, drop = server_module.database("postgresql", tmp_path,
                                       base_url=private_postgres.url())
    fleet = Fleet(tmp_path, url)
    try:
        fleet.start()
        fleet.wait_writes("before the restart")
        stopped_at = time.monotonic()
        private_postgres.stop()
        faults._wait_for(
            lambda: fleet.failures_in(stopped_at, time.monotonic()) >= 20,
            "503s while the database is down")
        restart_at = time.monotonic()
        private_postgres.start()
        back_at = time.monotonic()
        fleet.wait_writes("after the restart")
        fleet.halt()
        jobs, sessions = fleet.check()
        _report(record_property, fleet, [
            "down %.1f s (stop, 20 503s, start took %.1f s); no "
            "acknowledged write for %.1f s; first write %.1f s after the "
            "start began" % (
                back_at - stopped_at, back_at - restart_at,
                fleet.window(stopped_at, max(fleet.acks)),
                min(t for t in fleet.acks if t > restart_at) - restart_at),
            "stored %d jobs, %d sessions" % (jobs, sessions)])
    finally:
        fleet.close()
        faults.drop_after_restart(private_postgres, drop)

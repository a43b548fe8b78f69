"""The real ``freezer-api`` command (gunicorn) on a loopback port, and a
private PostgreSQL server and OpenSearch node, for the end-to-end, fuzzing
and fault tests."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests import conftest
from tools.testenv import base
from tools.testenv import process
from tools.testenv import sql

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
OPENSEARCH_SH = os.path.join(REPO, "tools", "testenv", "opensearch.sh")
OPENSEARCH_CLUSTER_SH = os.path.join(REPO, "tools", "testenv",
                                     "opensearch-cluster.sh")


free_port = base.free_port


def write_conf(directory, url, port, workers=2, extra="",
               auth_strategy="noauth"):
    return process.freezer_conf(directory / "freezer-api.conf", url, port,
                                workers, auth_strategy, extra=extra)


def db_sync(directory, url):
    result = subprocess.run(
        [os.path.join(BIN, "freezer-manage"), "--config-file",
         str(write_conf(directory, url, 0)), "db", "sync"],
        capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("freezer-manage db sync failed:\n%s%s" % (
            result.stdout[-2000:], result.stderr[-3000:]))


def database(backend, directory, base_url=None):
    """A migrated database of ``backend`` for one server: (url, drop).

    SQLite is a file in ``directory`` (the server migrates it); a SQL
    server gets a database of its own on ``base_url`` (default: the
    shared test server named by the suite's environment)."""
    if backend == "sqlite":
        return "sqlite:///%s" % (directory / "freezer.sqlite"), \
            (lambda: None)
    base_url = base_url or os.environ.get(conftest.SQL_BACKENDS[backend])
    if not base_url:
        if os.environ.get("FREEZER_TEST_REQUIRE_ALL") == "1":
            pytest.fail("no %s server" % backend)
        pytest.skip("no %s server configured" % backend)
    url, drop = conftest._sql_database(base_url)
    db_sync(directory, url)
    return url, drop


class Server(process.ServerProcess):
    """``freezer-api --config-file ...`` on ``url``'s store (the harness
    of tools/testenv/process.py), failing the test when it does not
    start."""

    def __init__(self, directory, url, workers=2, extra_conf="",
                 auth_strategy="noauth", port=None, env=None):
        super().__init__("freezer-api", [], directory, env=env, port=port)
        self.url, self.workers, self.extra_conf = url, workers, extra_conf
        self.auth_strategy = auth_strategy

    @property
    def log_path(self):
        return self.directory / "server.log"

    def start(self, timeout=30, ready_path="/healthcheck"):
        """Start on ``port`` (default: a free one); return once
        ``ready_path`` answers 2xx."""
        conf = write_conf(self.directory, self.url, self.port,
                          self.workers, self.extra_conf, self.auth_strategy)
        self.argv = [os.path.join(BIN, "freezer-api"), "--config-file",
                     str(conf)]
        try:
            return super().start(timeout, ready_path)
        except base.ServiceError as exc:
            pytest.fail("freezer-api did not start: %s" % exc)


class PrivateService:
    """A server of one's own, started and stopped with a
    tools/testenv/ script; ``FREEZER_TESTENV_DIR`` and a port of its own
    keep it apart from the one the suite shares."""

    script = None       # the script's path
    port_variable = None
    timeout = 600       # seconds a start may take (a cold build included)

    def __init__(self, base_dir, port=None):
        self.base_dir, self.port = str(base_dir), port or free_port()
        self.url = None

    def _env(self):
        return dict(os.environ, FREEZER_TESTENV_DIR=self.base_dir,
                    **{self.port_variable: str(self.port)})

    def _run(self, command, *args):
        result = subprocess.run([self.script, command, *args],
                                env=self._env(), capture_output=True,
                                text=True, timeout=self.timeout)
        if result.returncode != 0:
            pytest.fail("%s %s failed:\n%s" % (
                os.path.basename(self.script), " ".join((command,) + args),
                result.stderr[-3000:]))
        return result.stdout.strip().splitlines()

    def start(self):
        """Start (a no-op when it runs) and wait until it serves; its
        URL."""
        self.url = self._run("start")[-1]
        return self.url

    def stop(self):
        """Stop it and wait until it has (fine when it does not run)."""
        self._run("stop")


def private_postgres(base_dir):
    """A PostgreSQL server of one's own (tools/testenv/sql.py) in
    ``base_dir``, on a port of its own chosen once: ``start`` after
    ``stop`` serves the same data on the same port."""
    return sql.Postgres(base=str(base_dir), port=free_port())


class PrivateOpenSearch(PrivateService):
    """An OpenSearch node of one's own (tools/testenv/opensearch.sh; the
    node lives in ``<base_dir>/opensearch``). Its transport port is any
    free one (the launcher's default, 0), so two nodes never collide there
    either. ``start`` after ``stop`` or ``kill`` reuses the same data and
    port."""

    script = OPENSEARCH_SH
    port_variable = "OPENSEARCH_PORT"
    timeout = 1200

    def _env(self):
        env = super()._env()
        # The launcher reads this one itself: a fixed transport port could
        # be another node's.
        env.pop("OPENSEARCH_TRANSPORT_PORT", None)
        return env

    @property
    def home(self):
        return os.path.join(self.base_dir, "opensearch")

    def pid(self):
        """The pid of this node's JVM, or None."""
        try:
            with open(os.path.join(self.home, "opensearch.pid")) as f:
                pid = int(f.read().strip() or 0)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")
        except (OSError, ValueError):
            return None
        if ("--home=%s" % self.home).encode() not in cmdline:
            return None  # exited (a recycled pid is someone else's)
        return pid

    def kill(self, timeout=60):
        """SIGKILL the node and wait (bounded) until it is gone."""
        pid = self.pid()
        if pid is None:
            pytest.fail("no running node to kill in " + self.home)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.pid() == pid:
            if time.monotonic() > deadline:
                pytest.fail("pid %d survived SIGKILL" % pid)
            time.sleep(0.05)

    def wipe(self):
        """Stop the node and delete its data (a clean slate)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateOpenSearchCluster(PrivateService):
    """Three OpenSearch nodes of one's own forming one cluster
    (tools/testenv/opensearch-cluster.sh; node N lives in
    ``<base_dir>/opensearch-cluster/node-N/opensearch``), on free HTTP and
    transport ports chosen once: a node started again after ``stop`` or
    ``kill`` rejoins the others with its data. ``nodes[N - 1]`` is node N
    as a PrivateOpenSearch (its pid, its SIGKILL)."""

    script = OPENSEARCH_CLUSTER_SH
    timeout = 1200

    def __init__(self, base_dir):
        super().__init__(base_dir)
        self.http_ports = [free_port() for _ in range(3)]
        self.transport_ports = [free_port() for _ in range(3)]
        root = os.path.join(self.base_dir, "opensearch-cluster")
        self.nodes = [PrivateOpenSearch(os.path.join(root, "node-%d" % n),
                                        port=port)
                      for n, port in enumerate(self.http_ports, 1)]

    def _env(self):
        env = dict(os.environ, FREEZER_TESTENV_DIR=self.base_dir,
                   OPENSEARCH_CLUSTER_HTTP_PORTS=" ".join(
                       map(str, self.http_ports)),
                   OPENSEARCH_CLUSTER_TRANSPORT_PORTS=" ".join(
                       map(str, self.transport_ports)))
        for name in ("OPENSEARCH_PORT", "OPENSEARCH_TRANSPORT_PORT",
                     "OPENSEARCH_NODE_ARGS"):
            env.pop(name, None)  # the script sets them per node
        return env

    @property
    def hosts(self):
        return ["http://127.0.0.1:%d" % port for port in self.http_ports]

    def start(self, *numbers):
        """Start nodes ``numbers`` (1-3; default all) at once and wait
        until each serves and the cluster is at least yellow."""
        self.url = self._run("start", *map(str, numbers))[-1]
        return self.hosts

    def stop(self, *numbers):
        """Stop nodes ``numbers`` (default all) and wait until they
        have."""
        self._run("stop", *map(str, numbers))

    def wipe(self):
        """Stop every node and delete all their data."""
        self.stop()
        shutil.rmtree(os.path.join(self.base_dir, "opensearch-cluster"),
                      ignore_errors=True)

"""The real ``freezer-api`` command (gunicorn) on a loopback port (the
harness of tools/testenv/process.py), and a private PostgreSQL server,
OpenSearch node or cluster (tools/testenv/), for the end-to-end, fuzzing
and fault tests."""

import os
import subprocess
import sys

import pytest

from tests import conftest
from tools.testenv import base
from tools.testenv import process
from tools.testenv import search
from tools.testenv import sql

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


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


def private_postgres(base_dir):
    """A PostgreSQL server of one's own (tools/testenv/sql.py) in
    ``base_dir``, on a port of its own chosen once: ``start`` after
    ``stop`` serves the same data on the same port."""
    return sql.Postgres(base=str(base_dir), port=free_port())


def private_opensearch(base_dir):
    """An OpenSearch node of one's own (tools/testenv/search.py; the node
    lives in ``<base_dir>/opensearch``) on an HTTP port chosen once and any
    free transport port, so two nodes never collide: ``start`` after
    ``stop`` or ``kill`` reuses the same data and port."""
    return search.OpenSearch(base=str(base_dir), port=free_port(),
                             transport_port=0)


def private_opensearch_cluster(base_dir):
    """Three OpenSearch nodes of one's own forming one cluster
    (tools/testenv/search.py), on free HTTP and transport ports chosen once:
    a node started again after ``stop`` or ``kill`` rejoins the others
    with its data. ``nodes[N - 1]`` is node N (its pid, its SIGKILL)."""
    return search.OpenSearchCluster(
        base=str(base_dir), http_ports=[free_port() for _ in range(3)],
        transport_ports=[free_port() for _ in range(3)])

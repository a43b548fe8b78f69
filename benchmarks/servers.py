"""The servers a benchmark run measures, and the backends behind them.

Every server runs in its own process group on a free loopback port; its
CPU is the gunicorn master and workers (``procstat``), and, for a backend
in processes of its own (PostgreSQL, OpenSearch), that backend's process
tree too.
"""

import os
import shutil
import sys
import time

import sqlalchemy as sa

from freezer_api import config
from tools.testenv import base
from tools.testenv import process
from tools.testenv import search
from tools.testenv import sql

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
WORK = os.path.join(REPO, ".data", "bench")
TESTENV = os.path.join(WORK, "testenv")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "55490"))
OPENSEARCH_PORT = int(os.environ.get("BENCH_OPENSEARCH_PORT", "9290"))
INDEX_PREFIX = "freezer-bench"


def make_conf(**overrides):
    conf = config.parse(config_files=[])
    for key, value in overrides.items():
        group, _, name = key.rpartition(".")
        conf.set_override(name, value, group or None)
    return conf


class Server(process.ServerProcess):
    """A gunicorn-based server (the harness of tools/testenv/process.py),
    ready once ``ready_path`` answers below 500 and a worker lives."""

    def start(self, ready_path="/healthcheck", timeout=60):
        try:
            return super().start(timeout, ready_path, ready_2xx=False,
                                 workers=1)
        except base.ServiceError as exc:
            raise RuntimeError("%s did not start: %s" % (self.name, exc))

    def workers(self):
        return self.worker_pids()


# gunicorn's worker classes a benchmark compares: its own sync workers (the
# server before freezer_api.worker), and freezer_api.worker (what the
# freezer-api command runs: 4 threads per worker).
WORKER_CLASSES = {"sync": ["--worker-class", "sync"],
                  "worker": ["--worker-class", "freezer_api.worker.Worker",
                             "--threads", "4", "--keep-alive", "30"]}


def gunicorn_command(app, workers=2, venv_bin=BIN, worker_class=None):
    """gunicorn with an access log on stdout (``worker_class``: a key of
    WORKER_CLASSES; None: gunicorn's default, sync)."""
    return [os.path.join(venv_bin, "gunicorn"), "--workers", str(workers),
            "--bind", "127.0.0.1:{port}", "--access-logfile", "-",
            "--timeout", "60", *WORKER_CLASSES.get(worker_class, []), app]


def ceiling_server(worker_class=None):
    name = "ceiling" + ("/" + worker_class if worker_class else "")
    return Server(name, gunicorn_command("benchmarks.ceiling:app",
                                         worker_class=worker_class),
                  os.path.join(WORK, name.replace("/", "-")))


def backend_ceiling_server(backend, worker_class=None):
    """The backend-inclusive ceiling (benchmarks/backend_ceiling.py) on
    ``backend`` (a Backend with a ``ceiling_env``), or None for a backend
    without one (SQLite: its queries run in the server's own process)."""
    env = backend.ceiling_env()
    if env is None:
        return None
    name = "ceiling+" + backend.name + ("/" + worker_class
                                        if worker_class else "")
    return Server(name, gunicorn_command("benchmarks.backend_ceiling:app",
                                         worker_class=worker_class),
                  os.path.join(WORK, name.replace("/", "-")), env=env)


def service_server(backend, options, workers=2, worker_class=None):
    """``freezer-api --config-file`` on ``backend`` (options: the config
    file's sections); with ``worker_class``, gunicorn of that class
    serving freezer_api.wsgi:application with the same file instead."""
    directory = os.path.join(WORK, "service-" + backend + (
        "-" + worker_class if worker_class else ""))
    os.makedirs(directory, exist_ok=True)
    server = Server("freezer-api/" + backend, [], directory)
    path = process.freezer_conf(os.path.join(directory, "freezer-api.conf"),
                                None, server.port, workers,
                                sections=options)
    server.argv = [os.path.join(BIN, "freezer-api"), "--config-file", path]
    if worker_class:
        server.name += "/" + worker_class
        server.argv = gunicorn_command("freezer_api.wsgi:application",
                                       workers, worker_class=worker_class)
        server.env = {"FREEZER_API_CONFIG": path}
    return server


# -- backends ---------------------------------------------------------------

class Backend:
    """Where the service's documents live, and the driver that seeds
    them. A backend on a private server of tools/testenv/ (``service``)
    stops it again in close() if it started it."""

    name = "base"
    db_pid = None       # root of the backend's own processes, if any
    service = None      # its tools/testenv Service, if it has one
    started = False

    def _start(self):
        """Start the private server (a no-op when it runs); its URL."""
        self.started = not self.service.status()
        return self.service.start()

    def driver(self):
        raise NotImplementedError

    def options(self):
        raise NotImplementedError

    def settle(self, driver):
        """Wait for the backend's own work after seeding to end."""

    def ceiling_env(self):
        """The environment of benchmarks/backend_ceiling.py on this
        backend; None: no backend-inclusive ceiling."""
        return None

    def close(self):
        if self.started:
            self.service.stop()


class SQLBackend(Backend):
    """A backend of the SQL driver at ``self.url``."""

    url = None

    def options(self):
        return {"database": {"connection": self.url}}

    def driver(self):
        from freezer_api.storage.sqlalchemy import driver
        store = driver.SQLAlchemyDriver(make_conf(**{
            "database.connection": self.url}))
        store.upgrade()
        return store


class SQLite(SQLBackend):
    name = "sqlite"

    def __init__(self):
        self.directory = os.path.join(WORK, "sqlite")
        shutil.rmtree(self.directory, ignore_errors=True)
        os.makedirs(self.directory)
        self.url = "sqlite:///%s/freezer.sqlite" % self.directory


class PostgreSQL(SQLBackend):
    """A database of its own on BENCH_PG_URL's server, or on a private
    server (tools/testenv/sql.py, port BENCH_PG_PORT)."""

    name = "postgresql"

    def __init__(self):
        self.service = sql.Postgres(base=TESTENV, port=PG_PORT)
        base = os.environ.get("BENCH_PG_URL") or self._start()
        url = sa.engine.make_url(base)
        self.admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS freezer_bench"))
            conn.execute(sa.text("CREATE DATABASE freezer_bench"))
            backend = conn.execute(sa.text("SELECT pg_backend_pid()"))
            self.db_pid = _parent(backend.scalar_one())
        self.url = url.set(database="freezer_bench").render_as_string(
            hide_password=False)

    def ceiling_env(self):
        return {"BENCH_CEILING_STORE": "postgresql",
                "BENCH_CEILING_URL": self.url}

    def settle(self, driver):
        """Fresh planner statistics for the seeded table (autovacuum would
        gather them later, in the middle of a measure)."""
        with driver.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE freezer_documents"))
            conn.commit()

    def close(self):
        self.admin.dispose()
        super().close()


class OpenSearch(Backend):
    """Indices of their own on BENCH_OPENSEARCH_URL, or on a private node
    (tools/testenv/search.py, port BENCH_OPENSEARCH_PORT)."""

    name = "opensearch"
    # The node as in production: the JIT's optimizing compiler on (the
    # test environment turns it off, to start faster), a heap of 1 GB.
    HEAP = os.environ.get("BENCH_OPENSEARCH_HEAP", "1g")
    JAVA_OPTS = os.environ.get("BENCH_OPENSEARCH_JAVA_OPTS",
                               "-XX:TieredStopAtLevel=4")

    def __init__(self):
        url = os.environ.get("BENCH_OPENSEARCH_URL")
        if not url:
            self.service = search.OpenSearch(
                base=TESTENV, port=OPENSEARCH_PORT, heap=self.HEAP,
                java_opts=self.JAVA_OPTS)
            url = self._start()
            self.db_pid = self.service.pid()
        self.url = url
        store = self._driver()
        store.drop_indices()
        store.close()

    def _driver(self):
        from freezer_api.storage.elasticsearch import driver
        # (Seeding sends large bulk requests to a node that shares two
        # cores with everything else: give them time.)
        return driver.ElasticsearchDriver(make_conf(**{
            "storage.driver": "elasticsearch",
            "elasticsearch.hosts": [self.url],
            "elasticsearch.index_prefix": INDEX_PREFIX,
            "elasticsearch.timeout": 300}))

    def ceiling_env(self):
        return {"BENCH_CEILING_STORE": "opensearch",
                "BENCH_CEILING_URL": self.url,
                "BENCH_CEILING_INDEX_PREFIX": INDEX_PREFIX}

    def options(self):
        return {"storage": {"driver": "elasticsearch"},
                "elasticsearch": {"hosts": self.url,
                                  "index_prefix": INDEX_PREFIX}}

    def driver(self):
        store = self._driver()
        store.upgrade()
        return store

    def settle(self, driver, timeout=120):
        """Bulk loading leaves segment merges running in the node for a
        while after the last write: their CPU is not the reads'. Wait until
        none runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = driver.client.indices.stats(
                index=INDEX_PREFIX + "-*", metric="merge")
            if stats["_all"]["total"]["merges"]["current"] == 0:
                return
            time.sleep(0.5)


def _parent(pid):
    with open("/proc/%d/stat" % pid) as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


BACKENDS = {"sqlite": SQLite, "postgresql": PostgreSQL,
            "opensearch": OpenSearch}

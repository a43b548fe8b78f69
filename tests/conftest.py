"""Fixtures shared by every suite.

Backends: ``sqlite`` always; ``postgresql`` and ``mysql`` when
``FREEZER_TEST_PG_URL`` / ``FREEZER_TEST_MYSQL_URL`` name a server, and the
search-engine driver as ``opensearch`` when ``FREEZER_TEST_OPENSEARCH_URL``
names an OpenSearch node and as ``elasticsearch`` when
``FREEZER_TEST_ELASTICSEARCH_URL`` names an Elasticsearch node (``make test``
starts them all and sets the variables). With ``FREEZER_TEST_REQUIRE_ALL=1`` a
missing backend is an error, never a skip.

Services: the tests against a real Keystone need ``KEYSTONE_URL`` and the
other variables of ``python -m tools.testenv env keystone``; with
``FREEZER_TEST_REQUIRE_ALL=1`` a missing ``KEYSTONE_URL`` is an error too.
"""

import os
import uuid

import pytest
import sqlalchemy as sa

from freezer_api import config
from freezer_api.storage.sqlalchemy import driver as sql_driver

SQL_BACKENDS = {"postgresql": "FREEZER_TEST_PG_URL",
                "mysql": "FREEZER_TEST_MYSQL_URL"}
# Backends of drivers other than SQL: name -> variable with its URL. All
# of them are search engines, served by the one search-engine driver.
EXTRA_BACKENDS = {"opensearch": "FREEZER_TEST_OPENSEARCH_URL",
                  "elasticsearch": "FREEZER_TEST_ELASTICSEARCH_URL"}
# Servers other than storage the suite needs: name -> variable with its URL.
SERVICES = {"keystone": "KEYSTONE_URL"}


def _backends():
    names = ["sqlite"]
    required = os.environ.get("FREEZER_TEST_REQUIRE_ALL") == "1"
    for name, var in {**SQL_BACKENDS, **EXTRA_BACKENDS}.items():
        if os.environ.get(var):
            names.append(name)
        elif required:
            raise pytest.UsageError(
                "FREEZER_TEST_REQUIRE_ALL=1 but %s is not set: the %s "
                "backend would not be tested" % (var, name))
    return names


BACKENDS = _backends()


def _require_services():
    if os.environ.get("FREEZER_TEST_REQUIRE_ALL") != "1":
        return
    for name, var in SERVICES.items():
        if not os.environ.get(var):
            raise pytest.UsageError(
                "FREEZER_TEST_REQUIRE_ALL=1 but %s is not set: the tests "
                "against a real %s would not run" % (var, name))


_require_services()


def make_conf(**overrides):
    conf = config.parse(config_files=[])
    conf.set_override("auth_strategy", "noauth")
    for key, value in overrides.items():
        group, _, name = key.rpartition(".")
        conf.set_override(name, value, group or None)
    return conf


class FakeClock:
    """Injected time: tests move it explicitly."""

    def __init__(self, now=1_700_000_000):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def _worker():
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _sql_database(base_url):
    """Create a database of its own for this test process; return its URL
    and a function dropping it."""
    url = sa.engine.make_url(base_url)
    name = "freezer_t_%s_%s" % (_worker(), uuid.uuid4().hex[:8])
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE %s" % name))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS %s" % name))
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), drop


def _search_engine_driver(url):
    """A driver on indices of this test process's own (a unique index
    prefix), and a function deleting them."""
    from freezer_api.storage.elasticsearch import driver as es_driver
    prefix = "freezer-t-%s-%s" % (_worker().lower(), uuid.uuid4().hex[:8])
    driver = es_driver.ElasticsearchDriver(make_conf(**{
        "elasticsearch.hosts": [url],
        "elasticsearch.index_prefix": prefix,
        # Every write waits for the next refresh: keep that wait short.
        "elasticsearch.refresh_interval": "50ms"}))
    driver.upgrade()

    def teardown():
        driver.drop_indices()
        driver.close()
    return driver, teardown


def build_driver(backend, tmp_path_factory):
    """A migrated, empty driver for ``backend``, and its teardown."""
    if backend in EXTRA_BACKENDS:
        return _search_engine_driver(os.environ[EXTRA_BACKENDS[backend]])
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "freezer.sqlite"
        url, drop = "sqlite:///%s" % path, (lambda: None)
    else:
        url, drop = _sql_database(os.environ[SQL_BACKENDS[backend]])
    driver = sql_driver.SQLAlchemyDriver(make_conf(
        **{"database.connection": url}))
    driver.upgrade()

    def teardown():
        driver.close()
        drop()
    return driver, teardown


@pytest.fixture(scope="session", params=BACKENDS)
def backend_driver(request, tmp_path_factory):
    driver, teardown = build_driver(request.param, tmp_path_factory)
    yield driver
    teardown()


@pytest.fixture
def driver(backend_driver):
    """An empty storage driver of every backend under test."""
    backend_driver.wipe()
    return backend_driver


@pytest.fixture
def clock():
    return FakeClock()


# At the end of a run: cases generated per operation by the fuzzing test.
pytest_plugins = ["tests.functional.reporting"]

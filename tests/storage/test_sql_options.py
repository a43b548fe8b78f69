"""Every [database] option the SQL driver offers is read: each one is set
and its effect seen on a real connection of its backend (SQLite always;
PostgreSQL and MariaDB as the suite's servers)."""

import os

import pytest
import sqlalchemy as sa

from freezer_api.conf import database as database_conf
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests import conftest

SERVERS = [name for name in conftest.BACKENDS
           if name in conftest.SQL_BACKENDS]


def _driver(url, **options):
    return sql_driver.SQLAlchemyDriver(conftest.make_conf(
        **{"database.connection": url},
        **{"database." + name: value for name, value in options.items()}))


def _scalar(driver, sql):
    with driver.engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def test_every_option_offered_is_one_the_driver_reads():
    """The list is the driver's own: nothing advertised and ignored."""
    offered = {opt.name for opt in database_conf.OPTS}
    source = open(sql_driver.__file__).read()
    for name in offered - {"connection"}:
        assert "db.%s" % name in source, name


@pytest.mark.parametrize("synchronous, pragma", [(True, 1), (False, 0)])
def test_sqlite_synchronous(tmp_path, synchronous, pragma):
    driver = _driver("sqlite:///%s" % (tmp_path / "f.sqlite"),
                     sqlite_synchronous=synchronous)
    try:
        assert _scalar(driver, "PRAGMA synchronous") == pragma  # NORMAL/OFF
        assert _scalar(driver, "PRAGMA journal_mode") == "wal"
    finally:
        driver.close()


@pytest.mark.parametrize("mmap_size", [0, 4096 * 1000])
def test_sqlite_mmap_size(tmp_path, mmap_size):
    driver = _driver("sqlite:///%s" % (tmp_path / "f.sqlite"),
                     sqlite_mmap_size=mmap_size)
    try:
        assert _scalar(driver, "PRAGMA mmap_size") == mmap_size
    finally:
        driver.close()


@pytest.mark.parametrize("debug, echo", [(0, False), (50, True),
                                         (100, "debug")])
def test_connection_debug(tmp_path, debug, echo):
    driver = _driver("sqlite:///%s" % (tmp_path / "f.sqlite"),
                     connection_debug=debug)
    try:
        assert driver.engine.echo == echo
    finally:
        driver.close()


@pytest.fixture
def server_url(request):
    url, drop = conftest._sql_database(
        os.environ[conftest.SQL_BACKENDS[request.param]])
    yield request.param, url
    drop()


@pytest.mark.parametrize("server_url", SERVERS, indirect=True)
def test_pool_options_and_connection_parameters(server_url):
    backend, url = server_url
    parameters = ("application_name=freezer-options-test"
                  if backend == "postgresql" else "connect_timeout=7")
    driver = _driver(url, max_pool_size=3, max_overflow=2, pool_timeout=4,
                     connection_recycle_time=99,
                     connection_parameters=parameters)
    try:
        pool = driver.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout,
                pool._recycle) == (3, 2, 4, 99)
        if backend == "postgresql":
            assert _scalar(driver, "SELECT current_setting("
                           "'application_name')") == "freezer-options-test"
        else:
            assert driver.engine.url.query["connect_timeout"] == "7"
            assert _scalar(driver, "SELECT 1") == 1
    finally:
        driver.close()


@pytest.mark.parametrize("server_url", [
    name for name in SERVERS if name == "mysql"], indirect=True)
def test_mysql_sql_mode(server_url):
    _backend, url = server_url
    for mode, expected in (("TRADITIONAL", "TRADITIONAL"),
                           ("ANSI_QUOTES", "ANSI_QUOTES")):
        driver = _driver(url, mysql_sql_mode=mode)
        try:
            assert expected in _scalar(driver, "SELECT @@SESSION.sql_mode")
        finally:
            driver.close()

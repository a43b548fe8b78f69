"""The SQL driver's connections against real database servers: reads and
writes survive the server dropping the driver's connections (a restart, a
failover, an idle timeout) without an error."""

import time

import pytest
import sqlalchemy as sa

from freezer_api.domain import kinds
from freezer_api.domain.search import Query
from freezer_api.storage.base import Insert, Scope, Update
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests import conftest

SERVERS = [name for name in conftest.BACKENDS
           if name in conftest.SQL_BACKENDS]
SCOPE = Scope(project_id="pa")


@pytest.fixture(params=SERVERS)
def server_driver(request, tmp_path_factory):
    driver, teardown = conftest.build_driver(request.param,
                                             tmp_path_factory)
    yield driver
    teardown()


def _drop_every_connection(driver):
    """What a server restart does to the driver's open connections."""
    admin = sa.create_engine(driver.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if driver.dialect == "postgresql":
                killed = conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()")).all()
            else:
                ids = conn.execute(sa.text(
                    "SELECT id FROM information_schema.processlist"
                    " WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                    )).scalars().all()
                for number in ids:
                    conn.execute(sa.text("KILL %d" % number))
                killed = ids
    finally:
        admin.dispose()
    return len(killed)


def _job(job_id):
    return {"job_id": job_id, "user_id": "u", "project_id": "pa",
            "client_id": "c1", "job_schedule": {}}


def test_connections_the_server_dropped_are_replaced(server_driver):
    driver = server_driver
    driver.apply([Insert(kinds.JOBS, _job("j1")), Insert(kinds.JOBS,
                                                         _job("j2"))])
    assert driver.get(kinds.JOBS, SCOPE, "j1").doc["job_id"] == "j1"
    assert _drop_every_connection(driver) >= 1
    # The next read finds its connection dead and reads on a new one.
    assert driver.get(kinds.JOBS, SCOPE, "j1").doc["job_id"] == "j1"
    assert [d["job_id"] for d in driver.page(
        kinds.JOBS, SCOPE, Query()).docs] == ["j1", "j2"]
    record = driver.get(kinds.JOBS, SCOPE, "j1")
    # A write does not retry (whether it committed cannot be known): the
    # connection it would use, idle for a while, is checked first.
    _drop_every_connection(driver)
    time.sleep(sql_driver.PING_AFTER + 0.2)
    driver.apply([Update(record, dict(record.doc, description="x"))])
    assert driver.get(kinds.JOBS, SCOPE, "j1").doc["description"] == "x"
    # A write of several statements, in a transaction on a pooled
    # connection: the pool checks an idle one the same way.
    one, two = (driver.get(kinds.JOBS, SCOPE, name) for name in ("j1", "j2"))
    _drop_every_connection(driver)
    time.sleep(sql_driver.PING_AFTER + 0.2)
    driver.apply([Update(one, dict(one.doc, description="y")),
                  Update(two, dict(two.doc, description="y"))])
    assert [driver.get(kinds.JOBS, SCOPE, name).doc["description"]
            for name in ("j1", "j2")] == ["y", "y"]

"""The test database servers of tools/testenv/sql.py, for real: a private
PostgreSQL and a private MariaDB started from pytest's tmp_path (or a
directory of their own under .data) on free ports, never the servers the
suite shares.

Started, started again (reused: same URL, same pid), asked for their
status, started from two processes at once (one server, initialised
once), restarted on another port, repaired (the user's password and the
database put back), stopped, stopped again; their URL logs in with the
rights the tests rely on, their test settings are in effect, a port
already taken fails with the log's words, and they live where the
reachability and socket-length rules say.
"""

import os
import shutil
import socket
import subprocess
import sys
import uuid

import pytest
import sqlalchemy

from tools.testenv import base
from tools.testenv import sql

REPO = base.REPO

# What each server must say about its settings (SQL, expected value).
SETTINGS = {
    "postgres": [
        ("SHOW fsync", "off"),
        ("SHOW synchronous_commit", "off"),
        ("SHOW full_page_writes", "off"),
        ("SHOW max_connections", "200"),
        ("SHOW listen_addresses", "127.0.0.1"),
        ("SELECT pg_encoding_to_char(encoding) FROM pg_database"
         " WHERE datname = current_database()", "UTF8"),
        ("SELECT rolcreatedb::text FROM pg_roles"
         " WHERE rolname = current_user", "true"),
        ("SELECT pg_get_userbyid(datdba) FROM pg_database"
         " WHERE datname = current_database()", "freezer"),
    ],
    "mariadb": [
        ("SELECT @@innodb_flush_log_at_trx_commit", "2"),
        ("SELECT @@log_bin", "0"),
        ("SELECT @@max_connections", "200"),
        ("SELECT @@innodb_buffer_pool_size", str(256 * 1024 * 1024)),
        ("SELECT @@bind_address", "127.0.0.1"),
        ("SELECT @@character_set_server", "utf8mb4"),
        ("SELECT @@collation_server", "utf8mb4_unicode_ci"),
        ("SELECT @@character_set_database", "utf8mb4"),
        ("SELECT @@collation_database", "utf8mb4_unicode_ci"),
    ],
}
EXPECTED_URL = {
    "postgres": "postgresql+psycopg://freezer:freezer@127.0.0.1:%d/"
                "freezer_test",
    "mariadb": "mysql+pymysql://freezer:freezer@127.0.0.1:%d/freezer_test"
               "?charset=utf8mb4",
}


@pytest.fixture(params=[sql.Postgres, sql.MariaDB],
                ids=["postgres", "mariadb"])
def server_class(request):
    return request.param


@pytest.fixture
def servers():
    """make(cls, base_dir[, port]): a server object; every server made is
    stopped at the end, and its short /tmp directory removed."""
    made = []

    def make(cls, base_dir, port=None):
        server = cls(base=str(base_dir), port=port or base.free_port())
        made.append(server)
        return server
    yield make
    for server in made:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.short_root, ignore_errors=True)


@pytest.fixture
def repo_dir():
    """A fresh directory under <repo>/.data, which the servers' system
    users can reach (pytest's tmp_path is under a 0700 directory)."""
    path = os.path.join(REPO, ".data", "test-testenv-sql",
                        uuid.uuid4().hex[:8])
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _scalar(url, query):
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(query)).scalar_one()
    finally:
        engine.dispose()


def _execute(url, *statements):
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool,
                                      isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sqlalchemy.text(statement))
    finally:
        engine.dispose()


def _other_database(url, database):
    return sqlalchemy.engine.make_url(url).set(
        database=database).render_as_string(hide_password=False)


def _reachable_by(user, path):
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", path],
                          cwd="/").returncode == 0


# -- settings (nothing started) -----------------------------------------------
def test_settings_from_the_environment(monkeypatch, server_class):
    name = server_class.name
    port_variable = {"postgres": "FREEZER_TEST_PG_PORT",
                     "mariadb": "FREEZER_TEST_MYSQL_PORT"}[name]
    url_variable = {"postgres": "FREEZER_TEST_PG_URL",
                    "mariadb": "FREEZER_TEST_MYSQL_URL"}[name]
    default_port = {"postgres": 55432, "mariadb": 53306}[name]
    for variable in (port_variable, "FREEZER_TESTENV_TIMEOUT",
                     "FREEZER_TESTENV_DIR"):
        monkeypatch.delenv(variable, raising=False)
    server = server_class()
    assert server.port == default_port
    assert server.timeout == 60
    assert server.base == os.path.join(REPO, ".data", "testenv")
    assert server.url() == EXPECTED_URL[name] % default_port
    assert server.url_variable == url_variable

    monkeypatch.setenv(port_variable, "12345")
    monkeypatch.setenv("FREEZER_TESTENV_TIMEOUT", "7")
    server = server_class()
    assert (server.port, server.timeout) == (12345, 7)
    assert server.environment() == {url_variable: EXPECTED_URL[name] % 12345}
    assert server_class(port=4242).url() == EXPECTED_URL[name] % 4242

    monkeypatch.setenv(port_variable, "fifty")
    with pytest.raises(base.ServiceError, match=port_variable):
        server_class()


def test_where_it_lives(server_class, tmp_path, repo_dir):
    """Under the base dir when the server's user can reach it, else in
    the short /tmp directory; the socket there too when its path would be
    too long."""
    name = server_class.name
    in_tmp = server_class(base=str(tmp_path), port=1234)
    short_root = in_tmp.short_root
    assert short_root.startswith("/tmp/freezer-testenv-%d-" % os.geteuid())
    assert len(os.path.basename(short_root)) == len(
        "freezer-testenv-%d-" % os.geteuid()) + 12
    if os.geteuid() == 0 and not _reachable_by(server_class.os_user,
                                               str(tmp_path)):
        assert in_tmp.home == os.path.join(short_root, name)
    else:
        assert in_tmp.home == os.path.join(str(tmp_path), name)
    assert in_tmp.run_dir == os.path.join(in_tmp.home, "run")
    # The same base, the same choice, from any object.
    assert server_class(base=str(tmp_path) + "/", port=1).home == in_tmp.home

    reachable = server_class(base=repo_dir, port=1234)
    assert reachable.home == os.path.join(repo_dir, name)
    assert reachable.run_dir == os.path.join(repo_dir, name, "run")
    assert reachable.short_root != short_root

    long_base = os.path.join(repo_dir, "x" * (110 - len(repo_dir)))
    long = server_class(base=long_base, port=1234)
    assert long.home == os.path.join(long_base, name)
    assert long.run_dir == os.path.join(long.short_root, long.short_run_dir)
    assert len(long.socket) <= sql.SOCKET_PATH_MAX


# -- real servers -------------------------------------------------------------
@pytest.mark.slow
def test_start_reuse_status_stop(server_class, tmp_path, servers,
                                 monkeypatch):
    name = server_class.name
    # The caller's client settings must not reach the server's tools.
    monkeypatch.setenv("PGOPTIONS", "-c no_such_setting_at_all=1")
    for variable in ("PGHOST", "MYSQL_UNIX_PORT"):
        monkeypatch.setenv(variable, "/nonexistent")
    server = servers(server_class, tmp_path)
    assert not server.running() and not server.status()
    server.stop()       # never started: fine

    url = server.start()
    monkeypatch.undo()  # (the URL's own clients must not get them either)
    assert url == EXPECTED_URL[name] % server.port
    assert server.status() and server.running_port() == server.port
    pid = server.pid()
    assert pid and base.alive(pid)
    assert server.environment() == {server.url_variable: url}
    assert server.logs()
    for query, expected in SETTINGS[name]:
        assert str(_scalar(url, query)) == expected, query
    assert _scalar(url, "SELECT current_user" if name == "postgres"
                   else "SELECT current_user()").startswith("freezer")
    # The user may create and drop databases of its own.
    _execute(url, "CREATE DATABASE freezer_probe",
             "DROP DATABASE freezer_probe")
    _execute(url, "CREATE TABLE kept (x INTEGER)",
             "INSERT INTO kept VALUES (42)")

    again = server_class(base=str(tmp_path), port=server.port)
    assert again.start() == url
    assert again.pid() == pid

    server.stop()
    assert not server.running() and not server.status()
    assert not base.alive(pid)
    assert not base.port_in_use(server.port)
    assert not os.path.exists(os.path.join(server.run_dir,
                                           server.socket_name))
    server.stop()       # stopped already: fine

    assert server.start() == url
    assert server.pid() != pid
    assert _scalar(url, "SELECT x FROM kept") == 42


@pytest.mark.slow
def test_concurrent_start(server_class, tmp_path, servers):
    """Two processes start a new server at once: both get the URL, one
    initialises and starts it, the other finds it running."""
    server = servers(server_class, tmp_path)
    code = ("import sys; from tools.testenv import sql; print(sql.%s("
            "base=sys.argv[1], port=int(sys.argv[2])).start())"
            % server_class.__name__)
    processes = [subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path), str(server.port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err
        assert out.strip().splitlines()[-1] == server.url()
    said = "".join(err for _, err in results)
    assert said.count("initialising a new data directory") == 1, said
    assert said.count(": starting ") == 1, said
    assert said.count("already running") == 1, said
    assert server.status()
    assert _scalar(server.url(), "SELECT 1") == 1


@pytest.mark.slow
def test_restart_on_another_port(server_class, tmp_path, servers):
    first = servers(server_class, tmp_path)
    first.start()
    pid = first.pid()
    second = servers(server_class, tmp_path)
    assert second.port != first.port
    url = second.start()
    assert second.running_port() == second.port
    assert second.pid() != pid and not base.alive(pid)
    assert not base.port_in_use(first.port)
    assert _scalar(url, "SELECT 1") == 1
    # stop stops the server of that directory, whatever its port.
    first.stop()
    assert not second.running() and not base.port_in_use(second.port)


@pytest.mark.slow
def test_start_repairs_the_user_and_database(server_class, tmp_path,
                                             servers):
    server = servers(server_class, tmp_path)
    url = server.start()
    if server_class is sql.Postgres:
        _execute(_other_database(url, "postgres"),
                 "DROP DATABASE freezer_test",
                 "ALTER ROLE freezer PASSWORD 'changed'")
    else:
        _execute(url, "DROP DATABASE freezer_test",
                 "SET PASSWORD = PASSWORD('changed')")
    with pytest.raises(sqlalchemy.exc.OperationalError):
        _scalar(url, "SELECT 1")
    assert server.start() == url       # running: reused, provisioned again
    assert _scalar(url, "SELECT 1") == 1


@pytest.mark.slow
def test_port_taken_fails_with_the_log(server_class, tmp_path, servers):
    with socket.socket() as taken:
        taken.bind((base.LOOPBACK, 0))
        taken.listen()
        server = servers(server_class, tmp_path, taken.getsockname()[1])
        with pytest.raises(base.ServiceError) as failure:
            server.start()
    assert "Address already in use" in str(failure.value)
    assert server.log_file in str(failure.value)
    assert not server.running()


@pytest.mark.slow
def test_long_socket_path(server_class, repo_dir, servers):
    """A base dir the system user reaches, so long that the socket goes
    to the short /tmp directory while the data stays in the base."""
    long_base = os.path.join(repo_dir, "x" * (110 - len(repo_dir)))
    server = servers(server_class, long_base)
    url = server.start()
    assert os.path.isdir(os.path.join(long_base, server_class.name, "data"))
    assert server.run_dir.startswith(server.short_root + "/")
    assert os.path.exists(server.socket)
    assert _scalar(url, "SELECT 1") == 1

"""``freezer-manage export|import|migrate``: every document of every kind
of every tenant copied between backends, in order, idempotently, and
resumably after an interruption."""

import io
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from falcon import testing

from freezer_api import app as app_module
from freezer_api import config
from freezer_api import exceptions
from freezer_api import storage
from freezer_api import transfer
from freezer_api.cmd import manage
from freezer_api.domain import kinds
from freezer_api.storage import base
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests import conftest

BIN = os.path.dirname(sys.executable)
MANAGE = os.path.join(BIN, "freezer-manage")
PG = conftest.SQL_BACKENDS["postgresql"]
OTHER_BACKENDS = [b for b in conftest.BACKENDS if b != "sqlite"]


# -- data -------------------------------------------------------------------
def _api_documents(driver):
    """What agents and people really store, through the API (both
    versions, three tenants), including updates and deletions."""
    app = app_module.create_app(conftest.make_conf(), storage=driver,
                                clock=conftest.FakeClock())
    client = testing.TestClient(app)
    for user, project in (("alice", "pa"), ("bob", "pa"), ("carol", "pb")):
        headers = {"X-User-Id": user, "X-Project-Id": project,
                   "X-Roles": "member,reader"}
        for prefix in ("/v1", "/v2/" + project):
            def post(path, body, _h=headers, _p=prefix):
                result = client.simulate_post(_p + path, json=body,
                                              headers=_h)
                assert result.status_code in (201, 202, 204), result.text
                return result.json
            host = "%s_%s-%d" % (project, user, len(prefix))
            post("/clients", {"client_id": host, "hostname": host,
                              "supported_actions": ["backup", "restore"]})
            session_id = post("/sessions", {
                "schedule": {"schedule_interval": "1 days"},
                "description": "nightly ✓"})["session_id"]
            for n in range(3):
                job_id = post("/jobs", {
                    "client_id": host, "description": "job %d" % n,
                    "job_schedule": {"schedule_interval": "%d hours" % (
                        n + 1)},
                    "job_actions": [{"freezer_action": {
                        "action": "backup", "mode": "fs",
                        "path_to_backup": "/srv/%d" % n,
                        "backup_name": "srv", "container": "c"},
                        "max_retries": n}]})["job_id"]
                client.simulate_put("%s/sessions/%s/jobs/%s" % (
                    prefix, session_id, job_id), headers=headers)
                post("/backups", {"container": "c", "hostname": host,
                                  "backup_name": "srv", "job_id": job_id,
                                  "time_stamp": 1_700_000_000 + n,
                                  "level": n, "extra": {"ünï": [1, 2.5]}})
            post("/sessions/%s/action" % session_id,
                 {"start": {"job_id": job_id, "current_tag": 0}})
            post("/actions", {"freezer_action": {"action": "info"}})
            doomed = post("/actions", {"freezer_action": {
                "action": "exec", "command": "true"}})["action_id"]
            assert client.simulate_delete("%s/actions/%s" % (
                prefix, doomed), headers=headers).status_code == 204


def _odd_documents():
    """Documents the API would not write but a store may hold (upstream's
    data, old versions): no project, odd values, the same id in two
    projects."""
    docs = []
    for project in ("", "pa", "pb"):
        docs.append((kinds.JOBS, {
            "job_id": "shared-id", "user_id": "legacy",
            "project_id": project, "client_id": "c1",
            "job_schedule": {"status": "completed",
                             "time_created": 2 ** 62},
            "job_actions": [], "big": 2 ** 53 + 1, "float": 0.1,
            "text": "line\nbreak \u2028 \"quoted\" \\ \t end",
            "nested": {"a": [None, True, {"b": []}]}}))
    docs.append((kinds.BACKUPS, {"backup_id": "no-project",
                                 "user_id": "legacy",
                                 "backup_metadata": {"container": "x"}}))
    return docs


def populate(driver):
    _api_documents(driver)
    for kind, doc in _odd_documents():
        driver.apply([base.Insert(kind, doc)])


def bulk(driver, n):
    """``n`` backups in pages of 500: more than one default page."""
    docs = [{"backup_id": "bulk-%05d" % i, "user_id": "u%d" % (i % 7),
             "project_id": "p%d" % (i % 3),
             "backup_metadata": {"container": "c", "hostname": "h",
                                 "backup_name": "b", "time_stamp": i}}
            for i in range(n)]
    for start in range(0, n, 500):
        driver.apply([base.Insert(kinds.BACKUPS, d)
                      for d in docs[start:start + 500]])


def snapshot(driver):
    """Every document of every kind, in list order."""
    return {kind: [doc for page in transfer.pages(driver, kind, 1000)
                   for doc in page] for kind in kinds.ALL_KINDS}


def assert_same(source, destination):
    expected, actual = snapshot(source), snapshot(destination)
    for kind in kinds.ALL_KINDS:
        keys = [(d.get("project_id") or "", kinds.doc_id(kind, d))
                for d in actual[kind]]
        assert len(keys) == len(set(keys)), "duplicates in %s" % kind
        assert actual[kind] == expected[kind], kind
    return expected


# -- backends -----------------------------------------------------------------
def sqlite_url(tmp_path, name="freezer"):
    return "sqlite:///%s" % (tmp_path / ("%s.sqlite" % name))


_OPEN = []


def sql_driver_for(url):
    driver = sql_driver.SQLAlchemyDriver(conftest.make_conf(
        **{"database.connection": url}))
    _OPEN.append(driver)
    driver.upgrade()
    return driver


def _close_drivers():
    # A PostgreSQL database cannot be dropped while connections to it are
    # open.
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture(autouse=True)
def _closing():
    yield
    _close_drivers()


def write_conf(path, url):
    path.write_text("[DEFAULT]\nauth_strategy = noauth\n\n"
                    "[database]\nconnection = %s\n" % url)
    return str(path)


@pytest.fixture
def pg_url():
    base_url = os.environ.get(PG)
    if not base_url:
        if os.environ.get("FREEZER_TEST_REQUIRE_ALL") == "1":
            pytest.fail("%s is not set" % PG)
        pytest.skip("no PostgreSQL server configured (%s)" % PG)
    url, drop = conftest._sql_database(base_url)
    yield url
    _close_drivers()
    drop()


@pytest.fixture
def other(request, tmp_path_factory):
    """An empty driver of one of the non-SQLite backends."""
    driver, teardown = conftest.build_driver(request.param,
                                             tmp_path_factory)
    yield driver
    teardown()


def run(*args, stdin=None):
    return subprocess.run([MANAGE, *args], capture_output=True, text=True,
                          input=stdin, timeout=300)


# -- export / import ----------------------------------------------------------
def test_export_import_round_trip_on_every_backend(driver, tmp_path):
    populate(driver)
    exported = io.StringIO()
    reports = transfer.export(driver, exported, progress=None, page_size=7)
    assert all(r.ok for r in reports)
    # Lines end with "\n" only ("\u2028" in a document is no line end).
    lines = exported.getvalue().split("\n")[:-1]
    assert len(lines) == sum(r.source for r in reports) > 70
    first = json.loads(lines[0])
    assert set(first) == {"kind", "doc"} and first["kind"] == "backups"

    copy = sql_driver_for(sqlite_url(tmp_path))
    stream = io.StringIO(exported.getvalue())
    reports = transfer.import_(copy, stream, transfer.scan(
        io.StringIO(exported.getvalue())), progress=None, page_size=7)
    assert all(r.ok for r in reports)
    expected = assert_same(driver, copy)
    assert len(expected[kinds.JOBS]) > 20

    # Back into an emptied store of the original backend: same documents.
    driver.wipe()
    transfer.import_(driver, io.StringIO(exported.getvalue()),
                     progress=None)
    assert snapshot(driver) == expected
    again = io.StringIO()
    transfer.export(driver, again, progress=None)
    assert again.getvalue() == exported.getvalue()


def test_cli_export_then_import(tmp_path):
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    bulk(source, 1203)
    source_conf = write_conf(tmp_path / "source.conf", source.url)
    dest_conf = write_conf(tmp_path / "dest.conf",
                           sqlite_url(tmp_path, "dest"))
    dump = tmp_path / "dump.jsonl"

    result = run("--config-file", source_conf, "export", "--output",
                 str(dump))
    assert result.returncode == 0, result.stderr
    assert "backups" in result.stderr and "100%" in result.stderr
    table = result.stdout.splitlines()
    assert table[0].split()[:3] == ["kind", "source", "exported"]
    assert all(line.endswith("ok") for line in table[1:])
    assert dump.read_text(encoding="utf-8").count("\n") == sum(
        transfer.count(source, k) for k in kinds.ALL_KINDS)

    result = run("import", "--config-file", dest_conf, "--input",
                 str(dump))
    assert result.returncode == 0, result.stderr
    destination = sql_driver_for(sqlite_url(tmp_path, "dest"))
    assert_same(source, destination)

    # Again, from stdin: nothing is duplicated, everything is "already
    # there".
    result = run("--config-file", dest_conf, "import",
                 stdin=dump.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    backups = [line.split() for line in result.stdout.splitlines()
               if line.startswith("backups")][0]
    assert backups[3:] == ["0", backups[1], "ok"]
    assert_same(source, destination)

    # Export to stdout: the lines on stdout, the table on stderr.
    result = run("--config-file", dest_conf, "export", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout == dump.read_text(encoding="utf-8")
    assert "exported" in result.stderr


def test_import_checks_every_line_before_writing(tmp_path, capsys):
    dest_url = sqlite_url(tmp_path)
    conf = write_conf(tmp_path / "dest.conf", dest_url)
    good = transfer.line_of(kinds.JOBS, {"job_id": "j1", "user_id": "u",
                                         "project_id": "p"})
    for bad, message in (
            ('{"kind": "jobs"}', "line 2"),
            ('{"kind": "robots", "doc": {}}', "unknown kind"),
            ('{"kind": "jobs", "doc": {"user_id": "u"}}', "has no id"),
            ("not json", "not JSON")):
        dump = tmp_path / "bad.jsonl"
        dump.write_text(good + bad + "\n", encoding="utf-8")
        assert manage.main(["--config-file", conf, "import", "--input",
                            str(dump)]) == 1
        assert message in capsys.readouterr().err
    assert transfer.count(sql_driver_for(dest_url), kinds.JOBS) == 0


# -- migrate ------------------------------------------------------------------
def test_cli_migrate_sqlite_to_postgresql_and_back(tmp_path, pg_url):
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    bulk(source, 1010)
    source_conf = write_conf(tmp_path / "source.conf", source.url)

    # A configuration file to a URL (the schema is created on the way).
    result = run("migrate", "--from", source_conf, "--to", pg_url)
    assert result.returncode == 0, result.stderr + result.stdout
    password = sa.engine.make_url(pg_url).password
    assert ":***@" in result.stderr
    assert ":%s@" % password not in result.stderr + result.stdout
    postgres = sql_driver_for(pg_url)
    expected = assert_same(source, postgres)

    # Re-running is harmless.
    result = run("migrate", "--from", source_conf, "--to", pg_url,
                 "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1  # only the "migrating" line
    assert_same(source, postgres)

    # And back, URL to URL, into a new SQLite file.
    back_url = sqlite_url(tmp_path, "back")
    result = run("migrate", "--from", pg_url, "--to", back_url)
    assert result.returncode == 0, result.stderr
    back = sql_driver_for(back_url)
    assert snapshot(back) == expected
    assert sum(len(v) for v in expected.values()) > 1050


def test_cli_migrate_to_and_from_the_search_engine(tmp_path):
    """A configuration file selects the search-engine driver."""
    url = os.environ.get(conftest.EXTRA_BACKENDS["opensearch"])
    if not url:
        if os.environ.get("FREEZER_TEST_REQUIRE_ALL") == "1":
            pytest.fail("no search engine configured")
        pytest.skip("no search engine configured")
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    engine_conf = tmp_path / "engine.conf"
    engine_conf.write_text(
        "[storage]\ndriver = elasticsearch\n\n[elasticsearch]\n"
        "hosts = %s\nindex_prefix = freezer-t-manage-%s\n"
        "refresh_interval = 50ms\n" % (url, os.urandom(4).hex()))
    try:
        result = run("migrate", "--from", source.url, "--to",
                     str(engine_conf), "--batch-size", "25")
        assert result.returncode == 0, result.stderr + result.stdout
        assert "(elasticsearch)" in result.stderr
        back_url = sqlite_url(tmp_path, "back")
        result = run("migrate", "--from", str(engine_conf), "--to",
                     back_url)
        assert result.returncode == 0, result.stderr + result.stdout
        assert_same(source, sql_driver_for(back_url))
    finally:
        engine = storage.load_driver(config.parse(
            config_files=[str(engine_conf)]))
        engine.drop_indices()
        engine.close()


@pytest.mark.parametrize("other", OTHER_BACKENDS, indirect=True)
def test_migrate_between_sqlite_and_every_backend(other, tmp_path):
    sqlite = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(sqlite)
    reports = transfer.migrate(sqlite, other, progress=None, page_size=9)
    assert all(r.ok and r.copied == r.source for r in reports)
    expected = assert_same(sqlite, other)

    back = sql_driver_for(sqlite_url(tmp_path, "back"))
    reports = transfer.migrate(other, back, progress=None, page_size=9)
    assert all(r.ok for r in reports)
    assert snapshot(back) == expected


class Interrupting:
    """A destination that stops (like Ctrl-C, or a crash) once ``limit``
    documents are written. With ``atomic`` false a multi-document apply
    writes its documents one by one, so the interruption can fall in the
    middle of a page (as in a driver without transactions)."""

    def __init__(self, driver, limit, atomic=True):
        self.driver, self.limit, self.atomic = driver, limit, atomic
        self.written = 0

    def __getattr__(self, name):
        return getattr(self.driver, name)

    def apply(self, operations):
        if self.atomic:
            if self.written + len(operations) > self.limit:
                raise KeyboardInterrupt
            result = self.driver.apply(operations)
            self.written += len(operations)
            return result
        result = []
        for op in operations:
            if self.written >= self.limit:
                raise KeyboardInterrupt
            result += self.driver.apply([op])
            self.written += 1
        return result


@pytest.mark.parametrize("atomic", [True, False],
                         ids=["transactional", "non-transactional"])
def test_an_interrupted_migration_resumes_without_duplicates(
        driver, tmp_path, atomic):
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    total = sum(transfer.count(source, k) for k in kinds.ALL_KINDS)

    assert total > 25 + 20 + 17
    written = 0
    for limit in (25, 20, 17):  # three interruptions, then to the end
        with pytest.raises(KeyboardInterrupt):
            transfer.migrate(source, Interrupting(driver, limit, atomic),
                             progress=None, page_size=10)
        before, written = written, sum(transfer.count(driver, k)
                                       for k in kinds.ALL_KINDS)
        assert before < written <= before + limit
    reports = transfer.migrate(source, driver, progress=None, page_size=10)
    assert all(r.ok for r in reports), transfer.summary(reports)
    assert sum(r.copied + r.present for r in reports) == total
    assert sum(r.present for r in reports) >= written
    assert_same(source, driver)


def test_cli_interrupted_then_resumed(tmp_path, monkeypatch, capsys):
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    dest_url = sqlite_url(tmp_path, "dest")
    args = ["migrate", "--from", source.url, "--to", dest_url,
            "--batch-size", "5"]
    real_write, calls = transfer.write_page, []

    def interrupted(*a):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_write(*a)
    monkeypatch.setattr(transfer, "write_page", interrupted)
    assert manage.main(args) == manage.INTERRUPTED
    assert "run the same command again to resume" in capsys.readouterr().err
    destination = sql_driver_for(dest_url)
    assert transfer.count(destination, kinds.BACKUPS) == 15

    monkeypatch.setattr(transfer, "write_page", real_write)
    out = io.StringIO()
    assert manage.main(args, out=out) == 0
    assert "MISMATCH" not in out.getvalue()
    assert_same(source, destination)


def test_count_mismatch_and_differences_fail(tmp_path, capsys):
    source = sql_driver_for(sqlite_url(tmp_path, "source"))
    populate(source)
    dest_url = sqlite_url(tmp_path, "dest")
    destination = sql_driver_for(dest_url)
    # The destination already holds a document the source does not have,
    # and another one under an id the source uses, with other content.
    destination.apply([
        base.Insert(kinds.CLIENTS, {"client_id": "extra", "user_id": "x",
                                    "project_id": "px",
                                    "client": {"client_id": "extra"}}),
        base.Insert(kinds.JOBS, {"job_id": "shared-id", "user_id": "x",
                                 "project_id": "pa", "other": True})])
    out = io.StringIO()
    assert manage.main(["migrate", "--from", source.url, "--to", dest_url,
                        "--no-progress"], out=out) == 1
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert lines["clients"].endswith("MISMATCH")
    assert lines["jobs"].endswith("MISMATCH")
    assert lines["backups"].endswith("ok")
    assert "kept as they are (project/id): pa/shared-id" in text
    assert "counts differ" in capsys.readouterr().err
    # The destination's own document was left alone.
    record = destination.get(kinds.JOBS, base.Scope(project_id="pa"),
                             "shared-id")
    assert record.doc["other"] is True


def test_migrate_refuses_bad_arguments(tmp_path, capsys):
    url = sqlite_url(tmp_path)
    conf = write_conf(tmp_path / "a.conf", url)
    cases = (
        (["--from", url, "--to", conf], "the same database"),
        (["--from", str(tmp_path / "nothing.conf"), "--to", url],
         "neither a configuration file nor a database URL"),
        (["--from", "nosuchdriver://x", "--to", url], "not a database URL"),
    )
    for extra, message in cases:
        assert manage.main(["migrate"] + extra) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        manage.main(["migrate", "--from", url, "--to", url,
                     "--batch-size", "0"])


def test_destination_down_is_a_clean_error(tmp_path, capsys):
    source = sql_driver_for(sqlite_url(tmp_path))
    down = "postgresql+psycopg://u:secret-pw@127.0.0.1:1/x"
    assert manage.main(["migrate", "--from", source.url, "--to", down,
                        "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "secret-pw" not in err


# -- pieces ---------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar():
    now = [0.0]
    log = io.StringIO()
    bar = transfer.Progress(log, "jobs", 200, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 6
        bar.advance(50)
    bar.finish()
    assert log.getvalue().splitlines() == [
        "jobs      [###############---------------] 100/200  50% 8 docs/s",
        "jobs      [##############################] 200/200 100% 8 docs/s",
        "jobs      [##############################] 200/200 100% 8 docs/s"]

    tty = _Tty()
    bar = transfer.Progress(tty, "clients", None, clock=lambda: now[0])
    now[0] += 1
    bar.advance(3)
    bar.finish()
    assert tty.getvalue().startswith("\r\x1b[Kclients   3 ")
    assert tty.getvalue().endswith("\n") and tty.getvalue().count("\n") == 1
    empty = io.StringIO()
    transfer.Progress(empty, "sessions", 0).finish()
    assert "0/0 100%" in empty.getvalue()


def test_a_driver_without_count_is_counted_by_paging(tmp_path):
    class NoCount:
        def __init__(self, driver):
            self.driver = driver

        def search(self, *args):
            return self.driver.search(*args)

        def count(self, kind):
            raise NotImplementedError

    driver = sql_driver_for(sqlite_url(tmp_path))
    bulk(driver, 1234)
    assert transfer.count(NoCount(driver), kinds.BACKUPS) == 1234


def test_a_vanished_conflict_is_not_hidden(tmp_path):
    class Racy:
        """Says AlreadyExists, yet has no such document."""

        def apply(self, operations):
            raise exceptions.AlreadyExists("taken")

        def get(self, kind, scope, doc_id):
            raise exceptions.NotFound(doc_id)

    with pytest.raises(exceptions.AlreadyExists):
        transfer.write_page(Racy(), kinds.JOBS, [{"job_id": "j",
                                                  "user_id": "u"}],
                            transfer.KindReport(kinds.JOBS))

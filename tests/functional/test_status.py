"""``freezer-status upgrade check``: the real command, exit codes and
checks."""

import json
import os
import subprocess
import sys

from oslo_upgradecheck import upgradecheck

from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests import conftest

STATUS = os.path.join(os.path.dirname(sys.executable), "freezer-status")


def _conf(tmp_path, auth="noauth", extra=""):
    path = tmp_path / "freezer-api.conf"
    path.write_text("[DEFAULT]\nauth_strategy = %s\n\n[database]\n"
                    "connection = sqlite:///%s\n%s"
                    % (auth, tmp_path / "freezer.sqlite", extra))
    return str(path)


def _check(conf_file):
    result = subprocess.run([STATUS, "--config-file", conf_file, "upgrade",
                             "check", "--json"], capture_output=True,
                            text=True, timeout=120)
    report = json.loads(result.stdout)
    return result.returncode, {c["check"]: (c["result"], c["details"])
                               for c in report["checks"]}


def test_schema_behind_is_a_failure_until_db_sync(tmp_path):
    conf = _conf(tmp_path, "keystone", "\n[storage]\nauto_upgrade = false\n")
    code, checks = _check(conf)
    assert code == upgradecheck.Code.FAILURE
    result, details = checks["Storage schema"]
    assert result == upgradecheck.Code.FAILURE
    assert "freezer-manage db sync" in details
    assert checks["Authentication"][0] == upgradecheck.Code.SUCCESS

    manage = os.path.join(os.path.dirname(sys.executable), "freezer-manage")
    subprocess.run([manage, "--config-file", conf, "db", "sync"],
                   check=True, capture_output=True, timeout=120)
    code, checks = _check(conf)
    assert code == upgradecheck.Code.SUCCESS, checks
    assert "(head)" in checks["Storage schema"][1]


def test_embedded_sqlite_is_upgraded_by_the_service(tmp_path):
    code, checks = _check(_conf(tmp_path, "keystone"))
    assert code == upgradecheck.Code.SUCCESS
    assert "when it starts" in checks["Storage schema"][1]


def test_noauth_is_a_warning_and_the_table_is_printed(tmp_path):
    conf = _conf(tmp_path)
    code, checks = _check(conf)
    assert code == upgradecheck.Code.WARNING
    assert "noauth" in checks["Authentication"][1]
    table = subprocess.run([STATUS, "--config-file", conf, "upgrade",
                            "check"], capture_output=True, text=True,
                           timeout=120)
    assert table.returncode == 1
    assert "Upgrade Check Results" in table.stdout
    assert "Result: Warning" in table.stdout


def test_unreachable_database_is_a_failure(tmp_path):
    path = tmp_path / "down.conf"
    path.write_text("[DEFAULT]\nauth_strategy = keystone\n[database]\n"
                    "connection = postgresql+psycopg://u:pw-x@127.0.0.1:1/x\n")
    code, checks = _check(str(path))
    assert code == upgradecheck.Code.FAILURE
    assert "cannot be reached" in checks["Storage schema"][1]
    assert "pw-x" not in json.dumps(checks)


def test_the_sql_driver_reports_its_revision(tmp_path):
    driver = sql_driver.SQLAlchemyDriver(conftest.make_conf(**{
        "database.connection": "sqlite:///%s" % (tmp_path / "s.sqlite")}))
    try:
        assert driver.schema_status()[0] is False
        driver.upgrade()
        at_head, details = driver.schema_status()
        assert at_head and driver.schema_version() in details
    finally:
        driver.close()

"""The one server harness (tools/testenv/process.py) over real processes:
a real freezer-api, its workers, a failed start, a stop that leaves
nothing behind, and the configuration file it writes."""

import configparser
import os
import sys

import pytest

from tools.testenv import base
from tools.testenv import process

BIN = os.path.dirname(sys.executable)


def test_freezer_conf_merges_sections_and_keeps_extra_in_api(tmp_path):
    path = process.freezer_conf(
        tmp_path / "f.conf", "sqlite:///x.db", 1234, workers=3,
        sections={"api": {"threads": 2}, "storage": {"driver": "sql"}},
        extra="client_timeout = 7\n[paste_deploy]\nflavor = x\n")
    conf = configparser.ConfigParser()
    conf.read(path)
    assert conf["DEFAULT"]["bind_port"] == "1234"
    assert conf["DEFAULT"]["bind_host"] == "127.0.0.1"
    assert conf["api"]["workers"] == "3"
    assert conf["api"]["threads"] == "2"
    assert conf["api"]["client_timeout"] == "7"
    assert conf["paste_deploy"]["flavor"] == "x"
    assert conf["database"]["connection"] == "sqlite:///x.db"
    assert conf["storage"]["driver"] == "sql"


def test_a_real_server_starts_serves_and_leaves_nothing(tmp_path):
    conf = tmp_path / "f.conf"
    server = process.ServerProcess(
        "freezer-api", [os.path.join(BIN, "freezer-api"), "--config-file",
                        conf], tmp_path)
    process.freezer_conf(conf, "sqlite:///%s/f.sqlite" % tmp_path,
                         server.port, workers=2)
    server.start(timeout=60, workers=2)
    try:
        assert server.answer("/healthcheck") == 200
        workers = server.worker_pids()
        assert len(workers) == 2
        assert server.proc.pid not in workers
        assert set(workers) < set(server.group_pids())
    finally:
        server.stop()
    assert server.proc.poll() is not None
    assert server.group_pids() == []
    assert server.answer("/healthcheck") is None
    assert "Booting worker" in server.log_tail()


def test_a_server_that_exits_is_a_clear_error(tmp_path):
    server = process.ServerProcess(
        "broken", [sys.executable, "-c",
                   "import sys; print('no such store'); sys.exit(3)"],
        tmp_path)
    with pytest.raises(base.ServiceError) as raised:
        server.start(timeout=30)
    assert "exited during start-up" in str(raised.value)
    assert "no such store" in str(raised.value)
    assert server.group_pids() == []


def test_a_server_that_never_answers_times_out(tmp_path):
    server = process.ServerProcess(
        "silent", [sys.executable, "-c", "import time; time.sleep(60)"],
        tmp_path)
    with pytest.raises(base.ServiceError) as raised:
        server.start(timeout=1)
    assert "not ready within 1 s" in str(raised.value)
    assert server.proc.poll() is not None  # killed, not left running

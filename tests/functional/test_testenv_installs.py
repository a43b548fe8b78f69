"""tools.testenv.installs for real, in private directories: a venv of the
real clients is built once in the cache (even when two callers of two
state directories ask at once), reused without a rebuild while it is
current, built again when its stamp is stale;
Apache's venv goes where the WSGI daemons can read it."""

import concurrent.futures
import os
import pathlib
import sys
import tempfile
import time

import pytest

from tools.testenv import base
from tools.testenv import installs

# The smallest of the clients' venvs, and the seconds a reuse may take
# (it starts a Python to read the interpreter's version, no pip).
NAME = "cli-v1"
REUSE_SECONDS = 5


def stamp(venv_dir):
    return pathlib.Path(venv_dir, ".freezer-testenv-stamp")


def test_agents_ensure_is_idempotent_and_a_stale_stamp_rebuilds(
        tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FREEZER_TESTENV_CACHE", str(cache))
    agents = installs.Agents(base=tmp_path / "one")
    assert not agents.installed()
    with pytest.raises(base.ServiceError, match="not ready"):
        agents.path(NAME)
    with pytest.raises(base.ServiceError, match="unknown venv"):
        agents.ensure("no-such-client")

    # Two callers at once (pytest workers), of two state directories (two
    # clones): one build in the cache, named by its recipe; both get it.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda where: installs.Agents(base=tmp_path / where).ensure(NAME),
            ["one", "two"]))
    venv = pathlib.Path(agents.venv(NAME).path)
    assert venv.parent == cache / "venvs"
    assert venv.name.startswith("agents-%s-" % NAME)
    assert results == [{NAME: str(venv)}] * 2
    assert (venv / "bin" / "freezer").exists()
    log = pathlib.Path(str(venv) + ".log")
    assert log.read_text().count("-m venv") == 1
    assert agents.path(NAME) == str(venv)
    assert installs.Agents(base=tmp_path / "two").path(NAME) == str(venv)

    # Ready: nothing is rebuilt (a file of ours inside survives), fast.
    (venv / "kept").write_text("x")
    made = stamp(venv).stat().st_mtime_ns
    began = time.monotonic()
    assert agents.ensure(NAME) == {NAME: str(venv)}
    assert time.monotonic() - began < REUSE_SECONDS
    assert (venv / "kept").exists()
    assert stamp(venv).stat().st_mtime_ns == made
    assert log.read_text().count("-m venv") == 1

    # Another recipe (other pins, another Python) is another directory;
    # a venv whose stamp no longer matches its recipe (a build cut short,
    # a file overwritten) is built again from scratch in place.
    other = base.CachedVenv("agents-" + NAME, agents.pip_args(NAME),
                            python=agents.python(), extra_stamp="other")
    assert other.path != str(venv) and other.path.startswith(str(cache))
    stamp(venv).write_text("made from something else")
    with pytest.raises(base.ServiceError, match="not ready"):
        agents.path(NAME)
    assert agents.ensure(NAME) == {NAME: str(venv)}
    assert not (venv / "kept").exists()
    assert (venv / "bin" / "freezer").exists()
    assert log.read_text().count("-m venv") == 2
    assert agents.path(NAME) == str(venv)

    agents.clean(NAME)
    assert not venv.exists() and not log.exists()


def test_two_clones_name_the_same_venv_and_other_pins_another(tmp_path):
    """A pins file is a part of the recipe by its name and content, not by
    the clone it is in."""
    agents = installs.Agents(base=tmp_path)
    pins = agents.pip_args(NAME)[-1]
    clone = tmp_path / "clone" / "tools" / "agents"
    clone.mkdir(parents=True)
    copied = clone / os.path.basename(pins)
    copied.write_text(pathlib.Path(pins).read_text())

    def venv(pins_file):
        return base.CachedVenv("agents-" + NAME,
                               agents.pip_args(NAME)[:-1] + [str(pins_file)],
                               python=agents.python(), cache=str(tmp_path))

    assert venv(copied).path == venv(pins).path == agents.venv(NAME).path \
        .replace(base.cache_dir(), str(tmp_path))
    copied.write_text(copied.read_text() + "six==1.16.0\n")
    assert venv(copied).path != venv(pins).path
    # A venv's Python (a clone's .venv) and its base Python are one.
    base_python = os.path.join(sys.base_prefix, "bin",
                               "python%d.%d" % sys.version_info[:2])
    assert sys.prefix != sys.base_prefix and os.path.exists(base_python)
    assert base.CachedVenv("x", [], python=sys.executable).path == \
        base.CachedVenv("x", [], python=base_python).path


def test_prune_deletes_the_venvs_unused_for_so_many_days(tmp_path):
    venvs = tmp_path / "venvs"
    old_enough = time.time() - 40 * 86400
    for name, used in (("agents-cli-v1-aaaa", old_enough),
                       ("keystone-bbbb", time.time()),
                       ("upstream-18.0.0-cccc", old_enough)):
        (venvs / name / "bin").mkdir(parents=True)
        for path in (venvs / name, venvs / (name + ".lock"),
                     venvs / (name + ".log")):
            if not path.exists():
                path.write_text("x")
            os.utime(path, (used, used))
    # A use of the old one today (its lock touched) keeps it.
    os.utime(venvs / "upstream-18.0.0-cccc.lock")
    assert base.prune_cache(30, cache=str(tmp_path)) == [
        str(venvs / "agents-cli-v1-aaaa")]
    assert sorted(os.listdir(venvs)) == [
        "keystone-bbbb", "keystone-bbbb.lock", "keystone-bbbb.log",
        "upstream-18.0.0-cccc", "upstream-18.0.0-cccc.lock",
        "upstream-18.0.0-cccc.log"]
    assert base.prune_cache(0, cache=str(tmp_path)) == [
        str(venvs / "keystone-bbbb"), str(venvs / "upstream-18.0.0-cccc")]
    assert os.listdir(venvs) == []
    assert base.prune_cache(30, cache=str(tmp_path / "none")) == []


def test_the_cache_is_under_the_users_cache_unless_set(monkeypatch,
                                                        tmp_path):
    monkeypatch.delenv("FREEZER_TESTENV_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert base.cache_dir() == str(tmp_path / "xdg" / "freezer-api" /
                                   "testenv")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert base.cache_dir() == os.path.expanduser(
        "~/.cache/freezer-api/testenv")
    monkeypatch.setenv("FREEZER_TESTENV_CACHE", "relative/cache")
    assert base.cache_dir() == os.path.abspath("relative/cache")


def test_every_client_venv_has_pins_and_a_program():
    agents = installs.Agents(base=tempfile.gettempdir())
    for name in agents.names:
        pins = agents.pip_args(name)[-1]
        assert os.path.isfile(pins), pins
        assert agents.program(name) in ("freezer", "freezer-scheduler",
                                        "tempest")
    upstream = installs.Upstream(base=tempfile.gettempdir())
    for version in upstream.names:
        assert os.path.isfile(upstream.pip_args(version)[-1])


def test_apache_venv_goes_where_the_daemons_can_read_it(tmp_path):
    """pytest's tmp_path is private to its user: as root (the daemons run
    as www-data) the venv goes to /var/tmp/freezer-api-testenv; a
    directory of mode 0755 keeps it."""
    readable = pathlib.Path(tempfile.mkdtemp(prefix="freezer-apache-test-",
                                             dir="/var/tmp"))
    try:
        readable.chmod(0o755)
        apache = installs.Apache(base=readable)
        assert apache.home == str(readable / "apache")
        settings = apache.settings()
        assert settings == {
            "APACHE_BIN": "/usr/sbin/apache2",
            "APACHE_MODULES": "/usr/lib/apache2/modules",
            "APACHE_VENV": str(readable / "apache" / "venv"),
            "APACHE_USER": "www-data" if os.geteuid() == 0 else
            apache.daemon_user()}
        assert apache.environment() == settings
    finally:
        readable.rmdir()
    private = installs.Apache(base=tmp_path)
    if os.geteuid() == 0:
        assert private.home == "/var/tmp/freezer-api-testenv/apache"
    else:
        assert private.home == str(tmp_path / "apache")

"""The real clients of freezer-api, unmodified, against the real server.

python-freezerclient's ``freezer`` CLI and freezer's ``freezer-scheduler``
(with the ``freezer-agent`` it spawns) run from venvs of their own, made by
``tools.testenv.installs.Agents`` (pinned versions, reused between runs). Each
runs with a clean environment: the ``OS_*`` variables of one test Keystone
user, a private ``HOME``, and ``PATH`` starting with its venv's ``bin``.

Every wait is bounded; every scheduler runs in its own process group and
is killed with it (``freezer-agent`` children included).
"""

import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time
import warnings

import pytest
import requests

from tests.functional import keystone_support
from tools.testenv import base as testenv
from tools.testenv import installs

CLI_TIMEOUT = 120
# How keystoneauth reports an error status from Keystone ("Internal Server
# Error (HTTP 500)", maybe with a request id). The freezer client reports
# freezer-api's own errors as "[*] Error <status>: ..." instead, and it gets
# its token before it sends anything to freezer-api: a command that failed
# this way never reached the service under test.
IDENTITY_5XX = re.compile(r"\(HTTP 5\d\d\)( \(Request-ID: [^)]*\))?\s*$")
IDENTITY_ATTEMPTS = 3


def ensure_venvs(*names):
    """{name: venv directory} for ``names`` (all when none), created or
    reused by tools.testenv.installs.Agents (a cold install downloads about
    150 MB; each pip install is bounded by base.run's timeout)."""
    try:
        venvs = installs.Agents().ensure(*names)
    except testenv.ServiceError as exc:
        pytest.fail("installing the clients' venvs failed: %s" % exc)
    return {name: pathlib.Path(path) for name, path in venvs.items()}


@pytest.fixture(scope="session")
def agent_venvs():
    """The four client venvs (cli-v1, cli-v2, scheduler-v1, scheduler-v2),
    created in parallel on first use."""
    return ensure_venvs()


@pytest.fixture(scope="module")
def server(keystone, tmp_path_factory, request):
    """The base URL of a real server (2 gunicorn workers) behind the real
    Keystone, for the agents of one test module."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    process = keystone_support.start_server(
        tmp_path_factory.mktemp(name), keystone, workers=2)
    yield process.base_url
    process.stop()


@contextlib.contextmanager
def exclusive_port(port, timeout=300):
    """Hold ``port`` for this test alone, machine-wide: a lock file in the
    temporary directory (every checkout's test runs take it) and the port
    found free, waiting at most ``timeout`` seconds for both."""
    path = os.path.join(tempfile.gettempdir(),
                        "freezer-api-test-port-%d.lock" % port)
    deadline = time.monotonic() + timeout
    with open(path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                if keystone_support.port_is_free(port):
                    break
                fcntl.flock(lock, fcntl.LOCK_UN)
            if time.monotonic() > deadline:
                pytest.fail("port %d stayed busy for %d s" % (port, timeout))
            time.sleep(1)
        try:
            yield port
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def wait_for(check, timeout, what, details=lambda: ""):
    """Call ``check`` until it returns something true, for at most
    ``timeout`` seconds; return that, or fail saying ``what`` (and
    ``details()``, e.g. agent logs) did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("after %d s: %s\n%s" % (timeout, what, details()))
        time.sleep(0.5)


# How far ahead of now a job's ``schedule_date`` is set. Not "now": a
# freezer-scheduler (18 and 19 alike) that fetches a job whose date has
# already passed arms an APScheduler date trigger that may fire on its
# thread pool before ``Job.schedule`` asks whether the job is still
# scheduled; it then reports the job "completed" to the API while it
# starts running it, its next poll (``match_not: status completed``) no
# longer sees the job and turns it into a pending "remove" event, which
# its following PATCH stores, and ``process_event`` then loops on the
# unknown "remove" event for ever, holding the scheduler's lock: no job
# of that scheduler ever finishes. A date a few polls ahead (the agents
# poll every second) keeps every test on the path real deployments take.
SCHEDULE_AHEAD = 4


def soon():
    """A ``schedule_date`` SCHEDULE_AHEAD seconds from now, as the
    schedulers read it (local time)."""
    when = datetime.datetime.now() + datetime.timedelta(
        seconds=SCHEDULE_AHEAD)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def os_environ(keystone, user, home, venv, backup_url=None):
    """A clean environment for a client of ``user``'s: nothing of the
    caller's ``OS_*`` variables leaks in."""
    account = keystone.user(user)
    env = {
        "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % (venv / "bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        # freezer 18's scheduler drops an action's metadata when
        # freezer-agent wrote anything to stderr; current eventlet prints
        # a deprecation warning there on every start.
        "PYTHONWARNINGS": "ignore",
        "OS_AUTH_URL": keystone.url,
        "OS_USERNAME": account.name,
        "OS_PASSWORD": account.password,
        "OS_PROJECT_NAME": account.project_name,
        "OS_USER_DOMAIN_NAME": keystone.domain_name,
        "OS_PROJECT_DOMAIN_NAME": keystone.domain_name,
        "OS_REGION_NAME": keystone.region,
    }
    if backup_url:
        env["OS_BACKUP_URL"] = backup_url
    return env


class Cli:
    """``freezer`` of one venv, as one Keystone user."""

    def __init__(self, venv, keystone, user, home, backup_url=None,
                 api_version=None):
        home.mkdir(parents=True, exist_ok=True)
        self.user, self.keystone = user, keystone
        self.env = os_environ(keystone, user, home, venv, backup_url)
        if api_version:
            self.env["OS_BACKUP_API_VERSION"] = api_version
        self.program = str(venv / "bin" / "freezer")

    def run(self, *args, ok=True):
        """Run ``freezer ARGS``; with ``ok``, fail the test unless it
        exits 0. Returns the CompletedProcess (text).

        A command that Keystone failed with a 5xx before it could get a
        token is run again (at most ``IDENTITY_ATTEMPTS`` times in all),
        with a warning quoting Keystone's log: the test Keystone is not
        what is under test, and such a command never reached freezer-api.
        A failure message quotes what Keystone logged meanwhile."""
        since = self.keystone.log_size()
        for attempt in range(1, IDENTITY_ATTEMPTS + 1):
            result = self._run_once(args)
            if result.returncode == 0 or "[*] Error" in result.stderr or \
                    not IDENTITY_5XX.search(result.stderr):
                break
            warnings.warn("Keystone failed freezer %s (%s), attempt %d of "
                          "%d: %s\n%s" % (
                              " ".join(args), self.user, attempt,
                              IDENTITY_ATTEMPTS, result.stderr.strip(),
                              self.keystone.log_trouble(since)))
            time.sleep(attempt)
        if ok and result.returncode != 0:
            pytest.fail("freezer %s (%s) exited %d\nstdout: %s\nstderr: %s"
                        "\nKeystone's log meanwhile:\n%s"
                        % (" ".join(args), self.user, result.returncode,
                           result.stdout[-3000:], result.stderr[-3000:],
                           self.keystone.log_trouble(since) or "(nothing)"))
        return result

    def _run_once(self, args):
        try:
            return subprocess.run([self.program, *args], env=self.env,
                                  capture_output=True, text=True,
                                  timeout=CLI_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail("freezer %s (%s) took more than %d s"
                        % (" ".join(args), self.user, CLI_TIMEOUT))

    def json(self, *args):
        """The parsed ``-f json`` output of a show or list command."""
        return json.loads(self.run(*args, "-f", "json").stdout)

    def column(self, name, *args):
        """One column of a list command, as a list of strings (``-f
        value``, for lists whose JSON output the client cannot write)."""
        out = self.run(*args, "-f", "value", "-c", name).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]


class Api:
    """Direct HTTP checks, with a real token of ``user``."""

    def __init__(self, base_url, keystone, user, version):
        self.keystone, self.user = keystone, user
        self.base_url, self.version = base_url, version
        self.project_id = keystone.user(user).project_id

    @property
    def prefix(self):
        if self.version == "v1":
            return self.base_url + "/v1"
        return "%s/v2/%s" % (self.base_url, self.project_id)

    def request(self, method, path, body=None, prefix=None):
        headers = {"X-Auth-Token": self.keystone.token(self.user),
                   "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(
            method, (prefix or self.prefix) + path, headers=headers,
            data=None if body is None else json.dumps(body), timeout=30)

    def get(self, path, body=None):
        return self.request("GET", path, body)

    def doc(self, path):
        """GET ``path``, which must answer 200; its JSON."""
        answer = self.get(path)
        assert answer.status_code == 200, (path, answer.status_code,
                                           answer.text)
        return answer.json()

    def status(self, method, path, body=None):
        return self.request(method, path, body).status_code

    def create(self, kind, body):
        answer = self.request("POST", "/%s" % kind, body)
        assert answer.status_code == 201, answer.text
        return answer.json()[kind[:-1] + "_id"]

    def ids(self, kind, search=None):
        """The ids of every listed document of ``kind`` (one page of
        1000, enough here)."""
        field = {"clients": "client_id"}.get(kind, kind[:-1] + "_id")
        answer = self.get("/%s?limit=1000" % kind, search)
        assert answer.status_code == 200, answer.text
        docs = answer.json()[kind]
        if kind == "clients":
            return {d["client"]["client_id"] for d in docs}
        return {d[field] for d in docs}


class Scheduler:
    """One ``freezer-scheduler start`` in the foreground (``no_daemon``),
    configured by a file, in a process group of its own."""

    def __init__(self, venv, directory, keystone, user, backup_url,
                 client_id, v1_api, interval=1, central=False):
        """``central``: freezer 19's ``centralized_scheduler = true``
        (registers as a central client, polls every project's jobs and
        runs each through the trust it carries)."""
        self.venv, self.directory = venv, directory
        self.client_id, self.v1_api = client_id, v1_api
        self.central = central
        directory.mkdir(parents=True, exist_ok=True)
        # freezer-agent creates ~/.freezer with a check then a mkdir: two
        # of its jobs starting in the same second race, and the loser's
        # backup fails (FileExistsError, a bug of the agent, not of the
        # API). Made here, before any job runs.
        (directory / "home" / ".freezer").mkdir(parents=True, exist_ok=True)
        self.env = os_environ(keystone, user, directory / "home", venv,
                              backup_url)
        self.conf = directory / "scheduler.conf"
        self.conf.write_text(self._conf_text(keystone, user, backup_url,
                                             interval))
        self.log_path = directory / "scheduler.log"
        self.proc = self._log = None

    def _conf_text(self, keystone, user, backup_url, interval):
        account = keystone.user(user)
        auth = {
            "os_auth_url": keystone.url,
            "os_username": account.name,
            "os_password": account.password,
            "os_project_name": account.project_name,
            "os_user_domain_name": keystone.domain_name,
            "os_project_domain_name": keystone.domain_name,
            "os_region_name": keystone.region,
            "os_backup_url": backup_url,
        }
        common = {
            "client_id": self.client_id,
            "interval": interval,
            "jobs_dir": self.directory / "jobs",
            "no_daemon": "true",
            "concurrent_jobs": 2,
        }
        # Options are looked up by their ``dest``. freezer 18 keeps them
        # all in [DEFAULT]; freezer 19 moved them to [scheduler] and
        # [service_auth].
        if self.v1_api:
            sections = {"DEFAULT": dict(common, enable_v1_api="true",
                                        **auth)}
        else:
            if self.central:
                common = dict(common, centralized_scheduler="true")
            sections = {"scheduler": common, "service_auth": auth}
        lines = []
        for section, options in sections.items():
            lines.append("[%s]" % section)
            lines.extend("%s = %s" % item for item in options.items())
            lines.append("")
        return "\n".join(lines)

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "freezer-scheduler"), "--config-file",
             str(self.conf), "start"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, cwd=str(self.directory),
            start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, size=4000):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        # Drop eventlet's deprecation banner, repeated at every start.
        lines = [line for line in text.splitlines()
                 if "ventlet" not in line and line.strip()]
        return "\n".join(lines)[-size:]

    def group_alive(self):
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, grace=10):
        """SIGTERM the process group (the scheduler exits on it), then
        SIGKILL whatever is left of it, freezer-agent children too."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self.proc.poll() is not None and \
                        not self.group_alive():
                    break
                time.sleep(0.1)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if self._log is not None:
            self._log.close()
            self._log = None

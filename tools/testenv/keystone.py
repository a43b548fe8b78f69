"""A real OpenStack Keystone on loopback for freezer-api's tests.

Keystone 30.0.0 under gunicorn 27.0.1, in a venv of its own (every package
pinned by tools/keystone/constraints.txt; built once in the shared cache,
base.cache_dir()), with a SQLite database and fernet tokens in
``$FREEZER_TESTENV_DIR/keystone``; bootstrapped once,
seeded with the fixtures of tools/keystone/seed.py on every start. See
tools/keystone/README.rst.

Settings: KEYSTONE_PORT (35357), FREEZER_API_PORT (19090, the catalog's
``backup`` endpoint), KEYSTONE_PYTHON (a Python >= 3.11 for the venv),
KEYSTONE_START_TIMEOUT (seconds, 120).
"""

import concurrent.futures
import contextlib
import grp
import json
import os
import pwd
import time

from tools.testenv import base

TOOLS = os.path.join(base.REPO, "tools", "keystone")
KEYSTONE_VERSION = "30.0.0"
GUNICORN_VERSION = "27.0.1"
CONSTRAINTS = os.path.join(TOOLS, "constraints.txt")
ADMIN_PASSWORD = "secret-admin"
DEFAULT_FREEZER_API_PORT = 19090
# How long a running Keystone may take to answer before start() replaces it.
ANSWER_GRACE = 20

CONF_TEMPLATE = """\
# Written by tools/testenv/keystone.py on every start; edits are lost.
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///{home}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {home}/fernet-keys/

[fernet_receipts]
key_repository = {home}/fernet-keys/

[credential]
key_repository = {home}/credential-keys/

[cache]
# In-process cache: correct only with a single gunicorn worker.
enabled = true
backend = dogpile.cache.memory

[identity]
# The default bcrypt cost makes each password check take ~0.25 s.
password_hash_rounds = 4

[resource]
admin_project_name = admin
admin_project_domain_name = Default
"""


class Keystone(base.Service):
    """``Keystone(base=dir, port=N, freezer_port=M).start()`` -> the v3
    URL; ``environment()`` -> the variables the tests read (users,
    projects, ids, KEYSTONE_LOG_FILE)."""

    name = "keystone"
    url_variable = "KEYSTONE_URL"
    port_variable = "KEYSTONE_PORT"
    default_port = 35357
    timeout_variable = "KEYSTONE_START_TIMEOUT"
    start_timeout = 120

    def __init__(self, base=None, port=None, freezer_port=None):
        super().__init__(base=base, port=port)
        # status() and environment() follow the running server's URL
        # unless a port was asked for (argument or KEYSTONE_PORT).
        self.port_pinned = port is not None or bool(
            os.environ.get(self.port_variable))
        self.freezer_port = freezer_port
        self._venv = None
        self._process = None    # the gunicorn this object launched

    @property
    def freezer_url(self):
        """The catalog's ``backup`` endpoint."""
        port = self.freezer_port or base.int_setting(
            "FREEZER_API_PORT", DEFAULT_FREEZER_API_PORT)
        return "http://%s:%d" % (base.LOOPBACK, port)

    @property
    def venv(self):
        if self._venv is None:
            self._venv = base.CachedVenv(
                "keystone",
                ["-c", CONSTRAINTS, "keystone==" + KEYSTONE_VERSION,
                 "gunicorn==" + GUNICORN_VERSION],
                python=base.pick_python(
                    11, base.setting("KEYSTONE_PYTHON"), "python3",
                    "python3.13", "python3.12", "python3.11"),
                check="gunicorn")
        return self._venv

    # -- files --
    def path(self, name):
        return os.path.join(self.home, name)

    @property
    def conf(self):
        return self.path("keystone.conf")

    @property
    def pid_file(self):
        return self.path("keystone.pid")

    @property
    def url_file(self):
        return self.path("keystone.url")

    # -- the Service steps --
    def url(self):
        return "http://%s:%d/v3" % (base.LOOPBACK, self.port)

    def served_url(self):
        """The URL the running server was started for (None if none)."""
        try:
            with open(self.url_file) as f:
                return f.read().strip() or None
        except OSError:
            return None

    def live_url(self):
        """The URL to probe: the running server's, unless a port was asked
        for."""
        if not self.port_pinned and self.running():
            return self.served_url() or self.url()
        return self.url()

    def pid(self):
        """The pid of our gunicorn (from the pid file), or None."""
        pid = base.read_pid(self.pid_file)
        if pid is not None and self._process is not None and \
                self._process.pid == pid:
            # Launched here: its /proc/PID/cmdline reads empty for a few
            # milliseconds after the exec (seen), poll() does not.
            return pid if self._process.poll() is None else None
        argv = base.cmdline(pid) if pid else None
        if argv and any("keystone_wsgi" in part for part in argv):
            return pid
        return None

    def running(self):
        return self.pid() is not None

    def ready(self):
        return base.http_ok(self.live_url())

    def install(self):
        """The venv (shared: base.CachedVenv)."""
        base.private_dir(self.home)
        self.venv.ensure(self.name, log=self.path("install.log"))

    def start(self):
        """As Service.start, after replacing a server of ours that serves
        another URL or does not answer within 20 s."""
        with self.lock():
            self.replace_stale()
        return super().start()

    def replace_stale(self):
        pid = self.pid()
        if pid is None:
            return
        served = self.served_url()
        if served != self.url():
            self.say("pid %d serves %s, not %s; restarting it"
                     % (pid, served, self.url()))
        else:
            try:
                base.wait_for(lambda: base.http_ok(self.url()), ANSWER_GRACE,
                              self.name, process_alive=self.running)
                return
            except base.ServiceError:
                self.say("pid %d does not answer %s; restarting it"
                         % (pid, self.url()))
        self.halt()

    def launch(self):
        if base.port_in_use(self.port):
            raise base.ServiceError(
                "another process listens on %s:%d (set %s)"
                % (base.LOOPBACK, self.port, self.port_variable))
        began = time.monotonic()
        self.write_conf()
        self.bootstrap_once()
        self.say("database and keys ready in %.1f s"
                 % (time.monotonic() - began))
        if os.path.exists(self.log_file):
            os.replace(self.log_file, self.log_file + ".1")
        self.say("starting keystone on %s:%d (log: %s)"
                 % (base.LOOPBACK, self.port, self.log_file))
        # One worker (the in-process cache) and one thread: every password
        # authentication writes (last_active_at), and two SQLite writers at
        # once fail with "database is locked" (tools/keystone/README.rst).
        self._process = base.spawn(
            [self.venv.bin("gunicorn"),
             "--pythonpath", TOOLS,
             "--chdir", self.home,
             "--bind", "%s:%d" % (base.LOOPBACK, self.port),
             "--workers", "1", "--worker-class", "gthread", "--threads", "1",
             "--timeout", "120", "--graceful-timeout", "5",
             "--pid", self.pid_file, "--no-control-socket",
             "--error-logfile", self.log_file, "--capture-output",
             "--access-logfile", self.log_file,
             "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
             "keystone_wsgi:application"],
            self.log_file,
            env=dict(os.environ, OS_KEYSTONE_CONFIG_FILES=self.conf))
        # gunicorn writes the same pid there soon; written now, so that
        # wait() sees a running server from the first poll.
        with open(self.pid_file, "w") as f:
            f.write("%d\n" % self._process.pid)
        with open(self.url_file, "w") as f:
            f.write(self.url() + "\n")

    def wait(self, timeout=None):
        """Service.wait; a server that does not come up is stopped."""
        try:
            super().wait(timeout)
        except base.ServiceError:
            if self.running():
                self.halt()
            raise

    def provision(self):
        base.run([self.venv.python, os.path.join(TOOLS, "seed.py"), "seed",
                  "--auth-url", self.url(), "--freezer-url",
                  self.freezer_url], "seeding keystone",
                 log=self.path("seed.log"), timeout=120, env=self.seed_env())

    def halt(self):
        pid = self.pid()
        if pid is not None and not base.terminate(pid, timeout=20,
                                                  group=True, name=self.name):
            raise base.ServiceError("pid %d is still alive" % pid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)

    def environment(self):
        """Every variable the tests read about this Keystone: its URL,
        region, domain, the catalog's freezer-api URL, each seeded user
        (name, password, ids, project, role) and project, and
        KEYSTONE_LOG_FILE. ServiceError when it does not run."""
        url = self.live_url()
        if not (self.running() and base.http_ok(url)):
            raise base.ServiceError(
                "keystone is not running at %s; run python -m tools.testenv "
                "start keystone" % url)
        result = base.run([self.venv.python, os.path.join(TOOLS, "seed.py"),
                           "json", "--auth-url", url, "--freezer-url",
                           self.freezer_url], "describing keystone",
                          timeout=60, env=self.seed_env())
        variables = json.loads(result.stdout)
        # Its log (errors, and one access line per request): tests quote
        # the errors it logged while a failing client ran.
        variables["KEYSTONE_LOG_FILE"] = self.log_file
        return variables

    # -- helpers --
    def seed_env(self):
        return dict(os.environ, KEYSTONE_ADMIN_PASSWORD=ADMIN_PASSWORD)

    def write_conf(self):
        for keys in ("fernet-keys", "credential-keys"):
            os.makedirs(self.path(keys), exist_ok=True)
            os.chmod(self.path(keys), 0o700)
        with open(self.conf + ".tmp", "w") as f:
            f.write(CONF_TEMPLATE.format(home=self.home))
        os.replace(self.conf + ".tmp", self.conf)

    def manage(self, command, *args):
        """keystone-manage COMMAND ARGS, its chatter in a log of its own."""
        base.run([self.venv.bin("keystone-manage"), "--config-file",
                  self.conf, command, *args], "keystone-manage " + command,
                 log=self.path("keystone-manage-%s.log" % command),
                 timeout=300)

    def bootstrap_once(self):
        marker = self.path("bootstrap.done")
        if os.path.exists(marker) and os.path.exists(
                self.path("keystone.db")):
            return
        self.say("first start: db_sync, fernet_setup, credential_setup, "
                 "bootstrap")
        owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
                 "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
        # Each keystone-manage run is ~5 s of imports and milliseconds of
        # work; the first three are independent: side by side.
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            runs = [pool.submit(self.manage, *args) for args in (
                ("db_sync",), ("fernet_setup", *owner),
                ("credential_setup", *owner))]
        for run in runs:
            run.result()    # the first failure, once all have ended
        self.manage("bootstrap",
                    "--bootstrap-username", "admin",
                    "--bootstrap-password", ADMIN_PASSWORD,
                    "--bootstrap-project-name", "admin",
                    "--bootstrap-role-name", "admin",
                    "--bootstrap-service-name", "keystone",
                    "--bootstrap-region-id", "RegionOne",
                    "--bootstrap-public-url", self.url(),
                    "--bootstrap-internal-url", self.url())
        with open(marker, "w") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))

"""The one building block of the test environment: a ``Service``.

A service is something the tests need that runs (or is installed) outside
the test process: a database server, a search-engine node, Keystone, a
venv of upstream's clients. Each one says how to install itself, how to
start, how to tell it is running and answering, how to stop, and where its
log is; the base class puts those steps together in the same order for
all of them (install, lock, start unless running, wait, provision) and
makes every step idempotent and safe to run from several processes at
once (pytest workers, ``make test``, a benchmark).

Only the standard library is used here: the environment is set up before,
and apart from, the project's own venv.

Everything a service says goes to stderr, one line at a time, prefixed by
its name; the tools it runs (apt-get, Maven, pip, initdb) write to log
files of its own, whose tail a ``ServiceError`` quotes when they fail.
"""

import contextlib
import errno
import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LOOPBACK = "127.0.0.1"
APT_LOCK = "/var/lock/freezer-testenv-apt.lock"

_print_lock = threading.Lock()


class ServiceError(Exception):
    """A service could not be installed, started or stopped. The message
    says which, why, and quotes the end of the log that tells more."""


def say(name, message):
    """One line on stderr for service ``name``."""
    with _print_lock:
        print("%s: %s" % (name, message), file=sys.stderr, flush=True)


def setting(variable, default=None):
    """The environment variable ``variable``, or ``default`` when it is
    unset or empty."""
    value = os.environ.get(variable) if variable else None
    return value if value else default


def int_setting(variable, default):
    """An integer setting (a port, a timeout); ServiceError when it is not
    a number."""
    value = setting(variable, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ServiceError("%s must be a number, got %r" % (variable, value))


def base_dir():
    """The root of the environment's state: FREEZER_TESTENV_DIR, by
    default <repo>/.data/testenv."""
    return os.path.abspath(setting("FREEZER_TESTENV_DIR",
                                   os.path.join(REPO, ".data", "testenv")))


def cache_dir():
    """Where what is built from pinned inputs alone is kept for every
    clone and state directory of this user: FREEZER_TESTENV_CACHE, by
    default $XDG_CACHE_HOME/freezer-api/testenv (~/.cache/...). Safe to
    delete: what is missing is built again."""
    default = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "freezer-api", "testenv")
    return os.path.abspath(setting("FREEZER_TESTENV_CACHE", default))


def tail(path, lines=40):
    """The last ``lines`` lines of the file at ``path`` ('' if none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * lines))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def private_dir(path):
    """mkdir -p ``path`` with a .gitignore of '*' (state inside the
    repository stays out of ``git status``); ``path``."""
    os.makedirs(path, exist_ok=True)
    ignore = os.path.join(path, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w") as f:
            f.write("*\n")
    return path


@contextlib.contextmanager
def file_lock(path, timeout=900, what=None):
    """Hold an exclusive flock on ``path`` (created if missing) for the
    block: several processes may start the same service at once. The
    descriptor is close-on-exec, so no server started inside inherits it.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                raise ServiceError("timed out after %d s waiting for %s (%s)"
                                   % (timeout, path, what or "a lock"))
            time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def run(argv, what, log=None, timeout=900, user=None, **kwargs):
    """Run ``argv`` to its end (as ``user`` when given, through runuser),
    its output appended to the file ``log`` (else captured); the finished
    process. ServiceError, quoting the output's end, when it fails."""
    argv = as_user(user, [str(a) for a in argv])
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("cwd", "/" if user else None)
    try:
        if log:
            os.makedirs(os.path.dirname(log), exist_ok=True)
            with open(log, "ab") as out:
                out.write(("\n$ %s\n" % " ".join(argv)).encode())
                out.flush()
                result = subprocess.run(argv, stdout=out,
                                        stderr=subprocess.STDOUT,
                                        timeout=timeout, **kwargs)
            output = tail(log, 30)
        else:
            result = subprocess.run(argv, capture_output=True, text=True,
                                    timeout=timeout, **kwargs)
            output = (result.stdout + result.stderr)[-4000:]
    except subprocess.TimeoutExpired:
        raise ServiceError("%s: no end after %d s" % (what, timeout))
    except OSError as exc:
        raise ServiceError("%s: cannot run %s: %s" % (what, argv[0], exc))
    if result.returncode != 0:
        raise ServiceError("%s failed (exit %d)%s:\n%s" % (
            what, result.returncode, " (log: %s)" % log if log else "",
            output))
    return result


def as_user(user, argv):
    """``argv`` run as ``user`` (None: as ourselves)."""
    return ["runuser", "-u", user, "--", *argv] if user else list(argv)


def spawn(argv, log, env=None, cwd=None, user=None):
    """Start a server in the background, in a session of its own (a
    Ctrl-C of the caller does not reach it), stdin from /dev/null and its
    output appended to ``log``; the Popen."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as out:
        out.write(("\n==== %s %s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            " ".join(map(str, argv)))).encode())
        out.flush()
        return subprocess.Popen(
            as_user(user, [str(a) for a in argv]), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=env, cwd=cwd or ("/" if user else None))


def user_exists(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def is_root():
    return os.geteuid() == 0


def port_in_use(port, host=LOOPBACK):
    """Does something accept connections on host:port?"""
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) == 0


def free_port():
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def http_ok(url, timeout=2):
    """Does GET ``url`` answer 2xx?"""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _state(pid):
    """The state letter of process ``pid`` (R, S, Z...), None if none."""
    try:
        with open("/proc/%d/stat" % int(pid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid):
    """The command line of process ``pid`` as a list (empty for a moment
    right after a fork, before its exec), or None when there is no such
    live process."""
    try:
        with open("/proc/%d/cmdline" % int(pid), "rb") as f:
            raw = f.read()
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0")
            if part]


def read_pid(path):
    """The number in the pid file at ``path``, or None."""
    try:
        with open(path) as f:
            digits = "".join(c for c in f.read().split("\n")[0]
                             if c.isdigit())
        return int(digits) if digits else None
    except OSError:
        return None


def alive(pid):
    """Does process ``pid`` live (a zombie does not)?"""
    return pid is not None and _state(pid) not in (None, "Z")


def terminate(pid, timeout=60, group=False, name="service"):
    """SIGTERM ``pid`` (its process group if ``group``), wait up to
    ``timeout`` s for it to exit, then SIGKILL; True once it is gone."""
    def send(sig):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)
    send(signal.SIGTERM)
    for sig, wait in ((None, timeout), (signal.SIGKILL, 10)):
        if sig is not None:
            say(name, "pid %d still alive after %d s; SIGKILL"
                % (pid, timeout))
            send(sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not alive(pid):
                return True
            time.sleep(0.1)
    return False


def _reap(pid):
    """Collect ``pid`` if it is our child (else it stays a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for(check, timeout, what, process_alive=None, log=None):
    """Poll ``check()`` until it is true; ServiceError (with the log's
    tail) on timeout, or as soon as ``process_alive()`` says the server
    exited."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if process_alive is not None and not process_alive():
            raise ServiceError("%s: the server exited during start-up%s" % (
                what, _log_quote(log)))
        if time.monotonic() > deadline:
            raise ServiceError("%s: not ready within %d s%s" % (
                what, timeout, _log_quote(log)))
        time.sleep(0.25)


def _log_quote(log):
    if not log:
        return ""
    return "; last lines of %s:\n%s" % (log, tail(log))


def pick_python(minor, *candidates):
    """The path of the first candidate (empty ones skipped) that is a
    Python 3.``minor`` or newer."""
    tried = [c for c in candidates if c]
    for candidate in tried:
        path = shutil.which(candidate)
        if path and subprocess.run(
                [path, "-c", "import sys; sys.exit(sys.version_info < "
                 "(3, %d))" % minor], capture_output=True).returncode == 0:
            return path
    raise ServiceError("no python >= 3.%d found (tried: %s)"
                       % (minor, " ".join(tried)))


def apt_install(name, *packages):
    """Install Debian ``packages`` as root, one apt-get at a time across
    every service and process (APT_LOCK), without letting their scripts
    start the distribution's own services (a policy-rc.d that says no).
    """
    if not is_root():
        raise ServiceError(
            "%s is not installed; as root run: apt-get update && apt-get "
            "install -y --no-install-recommends %s"
            % (" ".join(packages), " ".join(packages)))
    if not shutil.which("apt-get"):
        raise ServiceError("%s is not installed and there is no apt-get"
                           % " ".join(packages))
    policy = "/usr/sbin/policy-rc.d"
    log = os.path.join(base_dir(), "apt.log")
    with file_lock(APT_LOCK, timeout=1800, what="apt-get"):
        created = False
        if not os.path.exists(policy):
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
            created = True
        try:
            say(name, "installing %s with apt-get (log: %s)"
                % (" ".join(packages), log))
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
            install = apt + ["install", "-y", "--no-install-recommends",
                             *packages]
            try:
                # Lists fetched earlier (another service's install) are
                # usually enough; only a failure pays for an update.
                run(install, "apt-get install", log=log, env=env)
            except ServiceError:
                run(apt + ["update"], "apt-get update", log=log, env=env)
                run(install, "apt-get install %s" % " ".join(packages),
                    log=log, env=env)
        finally:
            if created:
                os.unlink(policy)


class Service:
    """Something the tests need, run or installed outside them.

    Subclasses set ``name`` (the CLI name and the state sub-directory),
    optionally ``port_variable``/``default_port`` and ``url_variable`` (the
    variable ``make test`` exports the URL as), and implement
    ``running()``, ``url()``, ``launch()`` and ``halt()``; ``install()``,
    ``ready()`` and ``provision()`` when they have something to do there.
    """

    name = None
    url_variable = None
    port_variable = None
    default_port = None
    timeout_variable = None     # the variable naming the start timeout
    start_timeout = 120         # seconds, unless that variable says
    lock_timeout = 1800         # a first install may hold the lock long

    def __init__(self, base=None, port=None):
        self.base = os.path.abspath(base) if base else base_dir()
        if port is None and self.default_port is not None:
            port = int_setting(self.port_variable, self.default_port)
        self.port = port
        self.timeout = int_setting(self.timeout_variable, self.start_timeout)

    # -- what a subclass says ------------------------------------------------
    @property
    def home(self):
        """Where the service keeps its state."""
        return os.path.join(self.base, self.name)

    @property
    def log_file(self):
        """The service's own log."""
        return os.path.join(self.home, self.name + ".log")

    def install(self):
        """Install what is missing (packages, builds, venvs); idempotent.
        Runs before the lock is taken, and may take locks of its own."""

    def running(self):
        """Does our server run (whether or not it answers yet)?"""
        raise NotImplementedError

    def ready(self):
        """Does it answer?"""
        return self.running()

    def launch(self):
        """Start the server (the lock is held, it does not run); return
        once it is started, not necessarily answering."""
        raise NotImplementedError

    def provision(self):
        """After it answers: make the users, databases... the tests
        expect; idempotent."""

    def halt(self):
        """Stop the running server and wait until it has (lock held)."""
        raise NotImplementedError

    def url(self):
        raise NotImplementedError

    # -- what every service does the same way ---------------------------------
    def say(self, message):
        say(self.name, message)

    def lock(self):
        return file_lock(os.path.join(self.base, "." + self.name + ".lock"),
                         self.lock_timeout, what=self.name)

    def start(self):
        """Install, start unless running, wait until it answers, provision;
        the URL. A no-op (that succeeds) when it already runs."""
        began = time.monotonic()
        self.install()
        with self.lock():
            if self.running():
                self.say("already running")
            else:
                self.launch()
            self.wait()
            self.provision()
        self.say("ready after %.1f s: %s" % (time.monotonic() - began,
                                             self.url()))
        return self.url()

    def wait(self, timeout=None, alive=None):
        """Return once it answers; ServiceError when it exits first (by
        ``alive()``, default ``running()``) or does not answer within
        ``timeout`` (default: the start timeout)."""
        wait_for(self.ready, timeout or self.timeout, self.name,
                 process_alive=alive or self.running, log=self.log_file)

    def stop(self):
        """Stop it if it runs; succeeds when it does not."""
        with self.lock():
            if self.running():
                self.say("stopping")
                self.halt()
            else:
                self.say("not running")

    def status(self):
        """True when it runs and answers."""
        return self.running() and self.ready()

    def environment(self):
        """The variables the tests read to find it (while it runs)."""
        return {self.url_variable: self.url()} if self.url_variable else {}

    def logs(self, lines=40):
        """The end of its log."""
        return tail(self.log_file, lines)


class Installation(Service):
    """Something installed, not run: a venv, a browser, Apache's modules.
    ``start`` installs it; it "runs" once installed; ``stop`` has nothing
    to do. Subclasses implement ``installed()`` and ``install()``."""

    def installed(self):
        raise NotImplementedError

    def running(self):
        return self.installed()

    def launch(self):
        raise ServiceError("%s: still not installed after install()"
                           % self.name)

    def halt(self):
        pass

    def url(self):
        return self.home

    def start(self):
        began = time.monotonic()
        with self.lock():
            if not self.installed():
                self.install()
                if not self.installed():
                    self.launch()
        self.say("ready after %.1f s: %s" % (time.monotonic() - began,
                                             self.url()))
        return self.url()


class Venv:
    """A venv at ``path`` built from pip arguments, rebuilt when they (or
    the Python that made it) change: a stamp file, written last, records
    what it was made from (its recipe)."""

    def __init__(self, path, pip_args, python=None, check=None,
                 extra_stamp=""):
        self._path, self.pip_args = path, list(pip_args)
        self.python_cmd = python or sys.executable
        self.check = check          # a program in bin/ that must exist
        self.extra_stamp = extra_stamp
        self._recipe = None

    @property
    def path(self):
        return self._path

    @property
    def python(self):
        return os.path.join(self.path, "bin", "python")

    def bin(self, program):
        return os.path.join(self.path, "bin", program)

    def _stamp(self):
        """The recipe: the Python (its version and installation: a venv's
        Python and its base Python are one), the pip
        arguments (a file among them by its name and content, not its
        directory: two clones of one commit have the same recipes) and
        ``extra_stamp`` (read once per object)."""
        if self._recipe is None:
            version = subprocess.run(
                [self.python_cmd, "-c",
                 "import sys; print(sys.version, sys.base_prefix)"],
                capture_output=True, text=True).stdout
            parts = [version]
            for arg in self.pip_args:
                if os.path.isfile(arg):
                    with open(arg) as f:
                        parts.append("%s:\n%s" % (os.path.basename(arg),
                                                   f.read()))
                else:
                    parts.append(arg)
            self._recipe = "\n".join(parts + [self.extra_stamp])
        return self._recipe

    def _stamp_file(self):
        return os.path.join(self.path, ".freezer-testenv-stamp")

    def ready(self):
        try:
            with open(self._stamp_file()) as f:
                made_from = f.read()
        except OSError:
            return False
        if self.check and not os.path.exists(self.bin(self.check)):
            return False
        return made_from == self._stamp()

    def ensure(self, name, log=None):
        """Build it unless it is ready (under a lock of its own); the
        path."""
        with file_lock(self.path + ".lock", 1800, what=self.path):
            if self.ready():
                return self.path
            began = time.monotonic()
            log = log or self.path + ".log"
            say(name, "creating %s (log: %s)" % (self.path, log))
            # A venv cannot be moved (its scripts name their interpreter):
            # it is built in place, and the stamp, written last, marks it
            # complete.
            shutil.rmtree(self.path, ignore_errors=True)
            run([self.python_cmd, "-m", "venv", self.path],
                "%s: python -m venv" % name, log=log)
            run([self.python, "-m", "pip", "install", "-q",
                 "--disable-pip-version-check", *self.pip_args],
                "%s: pip install" % name, log=log)
            if self.check and not os.path.exists(self.bin(self.check)):
                raise ServiceError("%s: %s missing after pip install"
                                   % (name, self.check))
            with open(self._stamp_file(), "w") as f:
                f.write(self._stamp())
            say(name, "%s ready in %.0f s"
                % (self.path, time.monotonic() - began))
            return self.path


class CachedVenv(Venv):
    """A venv named by its recipe in the shared cache (cache_dir()/venvs/
    NAME-HASH), built once for every clone and state directory that needs
    the same one: only for venvs made from pinned requirements alone
    (whatever is written into one afterwards must follow from its recipe
    too). Other pins or another Python are another directory, so a clone
    of an older commit keeps its own; one whose stamp does not match (a
    build cut short) is built again in place."""

    def __init__(self, name, pip_args, python=None, check=None,
                 extra_stamp="", cache=None):
        super().__init__(None, pip_args, python=python, check=check,
                         extra_stamp=extra_stamp)
        self.name = name
        self.cache = cache

    def ensure(self, name, log=None):
        path = super().ensure(name, log=log)
        os.utime(path + ".lock")    # its last use, for prune_cache
        return path

    @property
    def path(self):
        if self._path is None:
            digest = hashlib.sha256(self._stamp().encode()).hexdigest()
            self._path = os.path.join(self.cache or cache_dir(), "venvs",
                                      "%s-%s" % (self.name, digest[:16]))
        return self._path


def prune_cache(days, cache=None):
    """Delete the cached venvs (CachedVenv) no one has used for ``days``
    days (each use touches its lock file), with their logs and locks; the
    paths deleted, oldest first."""
    venvs = os.path.join(cache or cache_dir(), "venvs")
    try:
        names = sorted(os.listdir(venvs))
    except FileNotFoundError:
        return []
    cutoff = time.time() - days * 86400
    unused = []
    for name in names:
        path = os.path.join(venvs, name)
        if not os.path.isdir(path):
            continue
        marks = [p for p in (path + ".lock", path) if os.path.exists(p)]
        last = max(os.stat(p).st_mtime for p in marks)
        if last < cutoff:
            unused.append((last, path))
    deleted = []
    for _last, path in sorted(unused):
        with file_lock(path + ".lock", 60, what=path):
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + ".log")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".lock")
        deleted.append(path)
    return deleted

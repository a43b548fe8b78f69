"""What the tests install but do not run as servers: the real clients'
venvs (Agents), Apache httpd with mod_wsgi and a venv of freezer-api for it
(Apache), Horizon with freezer-web-ui and Chromium (Dashboard), and
upstream freezer-api's releases (Upstream). Each is idempotent: what is
installed and current is reused, what is stale is built again.
"""

import concurrent.futures
import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
import sys

from tools.testenv import base


def read(path):
    with open(path) as f:
        return f.read()


def copy_atomically(source, target):
    """Copy ``source`` to ``target`` so that a reader of ``target`` (a
    dashboard of another clone sharing the venv) sees the old file or the
    new one, never half of one."""
    partial = "%s.%d.tmp" % (target, os.getpid())
    shutil.copyfile(source, partial)
    os.replace(partial, target)


class VenvSet(base.Installation):
    """Several venvs of one kind, one per name, built side by side in the
    shared cache (base.CachedVenv: made from pins alone, so every clone
    and state directory uses the same); ``ensure(*names)`` -> {name:
    directory}, ``path(name)``."""

    names = ()

    def __init__(self, base=None, port=None):
        super().__init__(base=base, port=port)
        self._venvs = {}
        self._python = None

    def python(self):
        """The interpreter the venvs are made with."""
        raise NotImplementedError

    def pip_args(self, name):
        raise NotImplementedError

    def program(self, name):
        """A program in bin/ that shows the venv ``name`` is complete."""
        raise NotImplementedError

    def venv(self, name):
        if name not in self.names:
            raise base.ServiceError("%s: unknown venv %r (one of: %s)" % (
                self.name, name, " ".join(self.names)))
        if name not in self._venvs:
            if self._python is None:
                self._python = self.python()
            self._venvs[name] = base.CachedVenv(
                "%s-%s" % (self.name, name), self.pip_args(name),
                python=self._python, check=self.program(name))
        return self._venvs[name]

    def ensure(self, *names):
        """Build the venvs of ``names`` (all when none) that are missing
        or stale, side by side; {name: directory}."""
        names = names or self.names
        venvs = [self.venv(name) for name in names]
        with concurrent.futures.ThreadPoolExecutor(len(venvs)) as pool:
            builds = [pool.submit(venv.ensure, "%s %s" % (self.name, name))
                      for name, venv in zip(names, venvs)]
        return {name: build.result() for name, build in zip(names, builds)}

    def path(self, name):
        """The venv of ``name``; ServiceError when it is not ready."""
        venv = self.venv(name)
        if not venv.ready():
            raise base.ServiceError("%s: %s is not ready: ensure it first"
                                    % (self.name, name))
        return venv.path

    def clean(self, *names):
        """Delete the venvs of ``names`` (all when none)."""
        for name in names or self.names:
            venv = self.venv(name)
            shutil.rmtree(venv.path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(venv.path + ".log")

    def installed(self):
        return all(self.venv(name).ready() for name in self.names)

    def url(self):
        """Where the venvs are (the shared cache's venvs directory)."""
        return os.path.join(base.cache_dir(), "venvs")

    def install(self):
        self.ensure()


class Agents(VenvSet):
    """The real, unmodified clients of freezer-api, each in a venv of its
    own (agents-NAME in the shared cache), every package pinned in
    tools/agents/NAME.txt and installed from a wheel, not byte-compiled
    (tools/agents/README.rst). AGENTS_PYTHON: a Python >= 3.10 for them
    (default python3.11, else python3)."""

    name = "agents"
    names = ("cli-v2", "cli-v1", "scheduler-v1", "scheduler-v2", "tempest")
    PINS = os.path.join(base.REPO, "tools", "agents")

    def python(self):
        return base.pick_python(10, base.setting("AGENTS_PYTHON"),
                                "python3.11", "python3")

    def pip_args(self, name):
        return ["--no-compile", "--only-binary", ":all:",
                "-r", os.path.join(self.PINS, name + ".txt")]

    def program(self, name):
        if name.startswith("cli-"):
            return "freezer"
        if name.startswith("scheduler-"):
            return "freezer-scheduler"
        return name


class Upstream(VenvSet):
    """Upstream freezer-api's releases from PyPI, each in a venv of its own
    (upstream-VERSION in the shared cache), pinned by
    tools/upstream/freezer-api-VERSION.txt (upstream, gunicorn, the MySQL
    and PostgreSQL drivers): for tests/functional/test_import_upstream.py
    and the benchmarks."""

    name = "upstream"
    names = ("18.0.0", "19.0.0")
    PINS = os.path.join(base.REPO, "tools", "upstream")

    def python(self):
        return sys.executable

    def pip_args(self, name):
        return ["-r", os.path.join(self.PINS, "freezer-api-%s.txt" % name)]

    def program(self, name):
        return "freezer-manage"


class Apache(base.Installation):
    """Apache httpd with Debian's mod_wsgi, and a venv of the Python that
    mod_wsgi embeds holding this checkout's freezer-api (a regular install),
    for tests/functional/test_deploy.py, which runs its own httpd per test.
    ``ensure()`` -> the APACHE_* settings (``settings()``).

    The venv is made again when pyproject.toml or the Python change, and
    freezer-api reinstalled in it (without its dependencies) when its files
    changed. It lives in ``$FREEZER_TESTENV_DIR/apache`` when the user of
    the WSGI daemons can read it there, else in
    /var/tmp/freezer-api-testenv/apache."""

    name = "apache"
    BIN = "/usr/sbin/apache2"
    MODULES = "/usr/lib/apache2/modules"
    # Debian 12's mod_wsgi embeds its python3.11 (libpython3.11).
    PYTHON = "/usr/bin/python3"
    FALLBACK = "/var/tmp/freezer-api-testenv"

    def __init__(self, base=None, port=None):
        super().__init__(base=base, port=port)
        self._home = None

    @staticmethod
    def daemon_user():
        """Who the WSGI daemons run as: www-data when httpd starts as
        root, else the caller."""
        if base.is_root():
            return "www-data"
        return pwd.getpwuid(os.getuid()).pw_name

    def reachable(self, directory):
        """Can the daemon user traverse ``directory``?"""
        if not base.is_root():
            return os.access(directory, os.X_OK)
        return subprocess.run(
            ["runuser", "-u", self.daemon_user(), "--", "test", "-x",
             directory], capture_output=True).returncode == 0

    @property
    def home(self):
        if self._home is None:
            os.makedirs(self.base, exist_ok=True)
            if self.reachable(self.base):
                self._home = os.path.join(self.base, self.name)
            else:
                self.say("%s cannot read %s; using %s/apache" % (
                    self.daemon_user(), self.base, self.FALLBACK))
                self._home = os.path.join(self.FALLBACK, self.name)
        return self._home

    @property
    def venv(self):
        return base.Venv(os.path.join(self.home, "venv"), [base.REPO],
                         python=self.PYTHON,
                         extra_stamp=read(os.path.join(base.REPO,
                                                       "pyproject.toml")))

    def code_stamp_file(self):
        return os.path.join(self.home, "code.stamp")

    @staticmethod
    def code_stamp():
        """What the installed package is made of: its files' contents."""
        digest = hashlib.sha256()
        top = os.path.join(base.REPO, "freezer_api")
        for directory, subdirs, files in sorted(os.walk(top)):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".pyc"):
                    continue
                path = os.path.join(directory, name)
                digest.update(os.path.relpath(path, top).encode() + b"\0")
                with open(path, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
        return digest.hexdigest()

    def missing_packages(self):
        missing = []
        if not os.access(self.BIN, os.X_OK):
            missing.append("apache2")
        if not os.path.exists(os.path.join(self.MODULES, "mod_wsgi.so")):
            missing.append("libapache2-mod-wsgi-py3")
        if subprocess.run([self.PYTHON, "-c", "import ensurepip, venv"],
                          capture_output=True).returncode != 0:
            missing.append("python3-venv")
        return missing

    def code_current(self):
        try:
            return read(self.code_stamp_file()) == self.code_stamp()
        except OSError:
            return False

    def installed(self):
        return (not self.missing_packages() and self.venv.ready()
                and self.code_current())

    def install(self):
        missing = self.missing_packages()
        if missing:
            base.apt_install(self.name, *missing)
            if self.missing_packages():
                raise base.ServiceError("%s still missing after apt-get"
                                        % " ".join(self.missing_packages()))
        if self.home.startswith(self.FALLBACK + os.sep):
            os.makedirs(self.FALLBACK, exist_ok=True)
            os.chmod(self.FALLBACK, 0o755)
        os.makedirs(self.home, exist_ok=True)
        os.chmod(self.home, 0o755)
        venv = self.venv
        # One caller at a time (parallel test workers share the venv; the
        # fallback directory is shared by every base directory).
        with base.file_lock(self.home + ".lock", 900, what=self.home):
            if not venv.ready():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.code_stamp_file())
                venv.ensure(self.name, log=self.log_file)
            elif not self.code_current():
                # Only when the code changed: another test worker's httpd
                # may be running from this venv.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.code_stamp_file())
                base.run([venv.python, "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", "--no-deps",
                          "--force-reinstall", base.REPO],
                         "%s: pip install of freezer-api" % self.name,
                         log=self.log_file)
            else:
                return
            with open(self.code_stamp_file(), "w") as f:
                f.write(self.code_stamp())

    def url(self):
        return self.venv.path

    def settings(self):
        """APACHE_BIN (the httpd binary), APACHE_MODULES (its modules
        directory), APACHE_VENV (python-home of WSGIDaemonProcess) and
        APACHE_USER (who the WSGI daemons run as)."""
        return {"APACHE_BIN": self.BIN, "APACHE_MODULES": self.MODULES,
                "APACHE_VENV": self.venv.path,
                "APACHE_USER": self.daemon_user()}

    def ensure(self):
        """Install what is missing or stale; ``settings()``."""
        self.start()
        return self.settings()

    def environment(self):
        return self.settings()


class Dashboard(base.Installation):
    """OpenStack Horizon with freezer-web-ui (pinned in
    tools/dashboard/requirements.txt) in a venv of the shared cache,
    configured by tools/dashboard/local_settings.py, its static files
    collected and compressed in ``$FREEZER_TESTENV_DIR/dashboard``;
    Debian's chromium and chromium-driver to drive it. For
    tests/functional/test_dashboard.py, which runs the server itself.
    DASHBOARD_PYTHON: a Python >= 3.10 for the venv (default python3.11,
    else python3)."""

    name = "dashboard"
    TOOLS = os.path.join(base.REPO, "tools", "dashboard")
    PINS = os.path.join(TOOLS, "requirements.txt")
    SETTINGS = os.path.join(TOOLS, "local_settings.py")
    APT_PACKAGES = ("chromium", "chromium-driver")

    def __init__(self, base=None, port=None):
        super().__init__(base=base, port=port)
        self._venv = None

    @property
    def venv(self):
        if self._venv is None:
            python = base.pick_python(10, base.setting("DASHBOARD_PYTHON"),
                                      "python3.11", "python3")
            # configure() writes the settings into the venv: they are a
            # part of its recipe, so that a shared venv holds one version.
            self._venv = base.CachedVenv(
                "dashboard",
                ["--no-compile", "--only-binary", ":all:", "-r", self.PINS],
                python=python, check="django-admin",
                extra_stamp=read(self.SETTINGS))
        return self._venv

    @property
    def static(self):
        return os.path.join(self.home, "static")

    def browser_installed(self):
        return bool(shutil.which("chromium") and shutil.which("chromedriver"))

    def static_stamp(self):
        """What the static files are made from: the settings, and the
        venv they were configured in (its directory names its recipe)."""
        return hashlib.sha256("\n".join([
            read(self.SETTINGS), self.venv.path]).encode()).hexdigest()

    def configured(self):
        try:
            return read(os.path.join(self.static, ".stamp")) == \
                self.static_stamp()
        except OSError:
            return False

    def installed(self):
        return (self.browser_installed() and self.venv.ready()
                and self.configured())

    def install(self):
        base.private_dir(self.home)
        if not self.browser_installed():
            base.apt_install(self.name, *self.APT_PACKAGES)
            if not shutil.which("chromedriver"):
                raise base.ServiceError("chromedriver missing after apt-get")
        if not self.venv.ready():
            # A new venv has no settings in it: configured again below.
            shutil.rmtree(self.static, ignore_errors=True)
            self.venv.ensure(self.name,
                             log=os.path.join(self.home, "install.log"))
        if not self.configured():
            self.configure()

    def configure(self):
        """Horizon's settings, the plugin's panels and the static files
        they make (a few seconds)."""
        site = base.run([self.venv.python, "-c", "import os, "
                         "openstack_dashboard as d; "
                         "print(os.path.dirname(d.__file__))"],
                        "%s: find openstack_dashboard" % self.name
                        ).stdout.strip()
        ui = base.run([self.venv.python, "-c", "import os, freezer_ui; "
                       "print(os.path.dirname(freezer_ui.__file__))"],
                      "%s: find freezer_ui" % self.name).stdout.strip()
        # Horizon reads local/local_settings.py and the plugins enabled in
        # local/enabled/ (freezer-web-ui's install guide copies the same).
        copy_atomically(self.SETTINGS,
                        os.path.join(site, "local", "local_settings.py"))
        enabled = os.path.join(ui, "enabled")
        for name in sorted(os.listdir(enabled)):
            if name.startswith("_50") and name.endswith(".py"):
                copy_atomically(os.path.join(enabled, name),
                                os.path.join(site, "local", "enabled", name))
        shutil.rmtree(self.static, ignore_errors=True)
        env = {"PATH": "/usr/bin:/bin", "HOME": self.home,
               "LANG": "C.UTF-8",
               "DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings",
               "DASHBOARD_STATE_DIR": self.home}
        log = os.path.join(self.home, "configure.log")
        for command in (["collectstatic", "--noinput", "-v0"],
                        ["compress", "--force", "-v0"]):
            base.run([self.venv.bin("django-admin"), *command],
                     "%s: django-admin %s" % (self.name, command[0]),
                     log=log, env=env)
        with open(os.path.join(self.static, ".stamp"), "w") as f:
            f.write(self.static_stamp())

    def url(self):
        return self.venv.path

    def path(self):
        """The venv; ServiceError when it is not ready."""
        if not (self.venv.ready() and self.configured()):
            raise base.ServiceError("%s: not ready: start it first"
                                    % self.name)
        return self.venv.path

    def clean(self):
        for path in (self.venv.path, self.static):
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.home, "install.log"))

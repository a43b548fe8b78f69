"""The test database servers: a private, throw-away PostgreSQL and MariaDB.

Each runs from a directory of its own (``<base>/postgres``,
``<base>/mariadb``) on 127.0.0.1 only, never as the distribution's service
(no systemd unit, no /var/lib/postgresql or /var/lib/mysql, no default
instance). ``start`` makes sure the user ``freezer`` (password
``freezer``) and the database ``freezer_test`` exist and that the URL logs
in; the servers are tuned for tests (no fsync and the like: the data does
not survive a crash of the machine, and is not meant to).

Under root, the server runs as its system user (``postgres``, ``mysql``)
through runuser, and its directories are handed to that user. When that
user cannot reach the base directory (a checkout under /root, pytest's
tmp_path), the server lives under
``/tmp/freezer-testenv-<uid>-<12 hex of sha256(base)>/<name>`` instead; the
same short directory holds the unix socket when its path would be too long
for one. Both choices depend only on the base directory (and the port), so
every process agrees on them. As an ordinary user, everything runs as that
user (the packages must then be installed already).

Administration goes over the private unix socket (peer or unix_socket
authentication); TCP logins need the password.
"""

import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

from tools.testenv import base

HOST = base.LOOPBACK
# sun_path holds 108 bytes, the terminating NUL included.
SOCKET_PATH_MAX = 107
# The servers and their tools live in sbin on Debian.
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def _sql_string(text):
    return "'%s'" % text.replace("'", "''")


class SQLServer(base.Service):
    """What the PostgreSQL and MariaDB servers do alike: who runs them,
    where they live, their start (with a restart when they run on another
    port) and the provisioning of the test user and database."""

    timeout_variable = "FREEZER_TESTENV_TIMEOUT"
    start_timeout = 60
    database = "freezer_test"
    user = "freezer"
    password = "freezer"

    os_user = None          # the system user the server runs as under root
    os_user_home = None     # its home, should it have to be created
    root_admin = None       # the server's administrator when we are root
    packages = ()           # the Debian packages that bring the server
    short_run_dir = None    # the socket's directory in the short root
    client_variables = ()   # the caller's client settings, ignored here

    def __init__(self, base=None, port=None):
        super().__init__(base, port)
        self._home = None

    # -- what a subclass says ------------------------------------------------
    def installed(self):
        """Are the server's programs there?"""
        raise NotImplementedError

    @property
    def pid_file(self):
        raise NotImplementedError

    def server_marker(self):
        """The argument by which our server's command line names our data
        directory (a pid in a stale pid file may be anyone's by now)."""
        raise NotImplementedError

    @property
    def socket_name(self):
        raise NotImplementedError

    def running_port(self):
        """The port the running server listens on (None if it does not
        run)."""
        raise NotImplementedError

    def initialised(self):
        raise NotImplementedError

    def initialise(self):
        """Create the data directory (lock held, there is none)."""
        raise NotImplementedError

    def provisioning_sql(self):
        """The SQL (idempotent) that creates the test user and database."""
        raise NotImplementedError

    def admin_client(self):
        """The command that runs SQL from stdin as the administrator, over
        the unix socket; (argv, OS user)."""
        raise NotImplementedError

    def login_client(self):
        """The command that logs in as the test user over TCP and runs
        ``SELECT 1``."""
        raise NotImplementedError

    # -- who runs it ---------------------------------------------------------
    @property
    def run_as(self):
        """The OS user the server runs as: its system user under root,
        else None (ourselves)."""
        return self.os_user if base.is_root() else None

    @property
    def admin_user(self):
        """The database user that administers it over the socket."""
        if base.is_root():
            return self.root_admin
        return pwd.getpwuid(os.geteuid()).pw_name

    def _ensure_os_user(self):
        user = self.run_as
        if not user or base.user_exists(user):
            return
        self.say("creating system user %r" % user)
        try:
            base.run(["useradd", "--system", "--user-group",
                      "--no-create-home", "--home-dir", self.os_user_home,
                      "--shell", "/usr/sbin/nologin", user],
                     "useradd %s" % user)
        except base.ServiceError:
            if not base.user_exists(user):  # (else: a parallel start won)
                raise

    def _give(self, path):
        """Hand ``path`` to the server's OS user (under root)."""
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _give_tree(self, path):
        for parent, dirs, files in os.walk(path):
            self._give(parent)
            for name in dirs + files:
                self._give(os.path.join(parent, name))

    def _reachable(self, path):
        """Can the server's OS user reach (search) ``path``? A missing path
        is judged by its deepest existing ancestor: the directories made
        below it are 0755."""
        user = self.run_as
        if not user or not base.user_exists(user):
            return True     # (no such user: nothing of ours runs as it)
        while not os.path.exists(path):
            path = os.path.dirname(path)
        return self._succeeds(base.as_user(user, ["test", "-x", path]))

    # -- where it lives ------------------------------------------------------
    @property
    def short_root(self):
        """The short directory under /tmp used when the base directory will
        not do."""
        digest = hashlib.sha256(self.base.encode()).hexdigest()[:12]
        return "/tmp/freezer-testenv-%d-%s" % (os.geteuid(), digest)

    @property
    def home(self):
        if self._home is not None:
            return self._home
        home = os.path.join(self.base, self.name)
        if not self._reachable(home):
            home = os.path.join(self.short_root, self.name)
        if not self.run_as or base.user_exists(self.run_as):
            self._home = home   # (else decided again once the user exists)
        return home

    @property
    def data(self):
        return os.path.join(self.home, "data")

    @property
    def run_dir(self):
        """The unix socket's directory (its pid file's too, for MariaDB)."""
        run_dir = os.path.join(self.home, "run")
        if len(os.path.join(run_dir, self.socket_name)) > SOCKET_PATH_MAX:
            run_dir = os.path.join(self.short_root, self.short_run_dir)
        return run_dir

    @property
    def socket(self):
        return os.path.join(self.run_dir, self.socket_name)

    def _make_dir(self, path, give=True):
        """mkdir -p ``path``, each new directory 0755 whatever the umask,
        the last one handed to the server's OS user when ``give``."""
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for new in reversed(missing):
            try:
                os.mkdir(new)
                os.chmod(new, 0o755)
            except FileExistsError:
                pass            # (a parallel start made it)
        if give:
            self._give(missing[0] if missing else path)

    def _make_short_root(self):
        root = self.short_root
        try:
            os.mkdir(root)
            os.chmod(root, 0o755)
        except FileExistsError:
            pass
        info = os.lstat(root)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise base.ServiceError(
                "%s is not a directory owned by %s; remove it"
                % (root, pwd.getpwuid(os.geteuid()).pw_name))

    def _own_file(self, path):
        """Create ``path`` if missing and hand it to the server's user (so
        that the server, no longer root, can write its log)."""
        with open(path, "a"):
            pass
        self._give(path)

    def _prepare(self):
        """Directories, ownership and a data directory (lock held)."""
        for path in (self.home, self.run_dir):
            if os.path.dirname(path) == self.short_root:
                self._make_short_root()
            self._make_dir(path)
        self._own_file(self.log_file)
        if self.run_as and os.path.isdir(self.data) and pwd.getpwuid(
                os.stat(self.data).st_uid).pw_name != self.run_as:
            self._give_tree(self.data)
        if not self.initialised():
            self.say("initialising a new data directory in %s" % self.data)
            self.initialise()

    # -- running its tools ---------------------------------------------------
    def _env(self):
        env = {key: value for key, value in os.environ.items()
               if key not in self.client_variables}
        env["PATH"] = "%s:%s" % (env.get("PATH", "/usr/bin:/bin"), SBIN)
        return env

    def _run(self, argv, what, **kwargs):
        """Run a tool to its end, its output appended to our log."""
        kwargs.setdefault("env", self._env())
        kwargs.setdefault("cwd", "/")
        return base.run(argv, what, log=self.log_file, **kwargs)

    def _succeeds(self, argv):
        """Does ``argv`` exit 0 (its output thrown away)?"""
        try:
            return subprocess.run(
                argv, cwd="/", env=self._env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _version(self, program):
        """The version a server program reports (its third word)."""
        try:
            words = subprocess.run([program, "--version"], capture_output=True,
                                   text=True, timeout=30).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            words = []
        return words[2] if len(words) > 2 else "?"

    # -- the Service steps ---------------------------------------------------
    def install(self):
        if not self.installed():
            base.apt_install(self.name, *self.packages)
            if not self.installed():
                raise base.ServiceError(
                    "%s: %s installed, but the server's programs are still "
                    "missing" % (self.name, " ".join(self.packages)))
        self._ensure_os_user()
        self._make_dir(self.base, give=False)   # 0755, whatever the umask

    def _ours(self, pid):
        """Is ``pid`` our server, alive?"""
        argv = base.cmdline(pid) if pid else None
        return bool(argv) and self.server_marker() in argv

    def pid(self):
        """The pid of our running server, or None."""
        pid = base.read_pid(self.pid_file)
        return pid if self._ours(pid) else None

    def running(self):
        return self.pid() is not None

    def launch(self):
        """Directories, a data directory if there is none, the server."""
        self._prepare()
        self.run_server()

    def run_server(self):
        """Start the server (its directories ready); return once it has
        started."""
        raise NotImplementedError

    def _move_to_our_port(self):
        """A server found running on another port is restarted on ours
        (lock held)."""
        port = self.running_port()
        if port != self.port:
            self.say("running on port %s, restarting on %d"
                     % (port, self.port))
            self.halt()
            self.launch()
            self.wait()

    def provision(self):
        """On our port (a server found on another is restarted), the test
        user (its password reset) and database, then a password login over
        TCP, as the URL will."""
        self._move_to_our_port()
        argv, user = self.admin_client()
        with tempfile.TemporaryFile() as script:
            script.write(self.provisioning_sql().encode())
            script.seek(0)
            self._run(argv, "creating the user %s and the database %s"
                      % (self.user, self.database), user=user, stdin=script)
        self._run(self.login_client(), "logging in as %s over TCP on %s:%d"
                  % (self.user, HOST, self.port))

    def url(self):
        return self.url_format % {
            "user": self.user, "password": self.password, "host": HOST,
            "port": self.port, "database": self.database}


class Postgres(SQLServer):
    """A private PostgreSQL cluster, run with pg_ctl (initdb, pg_ctl,
    psql of the newest PostgreSQL installed, or of the cluster's version).
    The user ``freezer`` has LOGIN CREATEDB and owns ``freezer_test``."""

    name = "postgres"
    url_variable = "FREEZER_TEST_PG_URL"
    port_variable = "FREEZER_TEST_PG_PORT"
    default_port = 55432
    url_format = ("postgresql+psycopg://%(user)s:%(password)s@%(host)s:"
                  "%(port)d/%(database)s")
    os_user = "postgres"
    os_user_home = "/var/lib/postgresql"
    root_admin = "postgres"
    packages = ("postgresql",)
    short_run_dir = "pg-run"
    client_variables = (
        "PGDATA", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE",
        "PGPASSWORD", "PGPASSFILE", "PGOPTIONS", "PGSERVICE",
        "PGSERVICEFILE", "PGSSLMODE", "PGTARGETSESSIONATTRS")
    programs = ("initdb", "pg_ctl", "psql")

    # -- binaries ------------------------------------------------------------
    def _complete(self, bindir):
        return all(os.access(os.path.join(bindir, program), os.X_OK)
                   for program in self.programs)

    def bindir(self, major=None):
        """The directory of PostgreSQL ``major``'s programs (by default the
        newest installed), or None."""
        if major:
            candidates = ["/usr/lib/postgresql/%s/bin" % major]
        else:
            def version(path):
                number = path.split("/")[-2]
                return int(number) if number.isdigit() else -1
            candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                key=version, reverse=True)
        for candidate in candidates:
            if self._complete(candidate):
                return candidate
        pg_config = shutil.which("pg_config")
        if not pg_config:
            return None
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True,
                timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None
        if not found or not self._complete(found):
            return None
        if major and (" %s." % major) not in subprocess.run(
                [os.path.join(found, "pg_ctl"), "--version"],
                capture_output=True, text=True).stdout:
            return None
        return found

    def cluster_version(self):
        """The major version that made the cluster (None: no cluster)."""
        try:
            with open(os.path.join(self.data, "PG_VERSION")) as f:
                return f.read().strip() or None
        except OSError:
            return None

    def program(self, name):
        """The path of PostgreSQL's ``name`` matching the cluster."""
        major = self.cluster_version()
        bindir = self.bindir(major)
        if bindir is None:
            raise base.ServiceError(
                "cluster %s was made by PostgreSQL %s, which is not "
                "installed; remove %s to start afresh"
                % (self.data, major, self.home) if major else
                "PostgreSQL is not installed (no initdb, pg_ctl and psql in "
                "/usr/lib/postgresql/*/bin)")
        return os.path.join(bindir, name)

    def installed(self):
        return self.bindir() is not None

    # -- state ---------------------------------------------------------------
    @property
    def socket_name(self):
        return ".s.PGSQL.%d" % self.port

    @property
    def pid_file(self):
        return os.path.join(self.data, "postmaster.pid")

    def server_marker(self):
        return self.data        # postgres -D <data>

    def running_port(self):
        """Line 4 of postmaster.pid."""
        if not self.running():
            return None
        try:
            with open(self.pid_file) as f:
                return int(f.read().split("\n")[3])
        except (OSError, ValueError, IndexError):
            return None

    def ready(self):
        """Does it accept connections (pg_isready) on its port?"""
        try:
            pg_isready = self.program("pg_isready")
        except base.ServiceError:
            return False
        port = self.running_port() or self.port
        return self._succeeds([pg_isready, "-q", "-h", HOST, "-p", str(port),
                               "-d", "postgres"])

    def initialised(self):
        return self.cluster_version() is not None

    def initialise(self):
        initdb = self.program("initdb")
        shutil.rmtree(self.data, ignore_errors=True)
        self._make_dir(self.data)
        os.chmod(self.data, 0o700)
        try:
            self._run([initdb, "-D", self.data, "-U", self.admin_user,
                       "--auth-local=peer", "--auth-host=scram-sha-256",
                       "--encoding=UTF8", "--locale=C", "--no-sync"],
                      "initdb", user=self.run_as)
        except base.ServiceError:
            shutil.rmtree(self.data, ignore_errors=True)
            raise

    def write_config(self):
        """Our settings, in freezer_testenv.conf, included by
        postgresql.conf; written on every start."""
        settings = [
            "# Written by tools/testenv/sql.py on every start; do not edit.",
            "listen_addresses = %s" % _sql_string(HOST),
            "port = %d" % self.port,
            "unix_socket_directories = %s" % _sql_string(self.run_dir),
            "max_connections = 200",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "logging_collector = off",
            "log_min_messages = warning",
        ]
        conf = os.path.join(self.data, "freezer_testenv.conf")
        with open(conf + ".tmp", "w") as f:
            f.write("\n".join(settings) + "\n")
        self._give(conf + ".tmp")
        os.replace(conf + ".tmp", conf)
        include = "include_if_exists = 'freezer_testenv.conf'"
        main_conf = os.path.join(self.data, "postgresql.conf")
        with open(main_conf) as f:
            present = any(line.startswith(include) for line in f)
        if not present:
            with open(main_conf, "a") as f:
                f.write("\n# freezer-api test environment\n%s\n" % include)

    # -- the Service steps ---------------------------------------------------
    def run_server(self):
        self.write_config()
        pg_ctl = self.program("pg_ctl")
        self.say("starting PostgreSQL %s on %s:%d (%s)" % (
            self._version(self.program("postgres")), HOST, self.port,
            self.data))
        self._run([pg_ctl, "start", "-D", self.data, "-l", self.log_file,
                   "-w", "-t", str(self.timeout)],
                  "starting PostgreSQL (start timeout %d s)" % self.timeout,
                  user=self.run_as, timeout=self.timeout + 30)

    def halt(self):
        pg_ctl = self.program("pg_ctl")
        self.say("stopping PostgreSQL (%s)" % self.data)
        for mode in ("fast", "immediate"):
            try:
                self._run([pg_ctl, "stop", "-D", self.data, "-m", mode, "-w",
                           "-t", str(self.timeout)],
                          "stopping PostgreSQL (%s)" % mode, user=self.run_as,
                          timeout=self.timeout + 30)
                return
            except base.ServiceError:
                if mode == "immediate":
                    raise
                self.say("fast shutdown failed, trying immediate shutdown")

    def admin_client(self):
        return [self.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", self.run_dir, "-p", str(self.port), "-U",
                self.admin_user, "-d", "postgres"], self.run_as

    def provisioning_sql(self):
        user, password = self.user, _sql_string(self.password)
        return """\
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%(user)s') THEN
        CREATE ROLE %(user)s LOGIN CREATEDB PASSWORD %(password)s;
    ELSE
        ALTER ROLE %(user)s LOGIN CREATEDB PASSWORD %(password)s;
    END IF;
END
$$;
SELECT 'CREATE DATABASE %(db)s OWNER %(user)s'
       || ' ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '%(db)s') \\gexec
ALTER DATABASE %(db)s OWNER TO %(user)s;
""" % {"user": user, "password": password, "db": self.database}

    def login_client(self):
        return [self.program("psql"), "-X", "-q", "-At", "-c", "SELECT 1",
                "postgresql://%s:%s@%s:%d/%s" % (
                    self.user, self.password, HOST, self.port,
                    self.database)]


class MariaDB(SQLServer):
    """A private MariaDB server: mariadbd started directly with
    --no-defaults (/etc/mysql is not read) on a datadir made by
    mariadb-install-db. The user ``freezer`` has ALL PRIVILEGES ON *.*, as
    freezer@127.0.0.1 and freezer@localhost, so that tests can create and
    drop databases of their own; ``freezer_test`` and the server default
    are utf8mb4 / utf8mb4_unicode_ci."""

    name = "mariadb"
    url_variable = "FREEZER_TEST_MYSQL_URL"
    port_variable = "FREEZER_TEST_MYSQL_PORT"
    default_port = 53306
    url_format = ("mysql+pymysql://%(user)s:%(password)s@%(host)s:"
                  "%(port)d/%(database)s?charset=utf8mb4")
    os_user = "mysql"
    os_user_home = "/nonexistent"
    root_admin = "root"
    packages = ("mariadb-server", "mariadb-client")
    short_run_dir = "my-run"
    socket_name = "mariadbd.sock"
    client_variables = ("MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT",
                        "MYSQL_PWD")
    # role -> the program's names, newest first
    programs = {"server": ("mariadbd", "mysqld"),
                "install_db": ("mariadb-install-db", "mysql_install_db"),
                "client": ("mariadb", "mysql"),
                "admin": ("mariadb-admin", "mysqladmin")}

    # -- binaries ------------------------------------------------------------
    def program(self, role, required=True):
        """The path of the program in ``role`` (``server``, ``install_db``,
        ``client``, ``admin``)."""
        path = self._env()["PATH"]
        for name in self.programs[role]:
            found = shutil.which(name, path=path)
            if found:
                return found
        if required:
            raise base.ServiceError("MariaDB is not installed (no %s found)"
                                    % " or ".join(self.programs[role]))
        return None

    def installed(self):
        return all(self.program(role, required=False)
                   for role in self.programs)

    # -- state ---------------------------------------------------------------
    @property
    def pid_file(self):
        return os.path.join(self.run_dir, "mariadbd.pid")

    def server_marker(self):
        return "--datadir=" + self.data

    def running_port(self):
        """The port of the running server, from its command line."""
        pid = self.pid()
        for arg in (base.cmdline(pid) or []) if pid else []:
            if arg.startswith("--port="):
                return int(arg[len("--port="):])
        return None

    def _admin_argv(self, *args):
        return [self.program("admin"), "--no-defaults", "--protocol=socket",
                "--socket=" + self.socket, "-u", self.admin_user, *args]

    def ready(self):
        """Does it answer mariadb-admin ping over its socket?"""
        try:
            argv = self._admin_argv("--connect-timeout=2", "ping")
        except base.ServiceError:
            return False
        return self._succeeds(argv)

    def _user_option(self):
        return ["--user=" + self.run_as] if self.run_as else []

    def initialised(self):
        return os.path.isdir(os.path.join(self.data, "mysql"))

    def initialise(self):
        """mariadb-install-db into data.init, renamed data once complete.
        Root gets a unix_socket account: no password over the socket."""
        install_db = self.program("install_db")
        draft = os.path.join(self.home, "data.init")
        for path in (draft, self.data):
            shutil.rmtree(path, ignore_errors=True)
        self._make_dir(draft)
        os.chmod(draft, 0o750)
        try:
            # --no-defaults must come first.
            self._run([install_db, "--no-defaults", *self._user_option(),
                       "--datadir=" + draft,
                       "--auth-root-authentication-method=socket",
                       "--skip-test-db", "--skip-name-resolve"],
                      "mariadb-install-db")
        except base.ServiceError:
            shutil.rmtree(draft, ignore_errors=True)
            raise
        os.rename(draft, self.data)

    # -- the Service steps ---------------------------------------------------
    def run_server(self):
        server = self.program("server")
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        self.say("starting MariaDB %s on %s:%d (%s)" % (
            self._version(server), HOST, self.port, self.data))
        process = base.spawn(
            [server, "--no-defaults", *self._user_option(),
             "--datadir=" + self.data,
             "--socket=" + self.socket,
             "--pid-file=" + self.pid_file,
             "--port=%d" % self.port,
             "--bind-address=" + HOST,
             "--skip-name-resolve",
             "--log-error=" + self.log_file,
             "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci",
             "--innodb-flush-log-at-trx-commit=2",
             "--skip-log-bin",
             "--innodb-buffer-pool-size=256M",
             "--max-connections=200"],
            self.log_file, env=self._env(), cwd="/")
        # Answering is not enough: running() needs the pid file, which
        # comes a little later.
        base.wait_for(lambda: self.ready() and self.running(), self.timeout,
                      "%s: MariaDB" % self.name,
                      process_alive=lambda: process.poll() is None,
                      log=self.log_file)

    def halt(self):
        pid = self.pid()
        self.say("stopping MariaDB (pid %s, %s)" % (pid, self.data))
        try:
            self._run(self._admin_argv("shutdown"), "mariadb-admin shutdown",
                      timeout=self.timeout)
        except base.ServiceError as exc:
            self.say("mariadb-admin shutdown failed (%s), sending SIGTERM"
                     % str(exc).split("\n")[0])
        if self._ours(pid) and not base.terminate(
                pid, self.timeout, name=self.name):
            raise base.ServiceError("could not stop mariadbd (pid %d)" % pid)
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass

    def admin_client(self):
        return [self.program("client"), "--no-defaults", "--protocol=socket",
                "--socket=" + self.socket, "-u", self.admin_user], None

    def provisioning_sql(self):
        # With --skip-name-resolve, TCP clients match '127.0.0.1', socket
        # clients 'localhost'.
        statements = [
            "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_unicode_ci;" % self.database]
        for host in ("127.0.0.1", "localhost"):
            account = "'%s'@'%s'" % (self.user, host)
            password = _sql_string(self.password)
            statements += [
                "CREATE USER IF NOT EXISTS %s IDENTIFIED BY %s;"
                % (account, password),
                "ALTER USER %s IDENTIFIED BY %s;" % (account, password),
                "GRANT ALL PRIVILEGES ON *.* TO %s;" % account]
        return "\n".join(statements) + "\n"

    def login_client(self):
        return [self.program("client"), "--no-defaults", "--protocol=tcp",
                "-h", HOST, "-P", str(self.port), "-u", self.user,
                "--password=" + self.password, "-D", self.database,
                "-e", "SELECT 1"]

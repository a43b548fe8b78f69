"""The test search engines: a throw-away OpenSearch 2.19 or Elasticsearch
7.17 node, and a 3-node OpenSearch cluster.

Each node is run by a small launcher built from Maven Central jars, in one
JVM (tools/opensearch-node, tools/elasticsearch-node: their README.rst).
The launcher is built here with Maven when its jar is missing or older than
its sources. The node lives in ``<base>/opensearch`` (or
``<base>/elasticsearch``) and listens on 127.0.0.1 only; its data is kept
across restarts (``wipe()`` deletes it).

The settings, with P = OPENSEARCH or ELASTICSEARCH (the constructor's
arguments win over them): P_PORT, P_HEAP (-Xms/-Xmx, default 512m),
P_JAVA_OPTS (appended to the JVM options), P_JAVA_HOME (the JDK, 17 or
newer), P_START_TIMEOUT (default 120 s), P_STOP_TIMEOUT (seconds between
SIGTERM and SIGKILL, default 60), P_NODE_ARGS (more launcher options,
split on spaces) and P_TRANSPORT_PORT (read by the launcher itself: its
transport port, default 0, any free one).

A node is ours when a process runs the launcher's jar with
``--home=<its state directory>``: the pid file is trusted when it names
such a process (pids get recycled), else /proc is searched (the pid file
may have been lost with a wiped state directory).
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

from tools.testenv import base
from tools.testenv import parallel

# (The services' constructors take an argument named ``base``.)
LOOPBACK, REPO = base.LOOPBACK, base.REPO
_setting, _int_setting = base.setting, base.int_setting
HEALTH = "/_cluster/health?wait_for_status=yellow&timeout=1s"


def _java_major(java):
    """The major version of the Java at ``java`` (17, 21...), or None."""
    try:
        result = subprocess.run(
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"^\s*java\.specification\.version = (?:1\.)?(\d+)",
                      result.stdout + result.stderr, re.MULTILINE)
    return int(found.group(1)) if found else None


def _how_it_ended(process):
    """How a launched JVM ended, in words (a start that failed says whether
    it exited by itself or something killed it)."""
    code = process.poll() if process is not None else None
    if code is None:
        return "its process had not exited"
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit status %d" % code


def _newer_than(path, when):
    """Is ``path``, or a file below it, modified after ``when``?"""
    if os.path.isfile(path):
        return os.stat(path).st_mtime > when
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            if os.stat(os.path.join(parent, name)).st_mtime > when:
                return True
    return False


def _threads_left(pid):
    """How many threads of process ``pid`` have not exited yet. Its main
    thread turns zombie as soon as it exits, while the JVM's other
    threads, and the sockets they share, may live a moment longer."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    left = 0
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, task)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        left += state not in ("Z", "X")
    return left


def _wait_gone(pid, timeout):
    """Wait until every thread of ``pid`` has exited (reaping it if it is
    our child): then its ports are free. False on timeout."""
    deadline = time.monotonic() + timeout
    while _threads_left(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


class SearchEngine(base.Service):
    """One node of OpenSearch or Elasticsearch (``engine``), run by
    tools/<engine>-node. ``heap``, ``java_opts`` (a string or a list),
    ``java_home``, ``node_args`` (a list), ``transport_port`` and ``env``
    (more variables for the JVM) override the P_* settings."""

    engine = None           # "opensearch" or "elasticsearch"
    title = None
    variables = None        # the prefix of its settings
    download = None         # what a first build fetches from Maven Central
    minimum_java = 17
    build_timeout = 900

    def __init__(self, base=None, port=None, heap=None, java_opts=None,
                 java_home=None, node_args=None, transport_port=None,
                 env=None):
        super().__init__(base, port)
        self.heap = heap or self.setting("HEAP", "512m")
        if java_opts is None:
            java_opts = self.setting("JAVA_OPTS", "")
        if isinstance(java_opts, str):
            java_opts = java_opts.split()
        self.java_opts = list(java_opts)
        self.java_home = java_home or self.setting("JAVA_HOME")
        if node_args is None:
            node_args = self.setting("NODE_ARGS", "").split()
        self.node_args = list(node_args)
        self.transport_port = transport_port
        self.extra_env = dict(env or {})
        self.stop_timeout = _int_setting(self.variables + "_STOP_TIMEOUT",
                                         60)
        # The launcher's Maven project.
        self.source = os.path.join(REPO, "tools", self.engine + "-node")
        self._java = None       # (java, its home) once chosen
        self._launched = None   # the pid this start launched, while waiting
        self._process = None    # its Popen (how it ended, if it did)

    @property
    def name(self):
        return self.engine

    @property
    def port_variable(self):
        return self.variables + "_PORT"

    @property
    def timeout_variable(self):
        return self.variables + "_START_TIMEOUT"

    def setting(self, suffix, default=None):
        """The setting P_``suffix`` of this engine."""
        return base.setting(self.variables + "_" + suffix, default)

    # -- files -----------------------------------------------------------
    @property
    def jar(self):
        return os.path.join(self.source, "target", self.engine + "-node.jar")

    @property
    def pid_file(self):
        return os.path.join(self.home, self.engine + ".pid")

    @property
    def ready_file(self):
        """``PID URL``, written by the launcher once it is set up."""
        return os.path.join(self.home, "node.ready")

    @property
    def log_file(self):
        """The JVM's stdout and stderr (warnings and errors)."""
        return os.path.join(self.home, "logs", "console.log")

    @property
    def node_log(self):
        """The node's own, complete log."""
        return os.path.join(self.home, "logs", self.engine + ".log")

    def url(self):
        return "http://%s:%d" % (base.LOOPBACK, self.port)

    # -- the JDK and the build -------------------------------------------
    def java(self):
        """(the java program, its JDK's home): P_JAVA_HOME, else a JDK 17
        under /usr/lib/jvm, then 21, JAVA_HOME, the java on PATH, any other
        JDK there; 17 or newer, with javac (Maven builds with it)."""
        if self._java:
            return self._java
        if self.java_home:
            candidates = [self.java_home]
        else:
            candidates = []
            for pattern in ("java-17-openjdk-*", "temurin-17-*",
                            "java-21-openjdk-*", "temurin-21-*"):
                candidates += sorted(glob.glob("/usr/lib/jvm/" + pattern))
            if os.environ.get("JAVA_HOME"):
                candidates.append(os.environ["JAVA_HOME"])
            on_path = shutil.which("java")
            if on_path:
                candidates.append(os.path.dirname(os.path.dirname(
                    os.path.realpath(on_path))))
            candidates += sorted(glob.glob("/usr/lib/jvm/*"))
        for home in candidates:
            java = os.path.join(home, "bin", "java")
            if not (os.access(java, os.X_OK)
                    and os.access(os.path.join(home, "bin", "javac"),
                                  os.X_OK)):
                if self.java_home:
                    raise base.ServiceError(
                        "%s_JAVA_HOME=%s is not a JDK (no bin/java and "
                        "bin/javac)" % (self.variables, home))
                continue
            major = _java_major(java)
            if major is not None and major >= self.minimum_java:
                self._java = (java, home)
                return self._java
            if self.java_home:
                raise base.ServiceError(
                    "%s is Java %s; need a JDK %d or newer"
                    % (home, major or "?", self.minimum_java))
        raise base.ServiceError(
            "no JDK %d+ found (apt-get install openjdk-17-jdk-headless, or "
            "set %s_JAVA_HOME)" % (self.minimum_java, self.variables))

    def build_reason(self):
        """Why the launcher needs a build, or None."""
        if not (os.path.isfile(self.jar)
                and os.path.isdir(os.path.join(self.source, "target",
                                               "lib"))):
            return "not built yet"
        built = os.stat(self.jar).st_mtime
        if any(_newer_than(os.path.join(self.source, part), built)
               for part in ("pom.xml", "src")):
            return "sources changed"
        return None

    def build(self):
        """Build the launcher if its jar is missing or older than its
        sources, under a lock of its own (several state directories, so
        several service locks, share one build)."""
        if not self.build_reason():
            return
        if not shutil.which("mvn"):
            raise base.ServiceError("mvn not found (apt-get install maven)")
        _java, java_home = self.java()
        with base.file_lock(os.path.join(self.source, ".build.lock"),
                            self.build_timeout, what="the build of %s"
                            % self.source):
            reason = self.build_reason()
            if not reason:
                return
            self.say("building %s (%s; a first build downloads %s from "
                     "Maven Central)" % (self.source, reason, self.download))
            began = time.monotonic()
            target = os.path.join(self.source, "target")
            log = os.path.join(target, "maven-build.log")
            # Remove, do not overwrite: nodes still running from these jars
            # keep reading the old files, and a jar rewritten in place can
            # crash them. Stale dependencies would also stay on the
            # manifest's class path.
            shutil.rmtree(os.path.join(target, "lib"), ignore_errors=True)
            for path in (self.jar, log):
                if os.path.exists(path):
                    os.unlink(path)
            os.makedirs(target, exist_ok=True)
            base.run(["mvn", "-B", "-ntp", "-Dstyle.color=never", "package"],
                     "the maven build of %s" % self.source, log=log,
                     timeout=self.build_timeout, cwd=self.source,
                     env=dict(os.environ, JAVA_HOME=java_home))
            if not os.path.isfile(self.jar):
                raise base.ServiceError("the build produced no %s (log: %s)"
                                        % (self.jar, log))
            os.utime(self.jar)
            self.say("built in %.0f s" % (time.monotonic() - began))

    def install(self):
        """The JDK, and the launcher built unless our node runs already
        (its jars are not touched under it)."""
        if not self.running():
            self.java()
            self.build()

    # -- our process ------------------------------------------------------
    def _ours(self, pid):
        """Is ``pid`` our launcher, serving this state directory?"""
        argv = base.cmdline(pid)
        return bool(argv) and "--home=" + self.home in argv and any(
            arg.endswith(self.engine + "-node.jar") for arg in argv)

    def pid(self):
        """Our node's pid (the launcher's JVM), or None."""
        pid = base.read_pid(self.pid_file)
        if pid and self._ours(pid):
            return pid
        for entry in os.listdir("/proc"):
            if entry.isdigit() and self._ours(int(entry)):
                return int(entry)
        return None

    def running(self):
        return self.pid() is not None

    def running_port(self):
        """The HTTP port our running node was started with, or None."""
        pid = self.pid()
        argv = base.cmdline(pid) if pid else None
        for arg in argv or ():
            if arg.startswith("--http-port="):
                return int(arg.split("=", 1)[1])
        return None

    def healthy(self):
        return base.http_ok(self.url() + HEALTH)

    def _marker_pid(self):
        try:
            with open(self.ready_file) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def ready(self):
        """It answers yellow or green; a node this start launched must also
        have written its node.ready, which proves the answer comes from
        it and not from another server that took the port meanwhile."""
        if self._launched is not None and \
                self._marker_pid() != self._launched:
            return False
        return self.healthy()

    def _forget(self):
        for path in (self.pid_file, self.ready_file):
            if os.path.exists(path):
                os.unlink(path)

    # -- start and stop ---------------------------------------------------
    def jvm_options(self):
        return [
            "-Xms" + self.heap, "-Xmx" + self.heap, "-Xss1m",
            "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-XX:-HeapDumpOnOutOfMemoryError",
            # C1 only: halves the start-up CPU (~17 s -> ~8 s on 2 cores),
            # plenty for a test node; java_opts=-XX:TieredStopAtLevel=4
            # (given after it) undoes it.
            "-XX:TieredStopAtLevel=1",
            "-Djava.io.tmpdir=" + os.path.join(self.home, "tmp"),
            "-Djava.net.preferIPv4Stack=true",
            "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8",
            "-Djna.nosys=true", "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            *self.java_opts]

    def node_env(self):
        env = dict(os.environ, **self.extra_env)
        if self.transport_port is not None:
            env[self.variables + "_TRANSPORT_PORT"] = str(self.transport_port)
        return env

    def launch(self):
        self._forget()
        if base.port_in_use(self.port):
            raise base.ServiceError(
                "%s:%d is already taken by another process (set %s)"
                % (base.LOOPBACK, self.port, self.port_variable))
        java, _home = self.java()
        base.private_dir(self.home)
        for sub in ("logs", "tmp"):
            os.makedirs(os.path.join(self.home, sub), exist_ok=True)
        self.say("starting %s on %s (state in %s, java %s)"
                 % (self.title, self.url(), self.home, java))
        process = base.spawn(
            [java, *self.jvm_options(), "-jar", self.jar,
             "--home=" + self.home, "--http-port=%d" % self.port,
             "--pidfile=" + self.pid_file, *self.node_args],
            self.log_file, env=self.node_env())
        # The launcher writes the same pid itself; written now, stop finds
        # the node while the JVM still boots.
        with open(self.pid_file, "w") as f:
            f.write("%d\n" % process.pid)
        self._launched, self._process = process.pid, process

    def wait(self, timeout=None):
        launched = self._launched
        port = self.running_port() if launched is None else None
        if port is not None and port != self.port:
            raise base.ServiceError(
                "the node of %s (pid %s) serves port %d, not %d; stop it "
                "first" % (self.home, self.pid(), port, self.port))
        try:
            # While a node this start launched boots, the Popen says
            # whether it lives: its pid file and /proc entry were seen to
            # miss a booting JVM under load ("exited during start-up" with
            # the JVM alive).
            super().wait(timeout, alive=self._booting if launched else None)
        except base.ServiceError as exc:
            if launched is None:
                raise base.ServiceError(
                    "%s\n(a node runs but is not healthy; stop it with "
                    "`python -m tools.testenv stop %s`; its log: %s)"
                    % (exc, self.engine, self.node_log))
            if self._ours(launched):
                self._halt(launched)
            raise base.ServiceError(
                "%s did not start (%s): %s\n(its log: %s)" % (
                    self.title, _how_it_ended(self._process), exc,
                    self.node_log))
        finally:
            self._launched = self._process = None

    def _booting(self):
        return self._process.poll() is None

    def provision(self):
        if not self.running():
            raise base.ServiceError("the node exited right after answering"
                                    " (log: %s)" % self.log_file)

    def _halt(self, pid):
        if not base.terminate(pid, self.stop_timeout, name=self.name):
            raise base.ServiceError("pid %d survived SIGKILL" % pid)
        _wait_gone(pid, 10)
        self._forget()

    def halt(self):
        pid = self.pid()
        if pid is not None:
            self._halt(pid)
            self.say("pid %d stopped" % pid)

    # -- for the tests ------------------------------------------------------
    def kill(self, timeout=60):
        """SIGKILL our node (a crash: no clean close, files left as they
        are) and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            raise base.ServiceError("no running node to kill in " + self.home)
        os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, timeout):
            raise base.ServiceError("pid %d survived SIGKILL" % pid)

    def wipe(self):
        """Stop the node and delete its data: a clean slate."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class OpenSearch(SearchEngine):
    engine = "opensearch"
    title = "OpenSearch"
    variables = "OPENSEARCH"
    default_port = 9200
    url_variable = "FREEZER_TEST_OPENSEARCH_URL"
    download = "~85 MB"


class Elasticsearch(SearchEngine):
    engine = "elasticsearch"
    title = "Elasticsearch"
    variables = "ELASTICSEARCH"
    default_port = 9201
    url_variable = "FREEZER_TEST_ELASTICSEARCH_URL"
    download = "~45 MB"


def _ports(ports, variable, default):
    if ports is None:
        ports = base.setting(variable, default).replace(",", " ").split()
    try:
        ports = [int(port) for port in ports]
    except ValueError:
        raise base.ServiceError("%s: not port numbers: %r" % (variable, ports))
    if len(ports) != 3:
        raise base.ServiceError("%s needs three ports, got %r"
                                % (variable, ports))
    return ports


class OpenSearchCluster(base.Service):
    """Three OpenSearch nodes on 127.0.0.1 forming one cluster, each an
    ``OpenSearch`` (``nodes[N - 1]``, in ``<base>/opensearch-cluster/
    node-N/opensearch``) with a fixed transport port, ``discovery.seed_hosts``
    naming the three and the three as the initial cluster managers. The
    nodes must start together the first time (the first election needs two
    of them); a node started alone later rejoins the others with its data.

    Indices get the engine's default of one replica per shard (the
    launcher's ``--default-replicas`` is left empty); freezer-api creates
    its own with ``[elasticsearch] number_of_replicas``.
    """

    name = "opensearch-cluster"
    cluster_name = "freezer-cluster"
    heap = "384m"
    # The cluster's own wait, once every node answers.
    health = ("/_cluster/health?wait_for_status=yellow&wait_for_nodes=ge(2)"
              "&timeout=60s")

    def __init__(self, base=None, http_ports=None, transport_ports=None,
                 heap=None, java_opts=None, env=None):
        super().__init__(base)
        self.http_ports = _ports(http_ports, "OPENSEARCH_CLUSTER_HTTP_PORTS",
                                 "9210 9211 9212")
        self.transport_ports = _ports(
            transport_ports, "OPENSEARCH_CLUSTER_TRANSPORT_PORTS",
            "9310 9311 9312")
        cluster_name = _setting("OPENSEARCH_CLUSTER_NAME", self.cluster_name)
        seeds = ",".join("%s:%d" % (LOOPBACK, port)
                         for port in self.transport_ports)
        names = ["node-%d" % n for n in (1, 2, 3)]
        self.nodes = [
            OpenSearch(
                base=os.path.join(self.home, name), port=http,
                transport_port=transport,
                heap=heap or _setting("OPENSEARCH_HEAP", self.heap),
                java_opts=java_opts, env=env,
                node_args=["--node-name=" + name,
                           "--cluster-name=" + cluster_name,
                           "--default-replicas=",
                           "-Ediscovery.type=zen",
                           "-Ediscovery.seed_hosts=" + seeds,
                           "-Ecluster.initial_cluster_manager_nodes="
                           + ",".join(names)])
            for name, http, transport in zip(names, self.http_ports,
                                             self.transport_ports)]

    @property
    def hosts(self):
        return [node.url() for node in self.nodes]

    def url(self):
        return ",".join(self.hosts)

    def node_home(self, number):
        return self._pick([number])[0].home

    def _pick(self, numbers):
        """The nodes numbered ``numbers`` (1 to 3; none: all)."""
        for number in numbers:
            if str(number) not in ("1", "2", "3"):
                raise base.ServiceError("no node %r (1, 2 or 3)" % (number,))
        return [self.nodes[int(n) - 1] for n in numbers] or list(self.nodes)

    def running(self):
        return all(node.running() for node in self.nodes)

    def ready(self):
        return all(node.status() for node in self.nodes)

    def _each(self, method, nodes):
        failures = parallel.failed(getattr(parallel, method)(nodes))
        if failures:
            raise base.ServiceError("; ".join(
                "node %d: %s" % (self.nodes.index(node) + 1, error)
                for node, error in failures))

    def start(self, *numbers):
        """Start nodes ``numbers`` (default all) side by side, wait until
        each answers and the cluster is at least yellow; the hosts (all
        three URLs)."""
        began = time.monotonic()
        nodes = self._pick(numbers)
        self._each("start", nodes)
        for node in nodes:
            try:
                with urllib.request.urlopen(node.url() + self.health,
                                            timeout=70):
                    pass
            except (OSError, urllib.error.URLError) as exc:
                raise base.ServiceError(
                    "node %d answers, but the cluster is not yellow: %s"
                    % (self.nodes.index(node) + 1, exc))
        self.say("nodes %s ready after %.1f s: %s" % (
            " ".join(str(self.nodes.index(n) + 1) for n in nodes),
            time.monotonic() - began, self.url()))
        return self.hosts

    def stop(self, *numbers):
        """Stop nodes ``numbers`` (default all) side by side."""
        self._each("stop", self._pick(numbers))

    def status(self):
        return self.ready()

    def logs(self, lines=40):
        return "\n".join("== node %d (%s)\n%s" % (n, node.log_file,
                                                  node.logs(lines))
                         for n, node in enumerate(self.nodes, 1))

    def wipe(self):
        """Stop every node and delete all their data."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

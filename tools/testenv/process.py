"""The one harness for a server under test: an HTTP server's command
line (freezer-api, gunicorn with any app, upstream's release) run in a
process group of its own on a loopback port, its output in a log file.

The functional tests (tests/functional/server.py) and the benchmarks
(benchmarks/servers.py) both start their servers through it, and write a
freezer-api configuration file with ``freezer_conf``.
"""

import http.client
import os
import signal
import subprocess
import time

from tools.testenv import base


class ServerProcess:
    """``argv`` (``{port}`` in it becomes the port) as a server.

    ``start`` returns once ``ready_path`` answers below 500 (or 2xx with
    ``ready_2xx``) and, with ``workers`` > 0, that many worker processes
    (children of the master) live."""

    def __init__(self, name, argv, directory, env=None, port=None,
                 cwd=base.REPO):
        self.name, self.argv, self.directory = name, list(argv), directory
        self.env, self.cwd = env, cwd
        self.port = port or base.free_port()
        self.proc = None

    @property
    def base_url(self):
        return "http://%s:%d" % (base.LOOPBACK, self.port)

    @property
    def log_path(self):
        return os.path.join(str(self.directory), "server.log")

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def answer(self, path, timeout=2):
        """The status of GET ``path``, or None when nothing answers."""
        conn = http.client.HTTPConnection(base.LOOPBACK, self.port,
                                          timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def start(self, timeout=60, ready_path="/healthcheck", ready_2xx=True,
              workers=0):
        """Start it; return once it answers (ServiceError, with the log's
        end, when it exits or does not answer within ``timeout``)."""
        os.makedirs(str(self.directory), exist_ok=True)
        argv = [str(part).format(port=self.port) for part in self.argv]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env=dict(os.environ, **(self.env or {})))

        def answers():
            status = self.answer(ready_path)
            good = status is not None and (
                200 <= status < 300 if ready_2xx else status < 500)
            return good and len(self.worker_pids()) >= workers
        try:
            base.wait_for(answers, timeout, self.name,
                          process_alive=lambda: self.proc.poll() is None)
        except base.ServiceError as exc:
            self.kill_all()
            raise base.ServiceError("%s\n%s" % (exc, self.log_tail()))
        return self

    def _live(self, field):
        """Live (not zombie) processes whose /proc stat ``field`` (1: the
        parent, 2: the process group) is the master's pid."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[field]) == self.proc.pid:
                pids.append(int(entry))
        return pids

    def worker_pids(self):
        """The live workers (children of the master)."""
        return self._live(1) if self.proc else []

    def group_pids(self):
        """Every live process of the server's group."""
        return self._live(2) if self.proc else []

    def kill_master(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def kill_all(self):
        """SIGKILL the master and every worker (the process group)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.wait_workers_gone()

    def wait_workers_gone(self, timeout=15):
        """Wait (bounded) until no process of the server's group lives."""
        deadline = time.monotonic() + timeout
        while self.group_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout=20):
        """SIGTERM (a graceful stop), SIGKILL of the group after
        ``timeout`` s; then nothing of it lives."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill_all()


def freezer_conf(path, url, port, workers=2, auth_strategy="noauth",
                 sections=None, extra=""):
    """Write the configuration file of a freezer-api on ``url``'s store,
    serving 127.0.0.1:``port`` (``url`` None: the store is named in
    ``sections``); ``path``. ``sections`` ({section: {option:
    value}}) adds to or overrides those options; ``extra`` is text put
    right after the [api] section (options of [api], then sections of its
    own)."""
    merged = {"DEFAULT": {"bind_host": base.LOOPBACK, "bind_port": port,
                          "auth_strategy": auth_strategy},
              "api": {"workers": workers}}
    if url:
        merged["database"] = {"connection": url}
    for section, values in (sections or {}).items():
        merged.setdefault(section, {}).update(values)
    with open(str(path), "w") as conf:
        for section, values in merged.items():
            conf.write("[%s]\n" % section)
            for option, value in values.items():
                conf.write("%s = %s\n" % (option, value))
            if section == "api":
                conf.write(extra)
            conf.write("\n")
    return path

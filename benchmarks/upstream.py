"""Upstream freezer-api (PyPI, v2, SQLite) beside this service, in its own
venv (tools.testenv.installs.Upstream), seeded over its own HTTP API (it
has no bulk path; only the small sizes are measured: its poll cost grows
with the number of jobs, so 10,000 jobs would take minutes per phase)."""

import os
import shutil
import subprocess
import sys

from benchmarks import loadgen
from benchmarks import servers
from benchmarks import workload
from tools.testenv import base as testenv
from tools.testenv import installs

VERSION = os.environ.get("BENCH_UPSTREAM_VERSION", "18.0.0")


def venv_dir(version=VERSION):
    """Where upstream ``version`` is installed (tools.testenv.installs.
    Upstream: ``$FREEZER_TESTENV_DIR/upstream/<version>``)."""
    return installs.Upstream().venv(version).path


def install(version=VERSION):
    """Install upstream ``version`` (once; tools.testenv.installs.Upstream,
    pinned by tools/upstream/freezer-api-<version>.txt); None, or why
    not."""
    try:
        installs.Upstream().ensure(version)
    except testenv.ServiceError as exc:
        return "upstream freezer-api %s did not install: %s" % (version, exc)
    return None


def server(version=VERSION, directory=None, connection=None, v1=False,
           workers=2):
    """An upstream server (not started) of ``version`` on ``connection``
    (default: a fresh SQLite file in ``directory``), serving v2, or v1
    when ``v1`` (18.0.0). ``freezer-manage db sync`` has run."""
    directory = directory or os.path.join(servers.WORK, "upstream-run")
    bin_dir = os.path.join(venv_dir(version), "bin")
    if connection is None:
        shutil.rmtree(directory, ignore_errors=True)
        connection = "sqlite:///%s/upstream.sqlite" % directory
    os.makedirs(directory, exist_ok=True)
    name = "upstream-%s-%s" % (version, "v1" if v1 else "v2")
    conf = os.path.join(directory, name + ".conf")
    with open(conf, "w") as out:
        out.write("[DEFAULT]\nenable_v1_api = %s\n\n"
                  "[storage]\nbackend = sqlalchemy\ndriver = sqlalchemy\n\n"
                  "[database]\nconnection = %s\n" % (v1, connection))
    subprocess.run([os.path.join(bin_dir, "freezer-manage"), "--config-file",
                    conf, "db", "sync"], check=True, capture_output=True)
    # Started in benchmarks/, so that ``import freezer_api`` finds
    # upstream's package, not this repository's.
    return servers.Server(
        name, servers.gunicorn_command("upstream_app:application",
                                       workers=workers, venv_bin=bin_dir),
        os.path.join(directory, name),
        env={"FREEZER_BENCH_UPSTREAM_CONF": conf},
        cwd=os.path.join(servers.REPO, "benchmarks"))


def _job_body(doc):
    return {key: doc[key] for key in ("client_id", "description",
                                      "job_schedule")} | {
        "job_actions": [{key: value for key, value in action.items()
                         if key not in ("action_id", "user_id",
                                        "project_id")}
                        for action in doc["job_actions"]]}


def seed_http(port, plan, total, threads=4):
    """Grow upstream's data set to ``total`` jobs like ``seed_jobs`` (the
    same documents), through its API."""
    rng = plan.rng
    first, last = plan.clients, max(plan.clients, total // workload.
                                    JOBS_PER_CLIENT)
    http = loadgen.Client(port, workload.PREFIX, workload.HEADERS,
                          loadgen.Budget(10 ** 9, 10 ** 9))
    if not plan.patch_jobs:
        special = workload.client_doc(-1, rng)["client"]
        http.call("POST", "/clients", special, expect=(201,))
        for number in range(workload.SESSIONS):
            session = http.call("POST", "/sessions", {
                "description": "benchmark session %d" % number,
                "schedule": {"schedule_interval": "1 days"},
                "hold_off": 2 ** 31 - 1}, expect=(201,)).json()
            job = workload.job_doc(special["client_id"], 1000 + number, rng)
            job_id = http.call("POST", "/jobs", _job_body(job),
                               expect=(201,)).json()["job_id"]
            http.call("PUT", "/sessions/%s/jobs/%s" % (
                session["session_id"], job_id), expect=(200, 204))
            plan.sessions.append((session["session_id"], job_id))
        for number in range(workload.PATCH_JOBS):
            job = workload.job_doc(special["client_id"], 2000 + number, rng)
            plan.patch_jobs.append(http.call(
                "POST", "/jobs", _job_body(job), expect=(201,)).json()[
                    "job_id"])
    for number in range(first, last):
        http.call("POST", "/clients", workload.client_doc(number, rng)[
            "client"], expect=(201,))
    for round_ in range(workload.JOBS_PER_CLIENT):
        status = "scheduled" if round_ < workload.ACTIVE_PER_CLIENT \
            else "completed"
        for number in range(first, last):
            job = workload.job_doc(workload.client_id(number),
                                   number * workload.JOBS_PER_CLIENT +
                                   round_, rng, status)
            job_id = http.call("POST", "/jobs", _job_body(job),
                               expect=(201,)).json()["job_id"]
            if len(plan.sample_jobs) < 5000 and rng.random() < 0.3:
                plan.sample_jobs.append(job_id)
    plan.clients = last


def main(argv):
    """``python -m benchmarks.upstream install VERSION...``: install the
    venvs of these releases (``make test`` does, before the tests)."""
    if len(argv) < 2 or argv[0] != "install":
        print("usage: python -m benchmarks.upstream install VERSION...",
              file=sys.stderr)
        return 2
    for version in argv[1:]:
        problem = install(version)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print("upstream freezer-api %s: %s" % (version, venv_dir(version)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

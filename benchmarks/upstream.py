"""Upstream freezer-api (PyPI, v2, SQLite) beside this service, in its own
venv under .data/bench/upstream, seeded over its own HTTP API (it has no
bulk path; only the small sizes are measured: its poll cost grows with
the number of jobs, so 10,000 jobs would take minutes per phase)."""

import os
import shutil
import subprocess
import sys

from benchmarks import loadgen
from benchmarks import servers
from benchmarks import workload

VERSION = os.environ.get("BENCH_UPSTREAM_VERSION", "18.0.0")
VENV = os.path.join(servers.WORK, "upstream")
BIN = os.path.join(VENV, "bin")


def install():
    """Create the venv and install upstream (once); None, or why not."""
    marker = os.path.join(VENV, ".installed-" + VERSION)
    if os.path.exists(marker):
        return None
    try:
        if not os.path.exists(os.path.join(BIN, "python")):
            subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                            VENV], check=True, capture_output=True)
            subprocess.run([os.path.join(BIN, "python"), "-m", "ensurepip"],
                           check=True, capture_output=True)
        subprocess.run([os.path.join(BIN, "pip"), "install", "-q",
                        "freezer-api==" + VERSION, "gunicorn"],
                       check=True, capture_output=True, text=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return "upstream freezer-api %s did not install: %s" % (
            VERSION, str(detail).strip()[-500:])
    open(marker, "w").close()
    return None


def server():
    """A fresh upstream database and its server (not started)."""
    directory = os.path.join(servers.WORK, "upstream-run")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    conf = os.path.join(directory, "freezer-api.conf")
    with open(conf, "w") as out:
        out.write("[DEFAULT]\nenable_v1_api = False\n\n"
                  "[storage]\nbackend = sqlalchemy\ndriver = sqlalchemy\n\n"
                  "[database]\nconnection = sqlite:///%s/upstream.sqlite\n"
                  % directory)
    subprocess.run([os.path.join(BIN, "freezer-manage"), "--config-file",
                    conf, "db", "sync"], check=True, capture_output=True)
    # Started in benchmarks/, so that ``import freezer_api`` finds
    # upstream's package, not this repository's.
    return servers.Server(
        "upstream-" + VERSION,
        servers.gunicorn_command("upstream_app:application", venv_bin=BIN),
        directory, env={"FREEZER_BENCH_UPSTREAM_CONF": conf},
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

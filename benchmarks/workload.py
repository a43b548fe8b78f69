"""What the benchmark stores and what it asks: the documents (seeded in
bulk through the storage driver), and one script per phase, sent alike to
every target (this service on each backend, the bare-Falcon ceiling,
upstream).

The data set: one project, one user; ``total`` jobs spread over
``total / JOBS_PER_CLIENT`` clients (agents), inserted in rounds so that
the jobs of one client are scattered over the table as they are when
agents register over time. Each client has ACTIVE_PER_CLIENT jobs to run
and the rest completed, so the scheduler's poll (which skips completed
jobs) reads two pages: 10 jobs, then 6. Beside them: SESSIONS sessions
of one member job each (one per load thread: start+end of a session is a
compare-and-set write every time) and PATCH_JOBS jobs that the job-PATCH
phase rewrites.
"""

from concurrent import futures
import random
import uuid

from freezer_api.domain import kinds
from freezer_api.domain import sessions as session_rules
from freezer_api import schemas
from freezer_api.storage import base as storage_base

PROJECT = "benchproject"
USER = "benchuser"
HEADERS = {"X-User-Id": USER, "X-Project-Id": PROJECT,
           "X-Roles": "member,reader"}
PREFIX = "/v2/" + PROJECT
JOBS_PER_CLIENT = 20
ACTIVE_PER_CLIENT = 16
PAGE = 10
SESSIONS = 8
PATCH_JOBS = 8
SPECIAL_HOST = "benchspecial"
EPOCH = 1_700_000_000
BATCH = 2000


def client_id(number):
    return "%s_host%06d" % (PROJECT, number)


def _id(rng):
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def client_doc(number, rng):
    cid = client_id(number) if number >= 0 else \
        "%s_%s" % (PROJECT, SPECIAL_HOST)
    info = {"client_id": cid, "hostname": cid.split("_", 1)[1],
            "description": "benchmark agent", "uuid": _id(rng),
            "supported_actions": list(schemas.SUPPORTED_ACTIONS),
            "supported_modes": list(schemas.SUPPORTED_MODES),
            "supported_storages": list(schemas.SUPPORTED_STORAGES),
            "supported_engines": list(schemas.SUPPORTED_ENGINES)}
    return {"client": info, "client_id": cid, "user_id": USER,
            "project_id": PROJECT}


def job_doc(cid, number, rng, status="scheduled"):
    """A job as the service stores it (about 1 KB of JSON)."""
    host = cid.split("_", 1)[1]
    action = {"action": "backup", "mode": "fs", "storage": "swift",
              "engine_name": "tar", "compression": "gzip",
              "path_to_backup": "/var/lib/app%d" % (number % 7),
              "backup_name": "%s-app%d" % (host, number % 7),
              "container": "freezer_%s" % host, "max_level": 7,
              "log_file": "/var/log/freezer-agent/%s.log" % host}
    return {
        "job_id": _id(rng), "user_id": USER, "project_id": PROJECT,
        "client_id": cid,
        "description": "backup %d of %s, every night" % (number, host),
        "job_schedule": {"time_created": EPOCH + number,
                         "time_started": -1, "time_ended": -1,
                         "schedule_interval": "1 days",
                         "schedule_start_date": "2026-01-01T02:00:00",
                         "status": status, "event": "", "result": ""},
        "job_actions": [
            {"action_id": _id(rng), "user_id": USER,
             "project_id": PROJECT, "max_retries": 3,
             "max_retries_interval": 60, "mandatory": False,
             "freezer_action": action},
            {"action_id": _id(rng), "user_id": USER,
             "project_id": PROJECT, "max_retries": 1,
             "max_retries_interval": 10, "mandatory": True,
             "freezer_action": {"action": "info", "mode": "fs",
                                "storage": "swift",
                                "container": "freezer_%s" % host}}],
        "session_id": "", "session_tag": 0}


def canned_page(count):
    """``count`` jobs for the ceiling's answers (same shape and size as
    the service's)."""
    rng = random.Random(7)
    return [job_doc(client_id(0), n, rng) for n in range(count)]


class Plan:
    """The ids the phases use, built while seeding (or, for a target
    seeded over HTTP, by ``seed_http``)."""

    def __init__(self):
        self.clients = 0            # clients 0 .. clients-1 are seeded
        self.sample_jobs = []       # job ids for get-by-id
        self.sessions = []          # (session_id, job_id), one per thread
        self.patch_jobs = []        # job ids, one per thread
        self.rng = random.Random(42)

    @property
    def jobs(self):
        return self.clients * JOBS_PER_CLIENT


def _batches(docs, size=BATCH):
    batch = []
    for item in docs:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(driver, operations):
    for batch in _batches(operations):
        driver.load(batch)


def seed_fixed(driver, plan):
    """The special client, its sessions (with one member job each) and the
    jobs the PATCH phase rewrites."""
    rng = plan.rng
    special = client_doc(-1, rng)
    cid = special["client_id"]
    ops = [storage_base.Insert(kinds.CLIENTS, special)]
    for number in range(SESSIONS):
        session = session_rules.new_session(
            {"description": "benchmark session %d" % number,
             "schedule": {"schedule_interval": "1 days"},
             # Every start after the first joins the current run (a
             # compare-and-set write), however late it comes.
             "hold_off": 2 ** 31 - 1},
            _id(rng), USER, PROJECT)
        session.update(session_tag=1, time_start=EPOCH, status="running")
        job = job_doc(cid, 1000 + number, rng)
        session, job = session_rules.attach(session, job)
        job["session_tag"] = 1
        schemas.validate("job", job)
        ops += [storage_base.Insert(kinds.SESSIONS, session),
                storage_base.Insert(kinds.JOBS, job)]
        plan.sessions.append((session["session_id"], job["job_id"]))
    for number in range(PATCH_JOBS):
        job = job_doc(cid, 2000 + number, rng)
        ops.append(storage_base.Insert(kinds.JOBS, job))
        plan.patch_jobs.append(job["job_id"])
    _insert(driver, ops)


def seed_jobs(driver, plan, total, parallel=1):
    """Grow the data set to ``total`` jobs (new clients, their jobs in
    rounds) with the driver's bulk ``load``, ``parallel`` batches at a
    time (the batches of clients come first). Returns the number of
    documents written."""
    rng = plan.rng
    first, last = plan.clients, max(plan.clients, total // JOBS_PER_CLIENT)
    if last == first:
        return 0

    def operations():
        for number in range(first, last):
            yield storage_base.Insert(kinds.CLIENTS,
                                      client_doc(number, rng))
        for round_ in range(JOBS_PER_CLIENT):
            status = "scheduled" if round_ < ACTIVE_PER_CLIENT \
                else "completed"
            for number in range(first, last):
                job = job_doc(client_id(number),
                              number * JOBS_PER_CLIENT + round_, rng,
                              status)
                if len(plan.sample_jobs) < 5000 and rng.random() < 0.3:
                    plan.sample_jobs.append(job["job_id"])
                yield storage_base.Insert(kinds.JOBS, job)

    written = 0
    with futures.ThreadPoolExecutor(parallel) as pool:
        pending = set()
        for batch in _batches(operations()):
            if len(pending) >= parallel:
                done, pending = futures.wait(
                    pending, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    written += future.result()
            pending.add(pool.submit(_apply, driver, batch))
        for future in pending:
            written += future.result()
    plan.clients = last
    return written


def _apply(driver, batch):
    driver.load(batch)
    return len(batch)


# -- the phases: one script per phase, the same for every target ----------

def poll_body(client_number):
    """The scheduler's search body (upstream's GET-with-body form)."""
    return {"match_not": [{"status": "completed"}],
            "match": [{"client_id": client_id(client_number)}]}


def _pick_client(plan, thread, iteration, threads):
    # Spread the threads over every client, each its own sequence.
    return (iteration * threads + thread) * 7919 % plan.clients


def poll_script(plan, threads, form="body"):
    """Poll as freezer-scheduler does: pages of 10 until a short page."""
    def script(http, thread, iteration):
        number = _pick_client(plan, thread, iteration, threads)
        offset = 0
        while True:
            if form == "body":
                answer = http.call("GET", "/jobs/?limit=%d&offset=%d"
                                   % (PAGE, offset), poll_body(number))
            else:
                answer = http.call(
                    "GET", "/jobs/?client_id=%s&limit=%d&offset=%d"
                    % (client_id(number), PAGE, offset))
            count = len(answer.json()["jobs"])
            offset += count
            if count < PAGE:
                return
    return script


def collect_etags(http, plan, clients):
    """ETag of each page of the first ``clients`` clients' polls."""
    etags = {}
    for number in range(min(clients, plan.clients)):
        offset = 0
        while True:
            answer = http.call("GET", "/jobs/?limit=%d&offset=%d"
                               % (PAGE, offset), poll_body(number))
            etags[(number, offset)] = answer.headers.get("etag")
            count = len(answer.json()["jobs"])
            offset += count
            if count < PAGE:
                break
    return etags


def poll_304_script(etags, threads):
    """The poll of an agent whose jobs did not change: every page is
    asked with the ETag it got last time."""
    pages = sorted(etags)

    def script(http, thread, iteration):
        number, offset = pages[(iteration * threads + thread) % len(pages)]
        http.call("GET", "/jobs/?limit=%d&offset=%d" % (PAGE, offset),
                  poll_body(number),
                  headers={"If-None-Match": etags[(number, offset)]},
                  expect=(304,))
    return script


def get_script(plan):
    def script(http, thread, iteration):
        jobs = plan.sample_jobs
        http.call("GET", "/jobs/%s" % jobs[(iteration * 31 + thread * 7)
                                           % len(jobs)])
    return script


def session_script(plan, strict=True):
    """A member job starts its session's run and ends it: two
    compare-and-set writes of the session (``strict``: both must answer
    success, as they do with the sessions ``seed_fixed`` makes)."""
    def script(http, thread, iteration):
        session_id, job_id = plan.sessions[thread % len(plan.sessions)]
        path = "/sessions/%s/action" % session_id
        started = http.call("POST", path, {"start": {
            "job_id": job_id, "current_tag": 0}}, expect=(202,)).json()
        if strict and started["result"] != "success":
            raise RuntimeError("session start: %s" % started)
        ended = http.call("POST", path, {"end": {
            "job_id": job_id,
            "current_tag": int(started.get("session_tag") or 0),
            "result": "success"}}, expect=(202,)).json()
        if strict and ended["result"] != "success":
            raise RuntimeError("session end: %s" % ended)
    return script


def patch_script(plan):
    """The v2 scheduler's job update: only the schedule and the session
    fields (``update_job_metadata``); the status alternates, so every
    PATCH is a write."""
    def script(http, thread, iteration):
        job_id = plan.patch_jobs[thread % len(plan.patch_jobs)]
        status = "running" if iteration % 2 == 0 else "scheduled"
        http.call("PATCH", "/jobs/%s" % job_id, {
            "job_schedule": {"status": status, "event": "", "result": "",
                             "time_started": EPOCH + iteration,
                             "time_ended": -1},
            "session_id": "", "session_tag": 0})
    return script

"""Profile one request type in-process: the real application (as
``freezer-api`` builds it, noauth) over a seeded store (a SQLite file by
default; ``--database URL`` or ``--opensearch URL`` for another backend),
called through WSGI without a server, under cProfile; or just timed.

    python -m benchmarks.profile [poll|poll_qs|poll_304|get|session|patch]
        [--jobs N] [--requests N] [--time]
        [--database URL | --opensearch URL]
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time

from falcon import testing

from benchmarks import servers
from benchmarks import workload
from freezer_api import app as app_module


def _environ(method, path, body=None, headers=None):
    raw = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    all_headers = dict(workload.HEADERS, **(headers or {}))
    all_headers["Accept"] = "application/json"
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    env = testing.create_environ(path=workload.PREFIX + path,
                                 query_string=query, method=method,
                                 headers=all_headers, body=raw)
    return env, raw


def requests_for(phase, plan):
    """A list of (method, path, body, headers, expected status)."""
    if phase == "poll":
        return [("GET", "/jobs/?limit=10&offset=0", workload.poll_body(n),
                 None, 200) for n in range(min(plan.clients, 200))]
    if phase == "poll_qs":
        return [("GET", "/jobs/?client_id=%s&limit=10&offset=0"
                 % workload.client_id(n), None, None, 200)
                for n in range(min(plan.clients, 200))]
    if phase == "get":
        return [("GET", "/jobs/" + job, None, None, 200)
                for job in plan.sample_jobs[:200]]
    if phase == "session":
        session_id, job_id = plan.sessions[0]
        path = "/sessions/%s/action" % session_id
        return [("POST", path, {"start": {"job_id": job_id,
                                          "current_tag": 0}}, None, 202),
                ("POST", path, {"end": {"job_id": job_id, "current_tag": 1,
                                        "result": "success"}}, None, 202)]
    if phase == "patch":
        return [("PATCH", "/jobs/" + plan.patch_jobs[0], {
            "job_schedule": {"status": status, "event": "", "result": "",
                             "time_started": 1, "time_ended": -1},
            "session_id": "", "session_tag": 0}, None, 200)
            for status in ("running", "scheduled")]
    raise SystemExit("unknown phase %s" % phase)


def call(app, request):
    method, path, body, headers, expected = request
    env, _ = _environ(method, path, body, headers)
    status = []

    def start_response(line, response_headers, exc_info=None):
        status.append((line, dict(response_headers)))
    body_out = b"".join(app(env, start_response))
    if int(status[0][0][:3]) != expected:
        raise SystemExit("%s %s: %s %s" % (method, path, status[0][0],
                                           body_out[:300]))
    return status[0][1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", nargs="?", default="poll")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--time", action="store_true",
                        help="only time the requests, no profiler")
    parser.add_argument("--database", metavar="URL",
                        help="a SQLAlchemy URL of an empty database "
                             "instead of a new SQLite file")
    parser.add_argument("--opensearch", metavar="URL",
                        help="the search-engine driver on this node "
                             "(indices freezer-profile-*) instead of SQLite")
    args = parser.parse_args()
    if args.opensearch:
        conf = servers.make_conf(**{
            "auth_strategy": "noauth", "storage.driver": "elasticsearch",
            "elasticsearch.hosts": [args.opensearch],
            "elasticsearch.index_prefix": "freezer-profile"})
    else:
        directory = tempfile.mkdtemp(prefix="freezer-profile-")
        conf = servers.make_conf(**{
            "auth_strategy": "noauth", "database.connection":
            args.database or "sqlite:///%s" % os.path.join(
                directory, "freezer.sqlite")})
    app = app_module.create_app(conf)
    if args.database:
        app.storage.upgrade()
    if args.opensearch:
        app.storage.drop_indices()
        app.storage.upgrade()
    plan = workload.Plan()
    workload.seed_fixed(app.storage, plan)
    workload.seed_jobs(app.storage, plan, args.jobs)
    phase = args.phase
    if phase == "poll_304":
        requests = requests_for("poll", plan)
        requests = [(m, p, b, {"If-None-Match": call(app, r)["etag"]}, 304)
                    for r in requests for m, p, b, _h, _e in [r]]
    else:
        requests = requests_for(phase, plan)
    for request in requests[:50]:  # warm-up
        call(app, request)
    profiler = None if args.time else cProfile.Profile()
    started = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(args.requests):
        call(app, requests[n % len(requests)])
    if profiler:
        profiler.disable()
    spent = time.process_time() - started
    print("%s: %.3f ms CPU per request (%d requests, %d jobs%s)" % (
        phase, spent * 1000 / args.requests, args.requests, args.jobs,
        ", profiled" if profiler else ""), file=sys.stderr)
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        print(out.getvalue())


if __name__ == "__main__":
    main()

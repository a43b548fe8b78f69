"""``make bench``: this service on every available backend, the bare-Falcon
ceiling and upstream freezer-api, side by side, at growing job counts.

Environment (all optional):

    BENCH_SIZES      job counts, ascending (100,1000,10000,100000)
    BENCH_BACKENDS   sqlite,postgresql,opensearch (those that start)
    BENCH_SECONDS    seconds per phase and server (1.5), BENCH_REQUESTS its
                     cap (20000)
    BENCH_THREADS    concurrent clients (4)
    BENCH_UPSTREAM   1: also upstream freezer-api (default), 0: not
    BENCH_UPSTREAM_MAX_JOBS  largest size upstream is measured at (1000)
    BENCH_PHASES     phases to run (poll,poll_qs,poll_304,get,session,patch)
    BENCH_ENGINE_WARMUP  at most this many seconds of unmeasured reads
                     before the search engine's first measure (240; at
                     least 60; 30 at most at each later size), until its
                     CPU per request holds still: its JIT compiles the
                     search path as it runs
    BENCH_OPENSEARCH_JAVA_OPTS, BENCH_OPENSEARCH_HEAP  the node's JVM
                     (C2 JIT on, 1g)
    BENCH_SLICE      seconds of each slice the service and the ceiling
                     alternate in (0.5)
    BENCH_UPSTREAM_VERSION  the upstream release from PyPI (18.0.0)
    BENCH_SERVER     the gunicorn worker class of every server measured:
                     sync (default) or worker (freezer_api.worker, what
                     the freezer-api command runs; results in
                     latest-worker.*)
    BENCH_KEEPALIVE  1: each client thread keeps its connection open
                     where the server allows (0: one per request)
    BENCH_PG_URL, BENCH_OPENSEARCH_URL  use that PostgreSQL server or
                     search engine instead of a private one
    BENCH_PG_PORT, BENCH_OPENSEARCH_PORT  the private ones' ports (55490,
                     9290)

Writes benchmarks/results/latest.{md,json}, poll_cpu.png and explain.md
(with BENCH_SERVER=worker: latest-worker.{md,json}, ...),
and prints the table.
"""

import datetime
import json
import os
import sys
import time
import traceback

from benchmarks import loadgen
from benchmarks import procstat
from benchmarks import servers
from benchmarks import workload

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "results")
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "1.5"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20000"))
SIZES = [int(x) for x in os.environ.get(
    "BENCH_SIZES", "100,1000,10000,100000").split(",")]
BACKENDS = [name.strip() for name in os.environ.get(
    "BENCH_BACKENDS", "sqlite,postgresql,opensearch").split(",")
    if name.strip()]
UPSTREAM = os.environ.get("BENCH_UPSTREAM", "1") == "1"
UPSTREAM_MAX = int(os.environ.get("BENCH_UPSTREAM_MAX_JOBS", "1000"))
ETAG_CLIENTS = 200
SLICE = float(os.environ.get("BENCH_SLICE", "0.5"))
ENGINE_WARMUP = float(os.environ.get("BENCH_ENGINE_WARMUP", "240"))
# Every server of a run on the same gunicorn worker class: "sync" or
# "worker" (freezer_api.worker, what the freezer-api command runs).
SERVER = os.environ.get("BENCH_SERVER", "sync")
# 1: every client thread keeps its connection open (where the server lets
# it: gunicorn's sync workers close each one); 0: a new one per request.
KEEPALIVE = os.environ.get("BENCH_KEEPALIVE", "0") == "1"
if SERVER not in servers.WORKER_CLASSES:
    raise SystemExit("BENCH_SERVER: one of %s" % ", ".join(
        servers.WORKER_CLASSES))

READS = ("poll", "poll_qs", "poll_304", "get")
WRITES = ("session", "patch")
PHASES = [name.strip() for name in os.environ.get(
    "BENCH_PHASES", ",".join(READS + WRITES)).split(",") if name.strip()]
PHASE_TITLES = {
    "poll": "poll (GET with body)", "poll_qs": "poll (query string)",
    "poll_304": "poll, If-None-Match: 304", "get": "job by id",
    "session": "session start+end", "patch": "job PATCH (v2 scheduler)"}


def log(text):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), text),
          file=sys.stderr, flush=True)


class Side:
    """One server under measurement: its port, its processes and those of
    its backend, and what a phase accumulates on it."""

    def __init__(self, server, db_pid=None):
        self.server, self.db_pid = server, db_pid

    def http(self):
        return loadgen.Client(self.server.port, workload.PREFIX,
                              workload.HEADERS,
                              loadgen.Budget(10 ** 9, 10 ** 9), KEEPALIVE)

    def warm(self, script):
        # Every worker builds its lazy state (policy rules, statements,
        # pools) before the meters start.
        loadgen.run(self.server.port, workload.PREFIX, workload.HEADERS,
                    script, threads=THREADS, seconds=0.5, requests=40,
                    keep_alive=KEEPALIVE)

    def slice(self, script, seconds, requests):
        """Load for ``seconds``: (Result, app CPU s, backend CPU s)."""
        app = procstat.Meter(self.server.proc.pid)
        db = procstat.Meter(self.db_pid) if self.db_pid else None
        app.start()
        if db:
            db.start()
        result = loadgen.run(self.server.port, workload.PREFIX,
                             workload.HEADERS, script, threads=THREADS,
                             seconds=seconds, requests=requests,
                             keep_alive=KEEPALIVE)
        return result, app.stop(), db.stop() if db else 0.0


class Tally:
    def __init__(self):
        self.latencies, self.errors = [], []
        self.elapsed = self.app = self.db = 0.0

    def add(self, result, app, db):
        self.latencies += result.latencies
        self.errors += result.errors
        self.elapsed += result.elapsed
        self.app += app
        self.db += db

    def row(self, side):
        result = loadgen.Result(self.latencies, self.elapsed, self.errors)
        n = max(result.requests, 1)
        return {"requests": result.requests,
                "seconds": round(result.elapsed, 3),
                "rate": round(result.rate, 1),
                "p50": round(result.percentile(50), 2),
                "p99": round(result.percentile(99), 2),
                "app_cpu_ms": round(self.app * 1000 / n, 3),
                "db_cpu_ms": round(self.db * 1000 / n, 3),
                "cpu_ms": round((self.app + self.db) * 1000 / n, 3),
                "rss_mb": round(max([procstat.rss_mb(p) for p in
                                     side.server.workers()] or [0]), 1),
                "errors": sorted(set(self.errors))[:3]}


def paired(target, ceiling, name, script, ceiling_script, others=()):
    """Phase ``name`` on ``target``, on the ceiling and on ``others``
    (``(key, side, script)``: more ceilings, each reported under ``key``),
    in alternating slices of SLICE seconds, each round in a rotated order:
    whatever else loads the machine weighs on all of them alike, so their
    ratios hold even when the absolute figures drift."""
    sides = [(target, script), (ceiling, ceiling_script)] + [
        (side, other_script) for _key, side, other_script in others]
    for side, phase_script in sides:
        side.warm(phase_script)
    slices = max(2, int(round(SECONDS / SLICE)))
    tallies = [Tally() for _side in sides]
    for number in range(slices):
        for step in range(len(sides)):
            index = (number + step) % len(sides)
            side, phase_script = sides[index]
            tallies[index].add(*side.slice(phase_script, SLICE,
                                           REQUESTS // slices))
    row = tallies[0].row(target)
    keys = ["ceiling"] + [key for key, _side, _script in others]
    for key, tally, (side, _script) in zip(keys, tallies[1:], sides[1:]):
        base = tally.row(side)
        row.update({key + "_cpu_ms": base["cpu_ms"],
                    key + "_p99": base["p99"], key + "_rate": base["rate"],
                    key + "_errors": base["errors"]})
    row.update(phase=name)
    return row


def scripts(plan, http, phases, strict):
    """{phase: script} (the 304 phase first collects the ETags of the
    first pages of ETAG_CLIENTS clients; a server sending none has no 304
    phase)."""
    table = {}
    for name in phases:
        if name in ("poll", "poll_qs"):
            table[name] = workload.poll_script(
                plan, THREADS, "body" if name == "poll" else "query")
        elif name == "poll_304":
            etags = workload.collect_etags(http, plan, ETAG_CLIENTS)
            if all(tag is not None for tag in etags.values()):
                table[name] = workload.poll_304_script(etags, THREADS)
        elif name == "get":
            table[name] = workload.get_script(plan)
        elif name == "session":
            table[name] = workload.session_script(plan, strict)
        elif name == "patch":
            table[name] = workload.patch_script(plan)
    return table


def measure_all(label, target, ceiling, plan, jobs, phases, rows,
                backend_ceiling=None):
    """Every phase on ``target`` against the bare ceiling and, given one,
    the backend-inclusive ceiling (its figures under "backend_ceiling")."""
    strict = not label.startswith("upstream")
    mine = scripts(plan, target.http(), phases, strict)
    theirs = scripts(plan, ceiling.http(), phases, True)
    backends = scripts(plan, backend_ceiling.http(), phases, True) \
        if backend_ceiling else {}
    for name in phases:
        if name not in mine:
            continue
        log("%s, %s jobs: %s" % (label, jobs, name))
        others = [("backend_ceiling", backend_ceiling, backends[name])] \
            if name in backends else []
        row = paired(target, ceiling, name, mine[name], theirs[name],
                     others)
        row.update(target=label, jobs=jobs)
        rows.append(row)
        log("  %(rate).0f req/s, p50 %(p50).1f ms, p99 %(p99).1f ms, "
            "%(cpu_ms).2f ms CPU/req (ceiling %(ceiling_cpu_ms).2f%(more)s), "
            "RSS %(rss_mb).0f MB %(errors)s" % dict(row, more=(
                ", with the backend %.2f" % row["backend_ceiling_cpu_ms"])
                if "backend_ceiling_cpu_ms" in row else ""))


def explain(backend, driver, plan):
    """The plan of the poll's statement, for explain.md."""
    from freezer_api.domain import kinds
    from freezer_api.domain import search
    from freezer_api.storage import base
    from freezer_api.storage.sqlalchemy import models
    query = search.build_query(workload.poll_body(plan.clients // 2),
                               limit=workload.PAGE, offset=workload.PAGE)
    scope = base.Scope(project_id=workload.PROJECT)
    T = models.documents
    stmt, params = driver.statement(kinds.JOBS, scope, query, T.c.pk,
                                    T.c.changed, T.c.doc)
    sql = str(stmt.params(params).compile(
        driver.engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else \
        "EXPLAIN (ANALYZE, BUFFERS) "
    import sqlalchemy as sa
    with driver.engine.connect() as conn:
        lines = [" ".join(str(c) for c in row)
                 for row in conn.execute(sa.text(prefix + sql))]
    return sql, lines


def run_backend(name, ceiling, rows, notes, explains):
    try:
        backend = servers.BACKENDS[name]()
    except Exception as exc:  # a backend that cannot start is skipped
        notes.append("%s: not measured (%s)" % (name, str(exc)[:300]))
        log(notes[-1])
        return
    server = backend_server = None
    try:
        driver = backend.driver()
        plan = workload.Plan()
        workload.seed_fixed(driver, plan)
        server = servers.service_server(name, backend.options(),
                                        worker_class=SERVER).start()
        target = Side(server, backend.db_pid)
        backend_server = servers.backend_ceiling_server(backend, SERVER)
        with_backend = None
        if backend_server is not None:
            with_backend = Side(backend_server.start(), backend.db_pid)
        phases = [phase for phase in PHASES
                  if phase in READS or name != "opensearch"]
        for size in SIZES:
            started = time.monotonic()
            # (The search engine indexes in threads of its own: several
            # bulk requests at once keep them busy.)
            written = workload.seed_jobs(
                driver, plan, size, parallel=3 if name == "opensearch" else 1)
            took = time.monotonic() - started
            notes.append("%s: seeded %d documents (%d jobs) in %.1f s "
                         "(%.0f/s)" % (name, written, plan.jobs, took,
                                       written / max(took, 1e-9)))
            log(notes[-1])
            backend.settle(driver)
            if name != "opensearch":
                explains.append((name, plan.jobs) +
                                explain(name, driver, plan))
            elif target.db_pid:
                first = size == SIZES[0]
                rounds = warm_engine(target, plan,
                                     ENGINE_WARMUP if first else 30,
                                     least=12 if first else 1)
                notes.append("%s: %d warm-up rounds of 5 s at %d jobs"
                             % (name, rounds, plan.jobs))
            measure_all("freezer-api/" + name, target, ceiling, plan,
                        plan.jobs, phases, rows, with_backend)
        driver.close()
    except Exception:
        notes.append("%s: failed: %s" % (name, traceback.format_exc()[
            -1500:]))
        log(notes[-1])
    finally:
        for started in (server, backend_server):
            if started is not None:
                started.stop()
        backend.close()


def warm_engine(target, plan, limit, least=1):
    """Unmeasured reads in rounds of 5 s, at least ``least`` of them, then
    until the engine's CPU per request holds still (within 5% of the round
    before), for at most ``limit`` seconds: a JVM runs new code
    interpreted, then compiled, then optimized, which takes minutes of
    traffic for a search path; a long-running engine serves its searches
    optimized."""
    reads = [workload.poll_script(plan, THREADS, "body"),
             workload.poll_script(plan, THREADS, "query"),
             workload.get_script(plan)]
    deadline = time.monotonic() + limit
    previous, rounds = None, 0
    while time.monotonic() < deadline:
        meter = procstat.Meter(target.db_pid)
        meter.start()
        done = 0
        for script in reads:
            done += loadgen.run(target.server.port, workload.PREFIX,
                                workload.HEADERS, script, threads=THREADS,
                                seconds=5.0 / len(reads),
                                requests=10 ** 6).requests
        cost = meter.stop() * 1000 / max(done, 1)
        rounds += 1
        log("warming the engine up: %.2f ms of its CPU per request" % cost)
        if rounds >= least and previous is not None and \
                abs(cost - previous) <= 0.05 * previous:
            break
        previous = cost
    return rounds


def run_upstream(ceiling, rows, notes):
    from benchmarks import upstream
    problem = upstream.install()
    if problem:
        notes.append(problem)
        log(problem)
        return
    try:
        server = upstream.server().start(ready_path="/v2/")
    except Exception as exc:
        notes.append("upstream %s: did not start (%s)" % (upstream.VERSION,
                                                          exc))
        log(notes[-1])
        return
    try:
        plan = workload.Plan()
        target = Side(server)
        for size in [s for s in SIZES if s <= UPSTREAM_MAX]:
            started = time.monotonic()
            upstream.seed_http(server.port, plan, size)
            notes.append("upstream %s: seeded %d jobs over HTTP in %.1f s"
                         % (upstream.VERSION, plan.jobs,
                            time.monotonic() - started))
            log(notes[-1])
            # (No ETags upstream: the 304 phase is skipped.)
            measure_all("upstream-" + upstream.VERSION, target, ceiling,
                        plan, plan.jobs, PHASES, rows)
    except Exception:
        notes.append("upstream: failed: %s" % traceback.format_exc()[
            -1500:])
        log(notes[-1])
    finally:
        server.stop()


# -- the report ---------------------------------------------------------------

def markdown(rows, notes, load):
    lines = [
        "# freezer-api benchmark (%s)" % datetime.datetime.now().strftime(
            "%Y-%m-%d %H:%M"),
        "",
        "%d concurrent clients, %.1f s per phase, every server on gunicorn, "
        "2 workers of class %s, on loopback, noauth, v2, %s. CPU = server "
        "CPU time per request "
        "(gunicorn master + workers, plus the database's own processes "
        "for PostgreSQL and OpenSearch), from /proc. Every phase ran in "
        "%.1f s slices alternating with the same phase on the bare-Falcon "
        "ceiling (no storage) and, for PostgreSQL and the search engine, "
        "on the backend-inclusive ceiling (bare Falcon doing the one "
        "equivalent query through raw psycopg or one raw HTTP request: "
        "benchmarks/backend_ceiling.py; the backend's CPU counted on both "
        "sides); x ceiling is the ratio of their CPU per request. Load "
        "average at start/end: %s." % (
            THREADS, SECONDS, SERVER,
            "connections kept alive" if KEEPALIVE else
            "a new connection per request", SLICE, load),
        "",
        "| target | jobs | phase | req/s | p50 ms | p99 ms | CPU ms/req "
        "(app + db) | ceiling CPU ms/req | x ceiling | ceiling+backend CPU "
        "ms/req | x ceiling+backend | RSS MB/worker | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    polls = {(row["target"], row["jobs"]): row["ceiling_cpu_ms"]
             for row in rows if row["phase"] == "poll"}
    for row in rows:
        ratio = "%.2f" % (row["cpu_ms"] / row["ceiling_cpu_ms"]) \
            if row["ceiling_cpu_ms"] else "-"
        if row["phase"] == "poll_304" and polls.get((row["target"],
                                                     row["jobs"])):
            # (The ceiling's 304 does nothing at all; its poll answers
            # the page this 304 stands for.)
            ratio += " (%.2f x its poll)" % (
                row["cpu_ms"] / polls[(row["target"], row["jobs"])])
        backend = row.get("backend_ceiling_cpu_ms")
        lines.append(
            "| %s | %s | %s | %.0f | %.1f | %.1f | %.2f (%.2f + %.2f) | "
            "%.2f | %s | %s | %s | %.0f | %s |" % (
                row["target"], row["jobs"], PHASE_TITLES[row["phase"]],
                row["rate"], row["p50"], row["p99"], row["cpu_ms"],
                row["app_cpu_ms"], row["db_cpu_ms"], row["ceiling_cpu_ms"],
                ratio, "-" if backend is None else "%.2f" % backend,
                "%.2f" % (row["cpu_ms"] / backend) if backend else "-",
                row["rss_mb"],
                "; ".join(row["errors"] + row["ceiling_errors"] +
                          row.get("backend_ceiling_errors", []))))
    lines += ["", "## Notes", ""] + ["- " + note for note in notes]
    lines += ["", "A local single-node OpenSearch's write speed (seeding) "
              "is not a production figure; only reads are measured on it. "
              "The node shares the two cores with everything else; it runs "
              "as in production (optimizing JIT on, heap %s) and gets "
              "unmeasured reads until its CPU per request holds still (60 "
              "to %.0f s before the first measure, up to 30 s at later "
              "sizes; rounds in the notes), and each size is measured once "
              "the merges that seeding started have ended." % (
                  servers.OpenSearch.HEAP, ENGINE_WARMUP)]
    return "\n".join(lines) + "\n"


def plot(rows, path):
    """Poll cost against the number of jobs: CPU per request (left), and
    its ratio to the ceiling measured alongside (right)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return "matplotlib is not installed: no plot (make bench installs "\
            "it)"
    figure, (cost, ratio) = pyplot.subplots(1, 2, figsize=(12, 5))
    targets = []
    for row in rows:
        if row["target"] not in targets:
            targets.append(row["target"])
    for target in targets:
        for phase, style in (("poll", "-o"), ("poll_304", "--^")):
            points = sorted((r["jobs"], r["cpu_ms"], r["ceiling_cpu_ms"])
                            for r in rows
                            if r["target"] == target and r["phase"] == phase)
            if not points:
                continue
            label = "%s %s" % (target, PHASE_TITLES[phase])
            jobs = [p[0] for p in points]
            cost.plot(jobs, [p[1] for p in points], style, label=label)
            ratio.plot(jobs, [p[1] / p[2] for p in points], style,
                       label=label)
    base = [r["ceiling_cpu_ms"] for r in rows if r["phase"] == "poll"]
    if base:
        level = sum(base) / len(base)
        cost.axhline(level, color="black", linestyle=":",
                     label="bare-Falcon ceiling, poll (mean %.2f ms)" % level)
    ratio.axhline(2, color="grey", linestyle=":", label="target: 2x")
    for axes in (cost, ratio):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("jobs in the project")
        axes.grid(True, which="both", alpha=0.3)
    from matplotlib import ticker
    for axes in (cost, ratio):
        axes.yaxis.set_major_formatter(ticker.ScalarFormatter())
        axes.yaxis.set_minor_formatter(ticker.NullFormatter())
    ratio.set_yticks([1, 1.5, 2, 3, 5, 10, 20, 50, 100])
    cost.set_ylabel("server CPU ms per poll request")
    cost.set_title("Scheduler poll: server CPU per request")
    ratio.set_ylabel("x the ceiling's CPU in the same slices")
    ratio.set_title("Scheduler poll: ratio to the bare-Falcon ceiling")
    cost.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return None


def main():
    os.makedirs(RESULTS, exist_ok=True)
    rows, notes, explains = [], [], []
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    ceiling = Side(servers.ceiling_server(SERVER).start())
    try:
        for name in BACKENDS:
            run_backend(name, ceiling, rows, notes, explains)
        if UPSTREAM:
            run_upstream(ceiling, rows, notes)
    finally:
        ceiling.server.stop()
    notes.append("total time %.0f s" % (time.monotonic() - started))
    load = "%.1f / %.1f" % (load_start, os.getloadavg()[0])
    text = markdown(rows, notes, load)
    suffix = ("" if SERVER == "sync" else "-" + SERVER) + (
        "-keepalive" if KEEPALIVE else "")
    problem = plot(rows, os.path.join(RESULTS, "poll_cpu%s.png" % suffix))
    if problem:
        text += "\n" + problem + "\n"
    with open(os.path.join(RESULTS, "latest%s.md" % suffix), "w") as out:
        out.write(text)
    with open(os.path.join(RESULTS, "latest%s.json" % suffix), "w") as out:
        json.dump({"rows": rows, "notes": notes}, out, indent=1)
    with open(os.path.join(RESULTS, "explain%s.md" % suffix), "w") as out:
        for backend, jobs, sql, plan_lines in explains:
            out.write("## %s, %d jobs\n\n```\n%s\n\n%s\n```\n\n" % (
                backend, jobs, sql, "\n".join(plan_lines)))
    print(text)


if __name__ == "__main__":
    main()

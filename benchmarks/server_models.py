"""``make bench-servers``: the server model side by side. This service and
the bare-Falcon ceiling, each on gunicorn's sync workers (the server
before freezer_api.worker) and on freezer_api.worker (the one the
freezer-api command runs), on SQLite and PostgreSQL, for the poll, the
304 poll and session start+end; every figure is measured in slices
alternated with the ceiling on sync workers, so their ratios hold however
loaded the machine is.

Environment: BENCH_SIZES (10000), BENCH_BACKENDS (sqlite,postgresql),
BENCH_PHASES (poll,poll_304,session), and run.py's BENCH_SECONDS,
BENCH_SLICE, BENCH_THREADS, BENCH_KEEPALIVE. Writes
benchmarks/results/server_models.md (server_models-keepalive.md with
BENCH_KEEPALIVE=1: the clients keep their connections open where the
server lets them; gunicorn's sync workers close every one).
"""

import os
import time

from benchmarks import run
from benchmarks import servers
from benchmarks import workload

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10000").split(",")]
BACKENDS = [name.strip() for name in os.environ.get(
    "BENCH_BACKENDS", "sqlite,postgresql").split(",") if name.strip()]
PHASES = [name.strip() for name in os.environ.get(
    "BENCH_PHASES", "poll,poll_304,session").split(",") if name.strip()]
MODELS = ("sync", "worker")


def measure(label, target, ceiling, plan, rows):
    mine = run.scripts(plan, target.http(), PHASES, True)
    theirs = run.scripts(plan, ceiling.http(), PHASES, True)
    for phase in PHASES:
        if phase in mine:
            run.log("%s, %d jobs: %s" % (label, plan.jobs, phase))
            row = run.paired(target, ceiling, phase, mine[phase],
                             theirs[phase])
            row.update(target=label, jobs=plan.jobs)
            rows.append(row)
            run.log("  %(cpu_ms).2f ms CPU/req (ceiling %(ceiling_cpu_ms)"
                    ".2f), p50 %(p50).1f ms, p99 %(p99).1f ms %(errors)s"
                    % row)


def run_backend(name, baseline, ceilings, rows):
    backend = servers.BACKENDS[name]()
    started = []
    try:
        driver = backend.driver()
        plan = workload.Plan()
        workload.seed_fixed(driver, plan)
        targets = {}
        for model in MODELS:
            server = servers.service_server(
                name, backend.options(), worker_class=model).start()
            started.append(server)
            targets[model] = run.Side(server, backend.db_pid)
        for size in SIZES:
            workload.seed_jobs(driver, plan, size)
            backend.settle(driver)
            for model in MODELS:
                measure("freezer-api/%s on %s" % (name, model),
                        targets[model], baseline, plan, rows)
            # The ceiling on freezer_api.worker, against the one on sync.
            measure("ceiling on worker", ceilings["worker"], baseline, plan,
                    rows)
        driver.close()
    finally:
        for server in started:
            server.stop()
        backend.close()


def table(rows):
    lines = ["| target | jobs | phase | CPU ms/req | x ceiling (sync) | "
             "p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = row["cpu_ms"] / max(row["ceiling_cpu_ms"], 1e-9)
        lines.append("| %s | %d | %s | %.3f | %.2fx | %.1f | %.1f | %s |" % (
            row["target"], row["jobs"], row["phase"], row["cpu_ms"], ratio,
            row["p50"], row["p99"], ",".join(row["errors"]) or "-"))
    return "\n".join(lines)


def main():
    os.makedirs(run.RESULTS, exist_ok=True)
    began = time.monotonic()
    ceilings = {model: run.Side(servers.ceiling_server(model).start())
                for model in MODELS}
    rows = []
    try:
        for name in BACKENDS:
            run_backend(name, ceilings["sync"], ceilings, rows)
    finally:
        for side in ceilings.values():
            side.server.stop()
    text = ("# Server models: gunicorn sync vs freezer_api.worker\n\n"
            "Server CPU per request (the server's processes, and the "
            "database's for PostgreSQL), each measured in slices "
            "alternated with the bare-Falcon ceiling on gunicorn sync "
            "workers; %d clients, %s. %.0f s.\n\n"
            % (run.THREADS, "connections kept alive where the server lets "
               "them" if run.KEEPALIVE else "a new connection per request",
               time.monotonic() - began) + table(rows) + "\n")
    name = "server_models%s.md" % ("-keepalive" if run.KEEPALIVE else "")
    with open(os.path.join(run.RESULTS, name), "w") as out:
        out.write(text)
    print(text)


if __name__ == "__main__":
    main()

"""``make test``: the whole suite, with every service it needs.

Every service of SUITE starts at once (each installed first when missing:
Debian packages, the search engines' Maven builds, the venvs of Keystone,
upstream's releases, the clients and the dashboard), and the variables that
name them are exported. Then the suite runs with none of them optional
(FREEZER_TEST_REQUIRE_ALL=1): first everything but the time-bound tests,
on FREEZER_TEST_WORKERS pytest workers (default 4: most tests wait on a
server, a socket or a subprocess more than they compute, so four keep two
cores busier than two do; idle workers steal queued tests); then the
tests marked ``alone`` (their assertions hold a time bound: a p99 latency,
how soon a process dies), one at a time with nothing else on the two
cores. At the end, what this run started is
stopped again; what ran before it keeps running.
"""

import os
import subprocess
import sys
import time

from tools import testenv
from tools.testenv import base
from tools.testenv import parallel

SUITE = ("postgres", "mariadb", "opensearch", "elasticsearch", "keystone",
         "upstream", "agents", "apache", "dashboard")


def say(message):
    base.say("make test", message)


def pytest(args, env):
    """Run pytest in this Python (the project's venv); its exit status."""
    return subprocess.call([sys.executable, "-m", "pytest", "-q", *args],
                           cwd=base.REPO, env=env)


def keystone_trouble(env):
    """What the test Keystone logged as errors and 5xx answers (a
    client's failure may be Keystone's, and CI keeps nothing but the
    output)."""
    result = subprocess.run(
        [sys.executable, "-c", "from tests.functional import keystone_support"
         " as k; print(k.Keystone().log_trouble() or '(none)')"],
        cwd=base.REPO, env=env, capture_output=True, text=True)
    return (result.stdout + result.stderr).strip()


def main(args):
    services = [testenv.service(name) for name in SUITE]
    ours = [service for service in services if not service.status()]
    say("starting %s side by side" % ", ".join(SUITE))
    try:
        results, took = parallel.timed_start(services)
        if not parallel.report(results):
            say("some services did not start (above); no test ran")
            return 1
        say("services ready after %.0f s" % took)
        env = dict(os.environ, FREEZER_TEST_REQUIRE_ALL="1")
        for service in services:
            env.update(service.environment())
        began = time.monotonic()
        workers = base.int_setting("FREEZER_TEST_WORKERS", 4)
        status = pytest(["-n", str(workers), "--dist", "worksteal",
                         "-m", "not alone", *args], env)
        say("the time-bound tests, one at a time")
        alone = pytest(["-m", "alone", *args], env)
        if alone == 5:      # none among the paths given
            alone = 0
        status = status or alone
        say("pytest exit %d after %.0f s" % (status,
                                             time.monotonic() - began))
        if status and env.get("KEYSTONE_LOG_FILE"):
            say("the test Keystone's errors and 5xx answers (%s):\n%s" % (
                env["KEYSTONE_LOG_FILE"], keystone_trouble(env)))
        return status
    finally:
        parallel.report(parallel.stop(ours))

"""A pytest plugin (named in tests/conftest.py): at the end of a run, the
number of cases schemathesis sent per operation, and the statuses they got
(the ``fuzz_cases`` property of tests/functional/test_schemathesis.py).

Under xdist the tests run in worker processes; their reports, with the
property, reach the controller, which prints the table.
"""

_RUNS = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "fuzz_cases":
            _RUNS.append((report.nodeid, value))


def pytest_terminal_summary(terminalreporter):
    if not _RUNS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("schemathesis: generated cases per operation")
    for nodeid, rows in sorted(_RUNS):
        write("%s: %d cases" % (nodeid, sum(row[1] for row in rows)))
        for label, sent, statuses in rows:
            write("  %5d  %-52s %s" % (sent, label, statuses))

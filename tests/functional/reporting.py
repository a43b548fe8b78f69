"""A pytest plugin (named in tests/conftest.py): at the end of a run, the
number of cases schemathesis sent per operation, and the statuses they got
(the ``fuzz_cases`` property of tests/functional/test_schemathesis.py),
and what the fault tests measured (their ``measured`` property: a line of
text, e.g. tests/functional/test_cluster.py's unavailable windows).

Under xdist the tests run in worker processes; their reports, with the
property, reach the controller, which prints the table.
"""

_RUNS = []
_MEASURED = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "fuzz_cases":
            _RUNS.append((report.nodeid, value))
        elif name == "measured":
            _MEASURED.append((report.nodeid, value))


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if _MEASURED:
        terminalreporter.section("measured under faults")
        for nodeid, text in sorted(_MEASURED):
            write("%s: %s" % (nodeid, text))
    if not _RUNS:
        return
    terminalreporter.section("schemathesis: generated cases per operation")
    for nodeid, rows in sorted(_RUNS):
        write("%s: %d cases" % (nodeid, sum(row[1] for row in rows)))
        for label, sent, statuses in rows:
            write("  %5d  %-52s %s" % (sent, label, statuses))

"""Schemathesis against the live server: every operation of
api-ref/openapi.yaml, under /v1 and under /v2/{project_id}, with generated
valid and invalid requests. Every answer must be a status the document
declares for the operation (never a 5xx), with the declared content type,
body schema and headers.

Bounded: ``FUZZ_EXAMPLES`` cases per operation (env
``FREEZER_FUZZ_EXAMPLES``, default 30) and, past ``FUZZ_BUDGET`` seconds
for a version, ``FUZZ_MIN_EXAMPLES`` for each remaining operation, so that
every operation is still exercised. The generation is derandomized (the
same cases every run) unless ``FREEZER_FUZZ_SEED`` names a seed. The number
of cases sent per operation, and the statuses they got, are recorded
(``fuzz_cases``) and printed at the end of the run (tests/functional/
reporting.py).
"""

import os
import time

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks as st_checks

from tests.functional import server as server_module

DOCUMENT = os.path.join(server_module.REPO, "api-ref", "openapi.yaml")
FUZZ_EXAMPLES = int(os.environ.get("FREEZER_FUZZ_EXAMPLES") or 30)
FUZZ_MIN_EXAMPLES = 5
FUZZ_BUDGET = float(os.environ.get("FREEZER_FUZZ_BUDGET") or 150)
SEED = os.environ.get("FREEZER_FUZZ_SEED")

USER, PROJECT = "fuzz-user", "fuzz-proj"
HEADERS = {"X-User-Id": USER, "X-Project-Id": PROJECT,
           "X-Roles": "member,reader", "Accept": "application/json"}
CLIENT_ID = PROJECT + "_seed-host"
SEEDS = {"client_id": CLIENT_ID, "job_id": "seed-job",
         "action_id": "seed-action", "session_id": "seed-session"}
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance,
          st_checks.content_type_conformance,
          st_checks.response_schema_conformance,
          st_checks.response_headers_conformance]


def _id_strategy(pattern):
    return st.from_regex(pattern, fullmatch=True).filter(
        lambda s: 0 < len(s) <= 255)


# The custom formats of the document (see openapi.FORMATS).
schemathesis.openapi.format("freezer-id", _id_strategy(r"[\w-]{1,40}"))
schemathesis.openapi.format("freezer-id-or-empty", st.one_of(
    st.just(""), _id_strategy(r"[\w-]{1,40}")))
schemathesis.openapi.format("client-id", _id_strategy(
    r"([\w-]{1,20}_)?[a-zA-Z\d]([a-zA-Z\d-]{0,20}[a-zA-Z\d])?"))


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    url, _drop = server_module.database("sqlite", directory)
    process = server_module.Server(directory, url).start()
    yield process
    process.stop()
    assert "Traceback" not in process.log_tail(10 ** 7), \
        process.log_tail()


def _seed(http, base):
    """The documents that generated cases may name: a client, a job that
    is a member of a session, an action and a backup (again before every
    operation: the one before may have deleted them)."""
    assert http.post(base + "/clients", json={
        "client_id": CLIENT_ID, "hostname": "seed-host"}).status_code == 201
    assert http.post(base + "/jobs/seed-job", json={
        "client_id": CLIENT_ID, "job_actions": [
            {"freezer_action": {"action": "backup", "mode": "fs"}}],
        "job_schedule": {"schedule_interval": "1 days"}}).status_code == 201
    assert http.post(base + "/actions/seed-action", json={
        "freezer_action": {"action": "backup"}}).status_code == 201
    assert http.post(base + "/sessions/seed-session", json={
        "schedule": {}, "hold_off": 0}).status_code == 201
    assert http.put(base + "/sessions/seed-session/jobs/seed-job") \
        .status_code == 204
    created = http.post(base + "/backups", json={
        "container": "c", "hostname": "h", "backup_name": "b"})
    assert created.status_code == 201
    return dict(SEEDS, backup_id=created.json()["backup_id"])


def _use_known_ids(case, seeds):
    """Point the case at documents that exist, so that it gets past 404
    and 422 to the code behind them."""
    for name in list(case.path_parameters or {}):
        if name in seeds:
            case.path_parameters[name] = seeds[name]
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("client_id"), str):
            body["client_id"] = seeds["client_id"]
        for verb in ("start", "end"):
            if isinstance(body.get(verb), dict):
                body[verb]["job_id"] = seeds["job_id"]


def _operations(version):
    schema = schemathesis.openapi.from_path(DOCUMENT)
    selected = []
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if path.startswith("/" + version) or (
                version == "v1" and not path.startswith("/v2")):
            selected.append(operation)
    return selected


def _strategy(operation):
    fixed = {"project_id": PROJECT} if "{project_id}" in operation.path \
        else None
    return st.one_of(*[
        operation.as_strategy(generation_mode=mode, path_parameters=fixed)
        for mode in (schemathesis.GenerationMode.POSITIVE,
                     schemathesis.GenerationMode.NEGATIVE)])


def _fuzz(operation, base, http, seeds, examples, failures, statuses):
    sent = [0]

    @hypothesis.settings(
        max_examples=examples, deadline=None, database=None,
        derandomize=SEED is None, print_blob=False,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=_strategy(operation), known=st.booleans())
    def run(case, known):
        if known:
            _use_known_ids(case, seeds)
        sent[0] += 1
        try:
            response = case.call(base_url=base, session=http,
                                 headers=HEADERS, timeout=60)
            statuses[response.status_code] = \
                statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS,
                                   headers=HEADERS)
        except (Exception, BaseExceptionGroup) as exc:
            text = "%s: %s" % (operation.label, exc)
            failures.append(text if len(text) < 3000 else
                            text[:3000] + "...")
    if SEED is not None:
        run = hypothesis.seed(int(SEED))(run)
    run()
    return sent[0]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_generated_requests_conform_to_the_document(live, version,
                                                    record_property):
    base = live.base_url
    prefix = base + ("/v1" if version == "v1" else "/v2/" + PROJECT)
    http = requests.Session()
    http.headers.update(HEADERS)
    operations = _operations(version)
    assert len(operations) == (35 if version == "v1" else 32)
    started, rows, failures = time.monotonic(), [], []
    for operation in operations:
        seeds = _seed(http, prefix)
        spent = time.monotonic() - started
        examples = FUZZ_EXAMPLES if spent < FUZZ_BUDGET else \
            FUZZ_MIN_EXAMPLES
        statuses = {}
        sent = _fuzz(operation, base, http, seeds, examples, failures,
                     statuses)
        rows.append((operation.label, sent, " ".join(
            "%d:%d" % item for item in sorted(statuses.items()))))
    record_property("fuzz_cases", rows)
    print("schemathesis %s: %d cases in %.0f s" % (
        version, sum(row[1] for row in rows), time.monotonic() - started))
    for row in rows:
        print("%5d  %-50s %s" % (row[1], row[0], row[2]))
    assert all(row[1] >= 1 for row in rows), rows
    assert not failures, "%d failures:\n\n%s" % (
        len(failures), "\n\n".join(failures[:20]))


def test_what_the_server_refuses_is_a_json_error_too(live):
    """Requests refused before the application sees them (the worker's
    own checks: a request line and headers over 64 KiB, a control
    character in a header) get the same JSON error body, a long id is the
    application's 404, and a chunked body (no Content-Length) is read."""
    base = live.base_url + "/v2/" + PROJECT
    refused = [
        requests.get(base + "/jobs/" + "a" * 70000, headers=HEADERS),
        requests.get(base + "/jobs", headers=dict(HEADERS, **{
            "If-Match": "1\x1b"})),
        requests.get(base + "/jobs", headers=dict(HEADERS, **{
            "X-Big": "x" * 70000})),
        requests.get(base + "/jobs/" + "a" * 5000, headers=HEADERS),
    ]
    assert [r.status_code for r in refused] == [431, 400, 431, 404]
    for result in refused:
        assert result.headers["Content-Type"] == "application/json"
        assert set(result.json()) == {"title", "description"}
    chunks = iter([b'{"freezer_action": ', b'{"action": "backup"}}'])
    created = requests.post(base + "/actions", data=chunks, headers=dict(
        HEADERS, **{"Content-Type": "application/json"}))
    assert created.status_code == 201, created.text
    assert requests.get(base + "/actions/" + created.json()["action_id"],
                        headers=HEADERS).status_code == 200

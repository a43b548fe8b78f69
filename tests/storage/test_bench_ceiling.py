"""The backend-inclusive ceiling of ``make bench`` (benchmarks/
backend_ceiling.py) answers what the service answers from the same stored
documents, on the real PostgreSQL and search engine: its CPU per request
is a fair limit only if its queries find the same jobs (behaviour only;
``make bench`` measures the speed)."""

import os

from falcon import testing
import pytest

from benchmarks import backend_ceiling
from benchmarks import workload
from freezer_api.domain import kinds
from freezer_api.domain import search
from freezer_api.storage import base
from tests import conftest

STORES = [name for name in ("postgresql", "opensearch")
          if name in conftest.BACKENDS]


@pytest.fixture(scope="module", params=STORES)
def seeded(request, tmp_path_factory):
    driver, teardown = conftest.build_driver(request.param,
                                             tmp_path_factory)
    plan = workload.Plan()
    workload.seed_fixed(driver, plan)
    workload.seed_jobs(driver, plan, 100)
    if request.param == "postgresql":
        store = backend_ceiling.PostgreSQLStore(
            driver.engine.url.render_as_string(hide_password=False))
    else:
        driver.client.indices.refresh(index=driver.alias(kinds.JOBS))
        store = backend_ceiling.SearchStore(
            os.environ[conftest.EXTRA_BACKENDS[request.param]],
            driver.prefix)
    client = testing.TestClient(backend_ceiling.create_app(store))
    yield request.param, driver, plan, client
    store.close()
    teardown()


def _ids(jobs):
    return [job["job_id"] for job in jobs]


def test_poll_pages_are_the_service_s(seeded):
    _name, driver, plan, client = seeded
    scope = base.Scope(project_id=workload.PROJECT)
    for number in (0, plan.clients - 1):
        for offset in (0, workload.PAGE):
            query = search.build_query(workload.poll_body(number),
                                       limit=workload.PAGE, offset=offset)
            expected = _ids(driver.search(kinds.JOBS, scope, query))
            path = "%s/jobs/?limit=%d&offset=%d" % (
                workload.PREFIX, workload.PAGE, offset)
            by_body = client.simulate_get(path,
                                          json=workload.poll_body(number))
            by_query = client.simulate_get(path + "&client_id=%s"
                                           % workload.client_id(number))
            assert _ids(by_body.json["jobs"]) == expected
            assert _ids(by_query.json["jobs"]) == expected
            assert expected and by_body.headers["etag"]
            # The same page, asked again with its ETag: 304; another
            # ETag: the page.
            again = client.simulate_get(path, json=workload.poll_body(
                number), headers={"If-None-Match": by_body.headers["etag"]})
            assert again.status_code == 304
            other = client.simulate_get(path, json=workload.poll_body(
                number), headers={"If-None-Match": '"other"'})
            assert _ids(other.json["jobs"]) == expected


def test_job_by_id_is_the_stored_one(seeded):
    _name, driver, plan, client = seeded
    scope = base.Scope(project_id=workload.PROJECT)
    job_id = plan.sample_jobs[0]
    answer = client.simulate_get("%s/jobs/%s" % (workload.PREFIX, job_id))
    assert answer.json == driver.get(kinds.JOBS, scope, job_id).doc
    missing = client.simulate_get("%s/jobs/%s" % (workload.PREFIX, "0" * 32))
    assert missing.status_code == 404


# (make bench measures no writes on the search engine.)
@pytest.mark.parametrize("seeded", [n for n in STORES if n == "postgresql"],
                         indirect=True)
def test_writes_change_the_stored_documents(seeded):
    _name, driver, plan, client = seeded
    scope = base.Scope(project_id=workload.PROJECT)
    session_id, job_id = plan.sessions[0]
    before = driver.get(kinds.SESSIONS, scope, session_id)
    path = "%s/sessions/%s/action" % (workload.PREFIX, session_id)
    started = client.simulate_post(path, json={"start": {
        "job_id": job_id, "current_tag": 0}})
    assert started.status_code == 202
    assert started.json["result"] == "success"
    ended = client.simulate_post(path, json={"end": {
        "job_id": job_id, "current_tag": started.json["session_tag"],
        "result": "success"}})
    assert ended.status_code == 202
    after = driver.get(kinds.SESSIONS, scope, session_id)
    assert after.version == before.version + 2
    assert after.doc["session_tag"] == started.json["session_tag"]

    patched = plan.patch_jobs[0]
    answer = client.simulate_patch("%s/jobs/%s" % (workload.PREFIX, patched),
                                   json={"job_schedule": {
                                       "status": "running"}})
    assert answer.status_code == 200
    job = driver.get(kinds.JOBS, scope, patched)
    assert job.doc["job_schedule"]["status"] == "running"
    assert job.version == answer.json["version"]
    # The status column moved with the document: the poll no longer skips
    # or shows it by the old one.
    query = search.build_query({"match": [{"status": "running"}]},
                               limit=10, offset=0)
    assert patched in _ids(driver.search(kinds.JOBS, scope, query))

"""Search: upstream's GET-body form and the query-string form."""


def _ids(result, kind="jobs"):
    assert result.status_code == 200, result.text
    return [d[kind[:-1] + "_id"] for d in result.json[kind]]


def test_scheduler_poll(api):
    mine = api.client_id("mine")
    other = api.client_id("other")
    active = api.job(mine)
    done = api.job(mine)
    api.patch("/jobs/" + done, {"job_schedule": {"status": "completed"}})
    api.job(other)
    poll = {"match_not": [{"status": "completed"}],
            "match": [{"client_id": mine}]}
    assert _ids(api.get("/jobs", poll, query_string="limit=10&offset=0")) \
        == [active]
    query = "client_id=%s" % mine
    assert sorted(_ids(api.get("/jobs", query_string=query))) == \
        sorted([active, done])


def test_query_string_status_filter(api):
    client_id = api.client_id()
    a, b = api.job(client_id), api.job(client_id)
    api.patch("/jobs/" + b, {"job_schedule": {"status": "running"}})
    assert _ids(api.get("/jobs", query_string="status=running")) == [b]
    assert a not in _ids(api.get("/jobs", query_string="status=running"))


def test_paging_is_stable_and_complete(api):
    client_id = api.client_id()
    created = [api.job(client_id) for _ in range(25)]
    seen, offset = [], 0
    while True:
        page = _ids(api.get("/jobs", query_string="limit=10&offset=%d"
                            % offset))
        seen += page
        offset += len(page)
        if len(page) < 10:
            break
    assert seen == created


def test_any_depth_leaf_match(api):
    client_id = api.client_id()
    fs = api.job(client_id)
    mysql = api.job(client_id, job_actions=[
        {"freezer_action": {"action": "backup", "mode": "mysql"}}])
    assert _ids(api.get("/jobs", {"match": [{"mode": "mysql"}]})) == [mysql]
    assert _ids(api.get("/jobs", {"match_not": [{"mode": "mysql"}]})) == \
        [fs]
    sessions = [api.session(hold_off=50), api.session(hold_off=7)]
    result = api.get("/sessions", {"match": [{"hold_off": 50}]})
    assert _ids(result, "sessions") == [sessions[0]]
    # Types matter: the string "50" is not the number 50.
    result = api.get("/sessions", {"match": [{"hold_off": "50"}]})
    assert _ids(result, "sessions") == []


def test_free_text_search(api):
    client_id = api.client_id()
    target = api.job(client_id, description="nightly Postgres dump")
    api.job(client_id, description="weekly files")
    result = api.get("/jobs", {"match": [{"_all": "postgres"}]})
    assert _ids(result) == [target]
    # The upstream SQL form: _all holding a JSON list of terms.
    result = api.get("/jobs", {"match": [
        {"_all": '[{"description": "weekly files"}]'}]})
    assert len(_ids(result)) == 1 and _ids(result) != [target]
    # Wildcards are literal.
    assert _ids(api.get("/jobs", {"match": [{"_all": "%"}]})) == []


def test_backup_time_window(api):
    for stamp in (100, 200, 300):
        api.create("backups", {"container": "c", "hostname": "h",
                               "backup_name": "b%d" % stamp,
                               "time_stamp": stamp})

    def names(result):
        return [b["backup_metadata"]["backup_name"]
                for b in result.json["backups"]]
    assert names(api.get("/backups", {"time_after": 150})) == ["b200",
                                                               "b300"]
    assert names(api.get("/backups", {"time_before": 250})) == ["b100",
                                                                "b200"]
    assert names(api.get("/backups", query_string="time_after=150&"
                         "time_before=250")) == ["b200"]
    assert names(api.get("/backups", {"match": [
        {"backup_name": "b300"}]})) == ["b300"]


def test_session_filters(api):
    session_id = api.session()
    api.session()
    result = api.get("/jobs", query_string="session_id=" + session_id)
    assert _ids(result) == []
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert _ids(api.get("/jobs", query_string="session_id=" +
                        session_id)) == [job_id]
    assert _ids(api.get("/sessions", {"match": [{"session_id":
                                                 session_id}]}),
                "sessions") == [session_id]


def test_filters_on_ids(api):
    client_id = api.client_id()
    result = api.get("/clients", {"match": [{"client_id": client_id}]})
    assert [c["client"]["client_id"] for c in result.json["clients"]] == \
        [client_id]

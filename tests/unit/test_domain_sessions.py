"""The session state machine, table-driven, with an explicit clock."""

import pytest

from freezer_api import exceptions
from freezer_api.domain import sessions

NOW = 1_700_000_000


def session(tag=3, time_start=NOW - 1000, hold_off=30, jobs=("a", "b"),
            status="active"):
    return {"session_id": "s", "session_tag": tag, "time_start": time_start,
            "hold_off": hold_off, "status": status, "result": "",
            "schedule": {}, "jobs": {j: {"status": "", "result": ""}
                                     for j in jobs}}


@pytest.mark.parametrize("tag,elapsed,current,expected,new_tag", [
    # outside the window
    (3, 1000, 3, "success", 4),
    (3, 1000, 2, "out-of-sync", 3),
    (3, 1000, 0, "out-of-sync", 3),
    # inside the window
    (3, 10, 3, "hold-off", 3),
    (3, 10, 2, "success", 3),
    (3, 10, 0, "success", 3),
    # the window's edge belongs to the window
    (3, 30, 3, "hold-off", 3),
    (3, 31, 3, "success", 4),
])
def test_start(tag, elapsed, current, expected, new_tag):
    doc = session(tag=tag, time_start=NOW - elapsed)
    result, new = sessions.start(doc, "a", current, NOW)
    assert result == expected
    final = new or doc
    assert final["session_tag"] == new_tag
    if expected == "success":
        assert new["jobs"]["a"] == {"status": "running", "result": "",
                                    "time_started": NOW}
        assert new["jobs"]["b"] == doc["jobs"]["b"]
    else:
        assert new is None
    if new_tag != tag:
        assert (new["time_start"], new["status"]) == (NOW, "running")


@pytest.mark.parametrize("elapsed", [0, 5, -5, 1000])
@pytest.mark.parametrize("hold_off", [-1, -3600])
def test_a_negative_hold_off_never_opens_a_window(elapsed, hold_off):
    """Not even when time_start lies ahead of the clock (elapsed < 0)."""
    doc = session(tag=3, time_start=NOW - elapsed, hold_off=hold_off)
    assert sessions.start(doc, "a", 3, NOW)[0] == "success"
    assert sessions.start(doc, "a", 2, NOW) == ("out-of-sync", None)


def test_first_start_ever_is_outside_the_window():
    result, new = sessions.start(session(tag=0, time_start=-1), "a", 0, NOW)
    assert result == "success" and new["session_tag"] == 1


def test_start_does_not_modify_its_input():
    doc = session()
    snapshot = repr(doc)
    sessions.start(doc, "a", 3, NOW)
    assert repr(doc) == snapshot


def test_start_with_a_tag_too_high():
    with pytest.raises(exceptions.InvalidInput, match="too high"):
        sessions.start(session(tag=3), "a", 4, NOW)


def test_start_of_a_stranger():
    with pytest.raises(exceptions.InvalidInput, match="not found"):
        sessions.start(session(), "zzz", 3, NOW)


@pytest.mark.parametrize("states,overall", [
    ([("completed", "success"), ("completed", "success")], "success"),
    ([("completed", "success"), ("completed", "fail")], "fail"),
    ([("completed", "fail"), ("running", "")], "running"),
    ([("running", ""), ("completed", "fail")], "running"),
    ([("completed", "aborted"), ("completed", "success")], "fail"),
    ([], "success"),
])
def test_overall_result_ignores_order(states, overall):
    jobs = {str(i): {"status": s, "result": r}
            for i, (s, r) in enumerate(states)}
    assert sessions.overall_result({"jobs": jobs}) == overall
    reversed_jobs = dict(reversed(list(jobs.items())))
    assert sessions.overall_result({"jobs": reversed_jobs}) == overall


def test_end_completes_the_session_once_all_ended():
    doc = session(status="running")
    result, doc = sessions.end(doc, "a", "success", NOW)
    assert result == "success" and doc["status"] == "running"
    result, doc = sessions.end(doc, "b", "success", NOW + 5)
    assert doc["status"] == "completed"
    assert doc["result"] == "success"
    assert doc["time_end"] == NOW + 5
    assert doc["jobs"]["b"] == {"status": "completed", "result": "success",
                                "time_ended": NOW + 5}


def test_end_with_a_stale_tag_changes_nothing():
    result, new = sessions.end(session(tag=5), "a", "success", NOW,
                               current_tag=4)
    assert (result, new) == ("out-of-sync", None)


def test_attach_and_detach():
    sess = {"session_id": "s", "session_tag": 7, "jobs": [],
            "schedule": {"schedule_interval": "1 days", "event": "start"}}
    job = {"job_id": "j", "client_id": "c", "session_id": "",
           "session_tag": 0, "job_schedule": {"time_created": 5,
                                              "status": "stop"}}
    new_sess, new_job = sessions.attach(sess, job)
    assert new_sess["jobs"]["j"]["client_id"] == "c"
    assert new_job["session_id"] == "s" and new_job["session_tag"] == 7
    assert new_job["job_schedule"] == {"time_created": 5, "status": "stop",
                                       "schedule_interval": "1 days",
                                       "event": "start"}
    detached = sessions.detach(new_job)
    assert detached["session_id"] == "" and detached["session_tag"] == 0
    assert detached["job_schedule"]["event"] == "stop"
    assert sessions.drop_member(new_sess, "j")["jobs"] == {}
    assert sessions.drop_member(new_sess, "other") is None

"""Job rules without storage."""

import pytest

from freezer_api import exceptions
from freezer_api.domain import documents
from freezer_api.domain import jobs


def test_deep_merge_keeps_what_the_patch_does_not_name():
    base = {"a": 1, "s": {"x": 1, "y": {"z": 1}}, "l": [1, 2]}
    merged = documents.deep_merge(base, {"s": {"y": {"w": 2}}, "l": [3]})
    assert merged == {"a": 1, "s": {"x": 1, "y": {"z": 1, "w": 2}},
                      "l": [3]}
    assert base == {"a": 1, "s": {"x": 1, "y": {"z": 1}}, "l": [1, 2]}


def test_new_job_forces_times_and_ignores_server_fields():
    body = {"client_id": "c", "job_actions": [], "user_id": "evil",
            "project_id": "evil", "session_id": "s", "session_tag": 4,
            "job_schedule": {"time_created": 1, "schedule_interval": "1 days"}}
    doc = jobs.new_job(body, "j", "u", "p", 99)
    assert doc["job_schedule"] == {"time_created": 99, "time_started": -1,
                                   "time_ended": -1,
                                   "schedule_interval": "1 days"}
    assert (doc["user_id"], doc["project_id"], doc["job_id"]) == \
        ("u", "p", "j")
    assert (doc["session_id"], doc["session_tag"]) == ("", 0)


def test_patch_keeps_session_id_but_takes_session_tag():
    stored = {"job_id": "j", "session_id": "s", "session_tag": 1,
              "job_schedule": {"status": "scheduled"}}
    patched = jobs.patched_job(stored, {"session_id": "", "session_tag": 2,
                                        "job_schedule": {"event": ""}})
    assert patched["session_id"] == "s"
    assert patched["session_tag"] == 2
    assert patched["job_schedule"] == {"status": "scheduled", "event": ""}


@pytest.mark.parametrize("event,schedule,result,changed", [
    ("start", {}, "success", {"event": "start", "status": "",
                              "result": ""}),
    ("start", {"event": "start"}, "start already requested", None),
    ("stop", {"status": "running"}, "success", {"status": "running",
                                                "event": "stop"}),
    ("abort", {"event": "abort"}, "abort already requested", None),
])
def test_events(event, schedule, result, changed):
    answer, new = jobs.apply_event({"job_schedule": schedule}, event)
    assert answer == result
    assert (new["job_schedule"] if new else None) == changed


def test_unknown_event():
    with pytest.raises(exceptions.InvalidInput):
        jobs.apply_event({}, "jump")


def test_actions_equal_ignores_owner_fields():
    a = {"freezer_action": {"mode": "fs", "user_id": "x"}, "max_retries": 1}
    b = {"freezer_action": {"mode": "fs"}, "max_retries": 1,
         "user_id": "u", "action_id": "i"}
    assert jobs.actions_equal(a, b)
    assert not jobs.actions_equal(a, dict(b, max_retries=2))
    assert not jobs.actions_equal(a, {"freezer_action": {"mode": "x"},
                                      "max_retries": 1})


def test_actions_equal_null_and_default_keys_are_absent():
    stored = {"freezer_action": {"action": "backup", "mode": "fs"},
              "max_retries": 2, "action_id": "i", "user_id": "u"}
    # What freezer-web-ui embeds: the stored action plus nulls.
    embedded = {"freezer_action": {"action": "backup", "mode": "fs",
                                   "engine": None, "storage": None},
                "max_retries": 2, "max_retries_interval": None,
                "mandatory": False, "action_id": "i", "_version": 3}
    assert jobs.actions_equal(embedded, stored)
    assert jobs.actions_equal(stored, embedded)
    # A value where the stored action has none, or a null over a value,
    # a changed retry setting, a mandatory action: all changes.
    for fa in ({"action": "backup", "mode": "fs", "engine": "tar"},
               {"action": "backup", "mode": None}):
        assert not jobs.actions_equal(dict(embedded, freezer_action=fa),
                                      stored)
    assert not jobs.actions_equal(dict(embedded, max_retries=None), stored)
    assert not jobs.actions_equal(dict(embedded, mandatory=True), stored)
    assert not jobs.actions_equal(dict(embedded, max_retries_interval=0),
                                  stored)


def test_capabilities_unlisted_means_unrestricted():
    job = {"job_actions": [{"freezer_action": {"action": "exec",
                                               "storage": "s3"}}]}
    jobs.check_client_capabilities({"client_id": "c"}, job)
    with pytest.raises(exceptions.Unprocessable, match="storage: s3"):
        jobs.check_client_capabilities(
            {"client_id": "c", "supported_storages": ["local"]}, job)

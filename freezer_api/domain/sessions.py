"""Session rules: the state machine every agent of a session drives.

A session groups jobs on many hosts that must start together. Each job
carries the session's ``session_tag``; the first job to start after the
hold-off window bumps the tag and the others, arriving within ``hold_off``
seconds with the previous tag, join that run. Every function here is pure:
it takes the current session document and ``now`` and returns the result
and the new document (None when nothing is to be written). The service
layer writes that with compare-and-set and retries on a lost race, so the
rules hold however many agents call at once.
"""

from freezer_api import exceptions
from freezer_api.domain import documents
from freezer_api.domain import kinds

DEFAULT_HOLD_OFF = 30
SUCCESS, HOLD_OFF, OUT_OF_SYNC = "success", "hold-off", "out-of-sync"


def new_session(body, session_id, user_id, project_id):
    doc = documents.without(body, kinds.SERVER_FIELDS[kinds.SESSIONS])
    doc.setdefault("session_tag", 0)
    doc.setdefault("hold_off", DEFAULT_HOLD_OFF)
    doc.setdefault("description", "")
    doc.update(session_id=session_id, user_id=user_id,
               project_id=project_id, status="active", result="",
               time_start=-1, time_end=-1, jobs={})
    return doc


def replaced_session(stored, body, session_id, user_id, project_id):
    """``body`` replacing ``stored`` (None if new). The member jobs are
    kept: only the session's job endpoints change them."""
    if stored is None:
        return new_session(body, session_id, user_id, project_id)
    doc = documents.without(body, kinds.SERVER_FIELDS[kinds.SESSIONS])
    doc.setdefault("session_tag", stored.get("session_tag", 0))
    doc.setdefault("hold_off", stored.get("hold_off", DEFAULT_HOLD_OFF))
    for field, default in (("status", "active"), ("result", ""),
                           ("time_start", -1), ("time_end", -1)):
        doc.setdefault(field, stored.get(field, default))
    doc.update(session_id=session_id, user_id=user_id,
               project_id=project_id, jobs=documents.copy_json(_jobs(stored)))
    return doc


def patched_session(stored, patch):
    return documents.deep_merge(stored, documents.without(
        patch, kinds.SERVER_FIELDS[kinds.SESSIONS]))


def _jobs(session):
    jobs = session.get("jobs")
    return jobs if isinstance(jobs, dict) else {}


def _member(session, job_id):
    jobs = _jobs(session)
    if job_id not in jobs:
        raise exceptions.InvalidInput("job_id %s not found in session"
                                      % job_id)
    return jobs


def start(session, job_id, current_tag, now):
    """A job of the session starts. Returns (result, new doc or None)."""
    tag = int(session.get("session_tag") or 0)
    if current_tag > tag:
        raise exceptions.InvalidInput(
            "requested tag value too high. Session Tag: %d Job Tag: %d"
            % (tag, current_tag))
    _member(session, job_id)
    time_start = session.get("time_start")
    if not isinstance(time_start, int) or time_start < 0:
        time_start = 0
    hold_off = session.get("hold_off")
    if not isinstance(hold_off, int):
        hold_off = DEFAULT_HOLD_OFF
    # A negative hold_off is no window at all: only the first start of a
    # round bumps the tag; the others, holding the old tag, are out of
    # sync (upstream compared the same way; an explicit test here so that
    # a time_start in the future cannot open a window either).
    within_window = hold_off >= 0 and now - time_start <= hold_off
    new = documents.copy_json(session)
    if within_window:
        if current_tag == tag:
            return HOLD_OFF, None
    else:
        if current_tag < tag:
            return OUT_OF_SYNC, None
        new.update(session_tag=tag + 1, time_start=now, status="running",
                   result="", time_end=-1)
    entry = new["jobs"][job_id]
    entry.update(status="running", result="", time_started=now)
    return SUCCESS, new


def overall_result(session):
    """``running`` while any member job has not completed, else
    ``success`` if all succeeded, else ``fail``. Independent of the order
    of the jobs."""
    jobs = _jobs(session).values()
    if any(j.get("status") != "completed" for j in jobs):
        return "running"
    if all(j.get("result") == "success" for j in jobs):
        return "success"
    return "fail"


def end(session, job_id, result, now, current_tag=None):
    """A job of the session ended with ``result``. Returns (result, new doc
    or None). An end carrying the tag of an earlier run is stale and
    changes nothing (``out-of-sync``)."""
    tag = int(session.get("session_tag") or 0)
    _member(session, job_id)
    if current_tag is not None and current_tag < tag:
        return OUT_OF_SYNC, None
    new = documents.copy_json(session)
    new["jobs"][job_id].update(status="completed", result=result,
                               time_ended=now)
    overall = overall_result(new)
    if overall != "running" and new.get("status") != "completed":
        new.update(status="completed", result=overall, time_end=now)
    return SUCCESS, new


def member_entry(job):
    """What a session records about a member job."""
    schedule = job.get("job_schedule") or {}
    return {"client_id": job.get("client_id", ""),
            "status": schedule.get("status", ""),
            "result": schedule.get("result", ""),
            "time_started": schedule.get("time_started", ""),
            "time_ended": schedule.get("time_ended", "")}


def attach(session, job):
    """Add ``job`` to ``session``: returns (new session, new job). The job
    takes the session's id, tag and schedule (merged over its own)."""
    new_job = documents.deep_merge(job, {
        "session_id": session["session_id"],
        "session_tag": int(session.get("session_tag") or 0),
        "job_schedule": session.get("schedule") or {},
    })
    new_session_doc = documents.copy_json(session)
    if not isinstance(new_session_doc.get("jobs"), dict):
        new_session_doc["jobs"] = {}
    new_session_doc["jobs"][job["job_id"]] = member_entry(new_job)
    return new_session_doc, new_job


def drop_member(session, job_id):
    """``session`` without ``job_id``, or None if it was not a member."""
    if job_id not in _jobs(session):
        return None
    new = documents.copy_json(session)
    del new["jobs"][job_id]
    return new


def detach(job):
    """``job`` out of its session: no session, and told to stop."""
    return documents.deep_merge(job, {"session_id": "", "session_tag": 0,
                                      "job_schedule": {"event": "stop"}})

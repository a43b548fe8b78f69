"""Regressions for what the real clients (python-freezerclient's CLI,
freezer-scheduler) needed and the server once refused; found by
tests/functional/test_agents_*.py, kept here on v1 × v2 × every backend.
"""


def _action(api, session_id, verb, **params):
    return api.post("/sessions/%s/action" % session_id, {verb: params})


def test_session_action_takes_the_tag_as_a_string_of_digits(api, clock):
    """``freezer session-start --job-tag 0`` sends ``"current_tag": "0"``
    (argparse keeps it a string); upstream converted it with int()."""
    session_id = api.session(hold_off=60)
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))

    started = _action(api, session_id, "start", job_id=job_id,
                      current_tag="0")
    assert started.status_code == 202, started.text
    assert started.json == {"result": "success", "session_tag": 1}
    held = _action(api, session_id, "start", job_id=job_id,
                   current_tag="1")
    assert held.json == {"result": "hold-off", "session_tag": 1}
    too_high = _action(api, session_id, "start", job_id=job_id,
                       current_tag="7")
    assert too_high.status_code == 400
    assert "too high" in too_high.json["description"]
    clock.advance(5)
    ended = _action(api, session_id, "end", job_id=job_id,
                    current_tag="1", result="success")
    assert ended.json == {"result": "success", "session_tag": 1}
    session = api.get("/sessions/" + session_id).json
    assert (session["status"], session["result"]) == \
        ("completed", "success")
    assert session["session_tag"] == 1

    # Only digits (a trailing newline is tolerated, as by int()):
    # anything else is 400, and changes nothing.
    for bad in ("x", "", "-1", "1.0", " 1", "0x1", "1e3", "9" * 16):
        answer = _action(api, session_id, "start", job_id=job_id,
                         current_tag=bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert api.get("/sessions/" + session_id).json["session_tag"] == 1

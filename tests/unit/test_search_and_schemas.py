"""Parsing search filters and validating bodies."""

import pytest

from freezer_api import exceptions
from freezer_api import schemas
from freezer_api.domain import search


def test_legacy_body_and_query_string_combine():
    query = search.build_query(
        {"match": [{"client_id": "c"}], "match_not": [{"status": "x"}],
         "time_after": 5},
        {"session_id": "s", "time_before": "9", "status": None},
        limit=7, offset=3)
    assert query.match == (("client_id", "c"), ("session_id", "s"))
    assert query.match_not == (("status", "x"),)
    assert (query.time_after, query.time_before) == (5, 9)
    assert (query.limit, query.offset) == (7, 3)


def test_all_is_text_or_a_json_list_of_terms():
    assert search.build_query({"match": [{"_all": "hello"}]}).text == \
        "hello"
    query = search.build_query({"match": [{"_all": '[{"a": 1}]'}]})
    assert query.match == (("a", 1),) and query.text is None


@pytest.mark.parametrize("body", [
    [], {"match": "x"}, {"match": [{}]}, {"match": [{"a": 1, "b": 2}]},
    {"match": [{"a b": 1}]}, {"match": [{"a": [1]}]},
    {"match": [{"a": None}]}, {"time_after": True},
    {"match_not": [{"_all": "x"}]},
    {"match": [{"k%d" % i: i} for i in range(40)]},
])
def test_bad_search(body):
    with pytest.raises(exceptions.InvalidInput):
        search.build_query(body)


@pytest.mark.parametrize("client_id,valid", [
    ("host", True), ("proj_host.example.com", True),
    ("proj_with_underscores_host-1", True), ("a" * 256, False),
    ("bad host", False), ("host\n", False), ("-host", False), ("", False),
])
def test_client_id_format(client_id, valid):
    body = {"client_id": client_id, "job_actions": []}
    if valid:
        schemas.validate("job_create", body)
    else:
        with pytest.raises(exceptions.InvalidInput):
            schemas.validate("job_create", body)


def test_every_schema_is_valid_and_compiled():
    for name in schemas.SCHEMAS:
        assert name in schemas._VALIDATORS


@pytest.mark.parametrize("interval,valid", [
    ("continuous", True), ("5 minutes", True), ("1 weeks", True),
    ("5  minutes", False), ("5 minute", False), ("5 minutes\n", False),
])
def test_schedule_interval(interval, valid):
    body = {"schedule": {"schedule_interval": interval}}
    if valid:
        schemas.validate("session_create", body)
    else:
        with pytest.raises(exceptions.InvalidInput):
            schemas.validate("session_create", body)

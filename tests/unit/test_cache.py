"""The one bounded cache, and that every cache of the request path is one
and stays within its bound however many different keys it is fed."""

from falcon import testing
from oslo_context import context as oslo_context
import pytest

from freezer_api import cache
from freezer_api.api import context
from freezer_api.api import params
from freezer_api.domain import kinds
from freezer_api.domain import search
from freezer_api.storage import base
from freezer_api.storage.sqlalchemy import driver as sql_driver
from freezer_api import policies
from tests.conftest import make_conf


def test_a_bounded_cache_never_holds_more_than_its_size():
    kept = cache.Bounded(3)
    for n in range(10):
        assert kept.put(n, str(n)) == str(n)
        assert len(kept) <= 3
        assert kept.get(n) == str(n)  # the newest entry is always there
    assert kept == {9: "9"}  # emptied at 3, 6 and 9


def test_a_full_cache_keeps_its_entries_when_one_is_replaced():
    kept = cache.Bounded(2)
    kept.put("a", 1)
    kept.put("b", 2)
    kept.put("a", 3)
    assert kept == {"a": 3, "b": 2}
    kept.put("c", 4)
    assert kept == {"c": 4}


def test_a_cache_holds_at_least_one_entry():
    with pytest.raises(ValueError):
        cache.Bounded(0)


class _Limits:
    default_limit = 10
    max_limit = 1000
    max_body_size = 65536


def test_parsed_list_queries_are_bounded():
    queries = params.ListQueries(_Limits())
    queries.known.size = 5
    for n in range(12):
        req = testing.create_req(path="/v1/jobs",
                                 query_string="limit=%d" % (n + 1))
        query, text = queries(req)
        assert query.limit == n + 1 and text == repr(query)
        assert len(queries.known) <= 5
    assert isinstance(queries.known, cache.Bounded)
    assert queries.known.size == 5


def test_policy_decisions_are_bounded(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"jobs:get_all": "role:reader"\n')
    enforcer = context.Enforcer(make_conf(**{
        "oslo_policy.policy_file": str(policy)}))
    enforcer.register_defaults(policies.list_rules())
    enforcer.decisions.size = 4
    for n in range(10):
        ctx = oslo_context.RequestContext(user_id="u%d" % n,
                                          project_id="p", roles=["reader"])
        assert enforcer.allowed("jobs:get_all",
                                {"project_id": "p", "user_id": ctx.user_id},
                                ctx)
        assert 1 <= len(enforcer.decisions) <= 4
    assert enforcer.decisions.size == 4


def test_the_sql_drivers_caches_are_bounded(tmp_path):
    driver = sql_driver.SQLAlchemyDriver(make_conf(**{
        "database.connection": "sqlite:///%s" % (tmp_path / "c.sqlite")}))
    try:
        driver.upgrade()
        for bounded in (driver._statements, driver._compiled):
            assert isinstance(bounded, cache.Bounded)
            assert bounded.size == sql_driver.MAX_STATEMENTS
            bounded.size = 3
        driver.MAX_REMEMBERED = 3
        scope = base.Scope(project_id="p")
        # Filters on other keys, and other limits: other statements, and
        # other remembered fingerprints.
        for n in range(8):
            query = search.build_query(
                {"match": [{"key%d" % k: "v"} for k in range(n + 1)]},
                {}, limit=n + 1, offset=0)
            assert driver.page(kinds.JOBS, scope, query).docs == []
            assert driver.fingerprint(kinds.JOBS, scope, query)
            assert len(driver._statements) <= 3
            assert len(driver._compiled) <= 3
            memo = driver._local.memo
            assert memo is None or len(memo[1]) <= 3
    finally:
        driver.close()

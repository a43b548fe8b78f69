"""freezer_api.keystone.Trusts without Keystone: what it refuses before
asking (the real trusts: tests/functional/test_keystone_trusts.py)."""

import pytest

from freezer_api import exceptions
from freezer_api import keystone
from tests.conftest import make_conf


def test_no_trustee_configured_is_422():
    trusts = keystone.Trusts(make_conf(**{
        "centralized_scheduler.auth_section": "nowhere"}))
    with pytest.raises(exceptions.Unprocessable) as raised:
        trusts.ensure("a-token", "alice", "proj-a")
    assert "[nowhere] names no Keystone user" in str(raised.value)


def test_no_token_is_422():
    trusts = keystone.Trusts(make_conf())
    with pytest.raises(exceptions.Unprocessable) as raised:
        trusts.ensure(None, "alice", "proj-a")
    assert "needs a Keystone token" in str(raised.value)


def test_the_token_is_never_shown():
    from freezer_api.services import Caller
    from freezer_api.storage.base import Scope
    caller = Caller("alice", "proj-a", Scope(project_id="proj-a"),
                    token="secret-token")
    assert "secret-token" not in repr(caller)

"""Authentication end to end: the real ``freezer-api`` behind auth_token
with real tokens, beyond the isolation matrix: public paths, identity
only from the token, roles as Keystone expands them, and Keystone down."""

import pytest
import requests

from tests.functional import keystone_support as ks
from tests.functional.keystone_support import keystone  # noqa: F401
from tests.functional.keystone_support import keystone_server  # noqa: F401

pytestmark = pytest.mark.slow


def _get(url, token=None, **headers):
    if token:
        headers["X-Auth-Token"] = token
    return requests.get(url, headers=headers, timeout=30)


def test_public_paths_need_no_token(keystone_server):  # noqa: F811
    for token in (None, "not-a-token"):
        versions = _get(keystone_server + "/", token)
        assert versions.status_code == 300
        assert [v["id"] for v in versions.json()["versions"]] == \
            ["v1", "v2"]
        assert _get(keystone_server + "/healthcheck", token).json() == \
            {"status": "OK"}
    # Everything else does, the version home documents too.
    for path in ("/v1", "/v1/jobs", "/v2/anything/jobs"):
        assert _get(keystone_server + path).status_code == 401, path


def test_roles_come_expanded_from_keystone(keystone):  # noqa: F811
    """The policy defaults name reader, member and admin; Keystone's role
    implications put every implied role in the token (and so in
    X-Roles), which is what lets admin and member read."""
    assert set(keystone.access("adam").role_names) >= \
        {"admin", "member", "reader"}
    assert set(keystone.access("alice").role_names) >= {"member", "reader"}
    assert "member" not in keystone.access("rita").role_names


def test_identity_comes_from_the_token_only(keystone,  # noqa: F811
                                            keystone_server):  # noqa: F811
    alice, bob = keystone.user("alice"), keystone.user("bob")
    token = keystone.token("alice")
    forged = {"X-User-Id": bob.user_id, "X-Project-Id": bob.project_id,
              "X-Tenant-Id": bob.project_id, "X-Roles": "admin,service",
              "X-User-Name": "bob", "X-Identity-Status": "Confirmed",
              "X-Is-Admin-Project": "True", "X-Service-Roles": "admin"}
    # bob's project, and an admin-only list: both refused.
    assert _get("%s/v2/%s/jobs" % (keystone_server, bob.project_id), token,
                **forged).status_code == 403
    assert _get(keystone_server + "/v1/jobs?all_projects=true", token,
                **forged).status_code == 403
    # What alice writes is hers, named after her token.
    base = "%s/v2/%s" % (keystone_server, alice.project_id)
    created = requests.post(base + "/backups", timeout=30, json={
        "container": "c", "hostname": "h", "backup_name": "b"},
        headers=dict(forged, **{"X-Auth-Token": token}))
    assert created.status_code == 201, created.text
    backup = _get("%s/backups/%s" % (base, created.json()["backup_id"]),
                  token).json()
    assert (backup["user_id"], backup["project_id"]) \
        == (alice.user_id, alice.project_id)
    assert "user_name" not in backup  # freezer-api 19 dropped it
    # Headers without a token are nobody.
    assert _get(base + "/backups", **forged).status_code == 401


def test_keystone_down_is_503_json(keystone, tmp_path):  # noqa: F811
    """auth_token cannot reach Keystone: a token it has not cached gets
    503 (not 401) with a JSON body, while the public paths still work
    and a request without a token is still 401."""
    dead = ks.refused_url()
    server = ks.start_server(tmp_path, keystone, authtoken={
        "auth_url": dead, "www_authenticate_uri": dead})
    try:
        base = server.base_url
        token = keystone.new_token("alice")
        for accept in ("application/json", "text/html", "*/*"):
            down = _get("%s/v2/%s/jobs" % (
                base, keystone.user("alice").project_id), token,
                Accept=accept)
            assert down.status_code == 503, down.text
            assert down.headers["Content-Type"] == "application/json"
            assert down.headers["Retry-After"] == "5"
            assert set(down.json()) == {"title", "description"}
        anonymous = _get(base + "/v1/jobs")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == \
            'Keystone uri="%s"' % dead
        assert _get(base + "/healthcheck").status_code == 200
        assert _get(base + "/").status_code == 300
    finally:
        server.stop()
    assert "Unable to validate token" in server.log_tail(20000)

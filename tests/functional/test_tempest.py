"""Upstream's own API tests: freezer-tempest-plugin 3.5.0's
``freezer_tempest_plugin.tests.freezer_api.api`` (34 tests), run by
tempest against the real server (gunicorn, SQLite) behind auth_token and
the test Keystone, with tempest's dynamic credentials (a project and users
of its own per test class, created through the admin account and deleted
afterwards).

Tempest finds the API in the Keystone catalog (service type ``backup``),
so the server serves on the catalog's port, held for this test alone.
Every test must pass: none may fail or be skipped.
"""

import os
import re
import subprocess
import textwrap

import pytest

from tests.functional import agents_support as agents
from tests.functional import keystone_support as ks
from tests.functional.keystone_support import keystone  # noqa: F401

pytestmark = pytest.mark.slow

SUITE = "freezer_tempest_plugin.tests.freezer_api.api"
EXPECTED = 34
TIMEOUT = 600
# stestr's closing summary: " - Passed: 34", " - Failed: 0", ...
TOTAL = re.compile(r"^ - (Passed|Failed|Skipped): (\d+)$", re.M)


def _tempest_conf(keystone, log_file):  # noqa: F811
    admin = keystone.user("admin")
    return textwrap.dedent("""\
        [DEFAULT]
        log_file = %(log)s
        use_stderr = false

        [auth]
        use_dynamic_credentials = true
        create_isolated_networks = false
        admin_username = %(admin)s
        admin_password = %(password)s
        admin_project_name = %(project)s
        admin_domain_name = %(domain)s

        [identity]
        uri_v3 = %(url)s
        auth_version = v3
        region = %(region)s
        v3_endpoint_type = public

        [identity-feature-enabled]
        api_v2 = false

        [service_available]
        freezer = true
        freezer-api = true
        neutron = false
        nova = false
        cinder = false
        glance = false
        swift = false

        [backup]
        catalog_type = backup
        endpoint_type = publicURL
        region = %(region)s
        """) % {"log": log_file, "admin": admin.name,
                "password": admin.password, "project": admin.project_name,
                "domain": keystone.domain_name, "url": keystone.url,
                "region": keystone.region}


def test_freezer_tempest_plugin_api_suite(keystone, tmp_path):  # noqa: F811
    venv = agents.ensure_venvs("tempest")["tempest"]
    workspace = tmp_path / "tempest"
    # tempest keeps a registry of workspaces by name in ~/.tempest: one
    # of its own, so that runs neither collide nor leave anything behind.
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    init = subprocess.run([str(venv / "bin" / "tempest"), "init",
                           str(workspace)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    (workspace / "etc" / "tempest.conf").write_text(
        _tempest_conf(keystone, workspace / "tempest.log"))
    (tmp_path / "server").mkdir()
    with agents.exclusive_port(ks.catalog_port()) as port:
        server = ks.start_server(tmp_path / "server", keystone, port=port)
        try:
            result = subprocess.run(
                [str(venv / "bin" / "tempest"), "run", "--concurrency", "1",
                 "--regex", "^" + re.escape(SUITE) + r"\."],
                cwd=workspace, env=env, capture_output=True, text=True,
                timeout=TIMEOUT)
        finally:
            server.stop()
    output = result.stdout + result.stderr
    totals = {name: int(count) for name, count in TOTAL.findall(output)}
    assert totals == {"Passed": EXPECTED, "Failed": 0, "Skipped": 0}, \
        output[-8000:] + "\n" + server.log_tail(4000)
    assert result.returncode == 0, output[-4000:]

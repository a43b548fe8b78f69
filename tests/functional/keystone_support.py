"""The real Keystone of ``tools.testenv.keystone`` for end-to-end tests:
tokens for its seeded users, and the real ``freezer-api`` server (gunicorn)
behind keystonemiddleware's ``auth_token``.

The Keystone is described by the variables of its ``environment()``
(``python -m tools.testenv env keystone`` prints them, ``make test``
exports them); see tools/keystone/README.rst for
the users, roles and projects. Without ``KEYSTONE_URL`` the tests using
these fixtures are skipped, or fail with ``FREEZER_TEST_REQUIRE_ALL=1``.

Use from a test module::

    from tests.functional import keystone_support as ks
    from tests.functional.keystone_support import keystone  # noqa: F401

    def test_something(keystone, tmp_path):
        server = ks.start_server(tmp_path, keystone)
        try:
            token = keystone.token("alice")
            ...
        finally:
            server.stop()

``start_server(..., port=ks.catalog_port())`` serves on the port of the
catalog's ``backup`` endpoint (``FREEZER_API_PORT``, 19090), where
python-freezerclient and freezer-scheduler find the API.
"""

import dataclasses
import os
import pathlib
import re
import socket
import urllib.parse

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.functional import server as server_module

# What Keystone's log (KEYSTONE_LOG_FILE) says went wrong: its own and
# gunicorn's error lines, the tracebacks under them, 5xx access lines.
LOG_TROUBLE = re.compile(r'\[ERROR\]| ERROR |^Traceback|^\s+\S|^\w+(Error|'
                         r'Exception)\b|" 5\d\d ')
# The users tools/keystone/seed.py creates (the bootstrap admin too).
USER_NAMES = ("alice", "amy", "rita", "bob", "adam", "freezer", "admin")
SERVICE_USER = "freezer"
DEFAULT_CATALOG_PORT = 19090


@dataclasses.dataclass(frozen=True)
class User:
    """One seeded user and the project its tokens are scoped to."""

    name: str
    password: str
    user_id: str
    project_name: str
    project_id: str
    role: str | None = None


class Keystone:
    """The test Keystone, from the variables of
    ``tools.testenv.keystone.Keystone.environment()``.

    Tokens are project-scoped, fetched once per user and kept (a token
    lives an hour); ``new_token`` fetches one that nobody has used yet.
    """

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        self.url = env["KEYSTONE_URL"].rstrip("/")
        self.region = env.get("KEYSTONE_REGION", "RegionOne")
        self.domain_id = env.get("KEYSTONE_DOMAIN_ID", "default")
        self.domain_name = env.get("KEYSTONE_DOMAIN_NAME", "Default")
        self.users = {}
        for name in USER_NAMES:
            prefix = "KEYSTONE_%s_" % name.upper()
            if prefix + "USER_ID" not in env:
                continue
            self.users[name] = User(
                name=env[prefix + "USERNAME"],
                password=env[prefix + "PASSWORD"],
                user_id=env[prefix + "USER_ID"],
                project_name=env[prefix + "PROJECT_NAME"],
                project_id=env[prefix + "PROJECT_ID"],
                role=env.get(prefix + "ROLE"))
        self._sessions = {}
        self.log_file = env.get("KEYSTONE_LOG_FILE")

    def log_size(self):
        """Where Keystone's log ends now (0 when there is none)."""
        try:
            return os.path.getsize(self.log_file or "")
        except OSError:
            return 0

    def log_trouble(self, since=0, limit=80):
        """The error, traceback and 5xx lines Keystone logged after byte
        ``since`` (``log_size()`` earlier), the last ``limit`` of them, as
        text for a failure message ("" when there are none)."""
        if not self.log_file:
            return ""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(since)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines()
                 if LOG_TROUBLE.search(line)]
        return "\n".join(lines[-limit:])

    def user(self, name):
        try:
            return self.users[name]
        except KeyError:
            raise LookupError("no seeded Keystone user %r (see "
                              "python -m tools.testenv env keystone)"
                              % name)

    def _auth(self, name):
        user = self.user(name)
        return v3.Password(auth_url=self.url, username=user.name,
                           password=user.password,
                           user_domain_id=self.domain_id,
                           project_id=user.project_id)

    def session(self, name):
        """A keystoneauth1 session of ``name`` (kept: it caches its
        token), e.g. for python-freezerclient."""
        if name not in self._sessions:
            self._sessions[name] = ks_session.Session(auth=self._auth(name))
        return self._sessions[name]

    def token(self, name):
        """``name``'s project-scoped token, the same one on every call."""
        return self.session(name).get_token()

    def access(self, name):
        """What Keystone says about ``name``'s token (roles, ids...)."""
        session = self.session(name)
        return session.auth.get_access(session)

    def new_token(self, name):
        """A token of ``name`` no server has seen (nor cached) yet."""
        return ks_session.Session(auth=self._auth(name)).get_token()

    def revoke(self, token):
        """Revoke ``token`` (a token may revoke itself)."""
        answer = requests.delete(self.url + "/auth/tokens", timeout=30,
                                 headers={"X-Auth-Token": token,
                                          "X-Subject-Token": token})
        assert answer.status_code == 204, answer.text

    def authtoken_options(self, **overrides):
        """``[keystone_authtoken]`` for a service validating tokens with
        the ``freezer`` service user (tools/keystone/README.rst)."""
        service = self.user(SERVICE_USER)
        options = {
            "www_authenticate_uri": self.url,
            "auth_url": self.url,
            "auth_type": "password",
            "username": service.name,
            "password": service.password,
            "project_name": service.project_name,
            "user_domain_name": self.domain_name,
            "project_domain_name": self.domain_name,
            "region_name": self.region,
            "interface": "internal",
            "service_type": "backup",
        }
        options.update(overrides)
        return options

    def authtoken_conf(self, **overrides):
        """The ``[keystone_authtoken]`` section as INI text; an override
        of ``None`` drops that option."""
        lines = ["[keystone_authtoken]"]
        for key, value in self.authtoken_options(**overrides).items():
            if value is not None:
                lines.append("%s = %s" % (key, value))
        return "\n".join(lines) + "\n"


def require_keystone():
    """The test Keystone, or a skip (a failure with
    ``FREEZER_TEST_REQUIRE_ALL=1``) when ``KEYSTONE_URL`` is not set."""
    if not os.environ.get("KEYSTONE_URL"):
        message = ("KEYSTONE_URL is not set: run python -m tools.testenv "
                   "start keystone and eval \"$(python -m tools.testenv env "
                   "keystone)\"")
        if os.environ.get("FREEZER_TEST_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Keystone()


def catalog_port(environ=None):
    """The port of the catalog's ``backup`` endpoint (``FREEZER_API_URL``
    from the Keystone's environment(), else ``FREEZER_API_PORT``, else
    19090)."""
    env = os.environ if environ is None else environ
    if env.get("FREEZER_API_URL"):
        port = urllib.parse.urlsplit(env["FREEZER_API_URL"]).port
        if port:
            return port
    return int(env.get("FREEZER_API_PORT") or DEFAULT_CATALOG_PORT)


def refused_url():
    """A loopback Keystone URL on which nothing listens: connections are
    refused at once (the port was free a moment ago)."""
    return "http://127.0.0.1:%d/v3" % server_module.free_port()


def port_is_free(port):
    """Whether ``port`` can be bound on loopback right now, as gunicorn
    binds it (with SO_REUSEADDR): a listening server makes it busy, the
    TIME_WAIT connections a stopped one left (up to a minute) do not."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_server(directory, keystone, port=None, database_url=None,
                 workers=1, authtoken=None, extra_conf=""):
    """Start ``freezer-api`` with ``auth_strategy = keystone`` and return
    the running ``tests.functional.server.Server`` (call ``stop()``).

    ``directory`` (created if missing) holds its config file and log (and
    the SQLite database unless ``database_url`` names one). ``port``
    defaults to a free one; a fixed port that is taken fails at once
    rather than probing someone else's server. ``authtoken`` overrides
    ``[keystone_authtoken]`` options (e.g. ``{"token_cache_time": -1}``;
    ``None`` drops one). One worker by default: auth_token caches tokens
    per process.
    """
    if port and not port_is_free(port):
        pytest.fail("port %d is taken: cannot start freezer-api there"
                    % port)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    url = database_url or "sqlite:///%s" % (directory / "freezer.sqlite")
    conf = "\n" + keystone.authtoken_conf(**(authtoken or {})) + extra_conf
    server = server_module.Server(directory, url, workers=workers,
                                  extra_conf=conf, auth_strategy="keystone",
                                  port=port)
    # /healthcheck is public: it answers without asking Keystone.
    return server.start()


@pytest.fixture(scope="session")
def keystone():
    """The test Keystone (skip/fail as ``require_keystone``)."""
    return require_keystone()


@pytest.fixture(scope="module")
def keystone_server(keystone, tmp_path_factory):
    """freezer-api behind auth_token on a free port, with SQLite; its
    base URL. Tokens are cached (``token_cache_time`` default, 300 s)."""
    server = start_server(tmp_path_factory.mktemp("keystone-api"), keystone)
    yield server.base_url
    server.stop()

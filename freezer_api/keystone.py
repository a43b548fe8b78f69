"""Keystone trusts for the jobs of central schedulers.

A central freezer-scheduler (``centralized_scheduler = true``) runs the
jobs of many projects as one service user. For each job it acts through a
trust: the job's owner delegates its roles in the job's project to that
service user (the *trustee*, the user of ``[centralized_scheduler]
auth_section``). Only the trustor may create a trust, so it is created
with the owner's own token while the job is created; the same trust is
reused for every job of that owner, project and trustee, and deleted with
the last job that names it.

``Trusts`` is the whole interface the services see (``ensure`` and
``delete``); the tests give the services a fake with the same two
methods. Tokens and trust ids are never logged.
"""

import contextlib
import logging
import threading

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session

from freezer_api import exceptions

LOG = logging.getLogger(__name__)
TIMEOUT = 10


class Trusts:
    """Trusts from job owners to the service user of ``auth_section``."""

    def __init__(self, conf):
        options = conf.centralized_scheduler
        self.section = options.auth_section
        self.roles = list(options.trusts_delegated_roles or ())
        ks_loading.register_auth_conf_options(conf, self.section)
        self.conf = conf
        self.session = ks_session.Session(timeout=TIMEOUT)
        self._lock = threading.Lock()
        self._service = None  # (trustee's user id, Keystone v3 URL)

    def _trustee(self):
        """The trustee's user id and Keystone's URL, found once per
        process (by the first trust, not at start-up)."""
        with self._lock:
            if self._service is None:
                with _keystone_errors("authenticate the trustee"):
                    plugin = ks_loading.load_auth_from_conf_options(
                        self.conf, self.section)
                    if plugin is None:
                        raise exceptions.Unprocessable(
                            "Missing required credentials: [%s] names no "
                            "Keystone user to delegate to" % self.section)
                    user_id = self.session.get_user_id(auth=plugin)
                url = plugin.auth_url.rstrip("/")
                if not url.endswith("/v3"):
                    url += "/v3"
                self._service = (user_id, url)
            return self._service

    def _call(self, what, method, path, token, **kwargs):
        _trustee, url = self._trustee()
        with _keystone_errors(what):
            return self.session.request(
                url + path, method, authenticated=False, raise_exc=True,
                headers={"X-Auth-Token": token}, **kwargs)

    def ensure(self, token, trustor_user_id, project_id, roles=()):
        """The ``user_credentials`` of a trust from ``trustor_user_id``
        (whose ``token`` this is) in ``project_id`` to the trustee that
        delegates ``trusts_delegated_roles`` (the token's ``roles`` when
        that list is empty): an existing one, or a new one."""
        if not token:
            raise exceptions.Unprocessable(
                "Missing required credentials: a job for a central client "
                "needs a Keystone token to delegate")
        trustee, _url = self._trustee()
        names = self.roles or list(roles)
        found = self._call(
            "list trusts", "GET", "/OS-TRUST/trusts", token,
            params={"trustor_user_id": trustor_user_id}).json()
        for trust in found.get("trusts") or []:
            if trust.get("trustee_user_id") != trustee or \
                    trust.get("project_id") != project_id or \
                    trust.get("remaining_uses") is not None or \
                    trust.get("expires_at"):
                continue
            # (A list leaves the roles out; the trust itself has them.)
            trust = self._call(
                "read a trust", "GET", "/OS-TRUST/trusts/" + trust["id"],
                token).json()["trust"]
            if set(names) <= {role.get("name")
                              for role in trust.get("roles") or ()}:
                return _credentials(trust)
        created = self._call(
            "create a trust", "POST", "/OS-TRUST/trusts", token, json={
                "trust": {"trustor_user_id": trustor_user_id,
                          "trustee_user_id": trustee,
                          "project_id": project_id,
                          "impersonation": False,
                          "allow_redelegation": False,
                          "roles": [{"name": name} for name in names]}})
        LOG.info("Created a trust from user %s in project %s to the "
                 "central scheduler's user %s", trustor_user_id, project_id,
                 trustee)
        return _credentials(created.json()["trust"])

    def delete(self, token, trust_id):
        """Delete a trust no job names any more. Only its trustor (or an
        admin) may: with anyone else's token, or while Keystone cannot be
        reached, it is left, and logged (the job is gone either way)."""
        try:
            self._call("delete a trust", "DELETE",
                       "/OS-TRUST/trusts/" + trust_id, token)
        except (exceptions.Unprocessable,
                exceptions.IdentityUnavailable) as exc:
            LOG.warning("An unused trust was left in Keystone: %s", exc)


def _credentials(trust):
    return {"trust_id": trust["id"],
            "trustor_user_id": trust["trustor_user_id"]}


_UNREACHABLE = (ks_exceptions.ConnectionError,
                ks_exceptions.ServiceUnavailable,
                ks_exceptions.GatewayTimeout, ks_exceptions.BadGateway,
                ks_exceptions.InternalServerError)


@contextlib.contextmanager
def _keystone_errors(what):
    """Keystone's refusals as 422 (upstream's "Missing required
    credentials"), its absence as 503."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise exceptions.IdentityUnavailable(
            "Keystone could not be reached to %s; try again later."
            % what) from exc
    except ks_exceptions.ClientException as exc:
        raise exceptions.Unprocessable(
            "Missing required credentials: Keystone refused to %s (%s)"
            % (what, getattr(exc, "http_status", None) or
               type(exc).__name__)) from exc

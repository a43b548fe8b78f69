"""The request context: identity read once per request, from what
keystonemiddleware's auth_token set (or, with noauth, what the client
sent), and the scope a request may reach."""

import time

import falcon
from oslo_context import context as oslo_context
from oslo_policy import policy as oslo_policy

from freezer_api import cache
from freezer_api import exceptions
from freezer_api import policies
from freezer_api.services import Caller
from freezer_api.storage.base import Scope

NOAUTH_DEFAULT_ROLES = ["member", "reader"]
# The longest user or project id stored (the id columns hold 255).
MAX_IDENTITY = 255


class RequestContext(oslo_context.RequestContext):
    """oslo.context's context; the one object that knows who is calling."""


class ContextMiddleware:
    """Builds ``req.context.auth`` for every route but the public ones
    (``is_public(path)``: ``routes.is_public``)."""

    def __init__(self, auth_strategy, is_public):
        self.keystone = auth_strategy == "keystone"
        self.is_public = is_public

    def process_resource(self, req, resp, resource, params):
        if resource is None or self.is_public(req.path):
            return
        if self.keystone and \
                req.get_header("X-Identity-Status") != "Confirmed":
            raise exceptions.Unauthenticated("Authentication required.")
        ctx = RequestContext.from_environ(req.env)
        if not ctx.user_id:
            raise exceptions.Unauthenticated(
                "No user identity: authenticate, or with auth_strategy "
                "= noauth send X-User-Id.")
        if not self.keystone and not req.get_header("X-Roles"):
            ctx.roles = list(NOAUTH_DEFAULT_ROLES)
        for header, value in (("X-User-Id", ctx.user_id),
                              ("X-Project-Id", ctx.project_id)):
            if value and len(value) > MAX_IDENTITY:
                raise exceptions.InvalidInput(
                    "%s is longer than %d characters"
                    % (header, MAX_IDENTITY))
        req.context.auth = ctx


class Enforcer(oslo_policy.Enforcer):
    """oslo.policy's Enforcer, with two costs of every check moved off the
    request path (together they were most of a poll's CPU time):

    * it looks for changed policy files at most once every
      RELOAD_INTERVAL seconds, not on every check (oslo.policy searches
      the config directories for a missing policy file, and stats the
      policy file and directories, each time);
    * it remembers each decision, keyed by everything a decision depends
      on (rule, target, credentials), until the rules change. Not when a
      rule makes an ``http:`` or ``https:`` check, whose answer may vary.
    """

    RELOAD_INTERVAL = 1.0
    MAX_DECISIONS = 10000

    def __init__(self, conf):
        super().__init__(conf)
        self.decisions = cache.Bounded(self.MAX_DECISIONS)
        self._next_load = 0.0
        self._signature = None
        self._cacheable = False

    def load_rules(self, force_reload=False):
        now = time.monotonic()
        if not force_reload and now < self._next_load:
            return
        super().load_rules(force_reload)
        self._next_load = now + self.RELOAD_INTERVAL
        signature = {name: str(check) for name, check in self.rules.items()}
        if signature != self._signature:
            self._signature = signature
            self._cacheable = not any("http:" in text or "https:" in text
                                      for text in signature.values())
            self.decisions.clear()

    def allowed(self, rule, target, ctx):
        """Whether ``ctx`` (a RequestContext) may apply ``rule`` to
        ``target`` (a flat dict of strings)."""
        self.load_rules()
        key = None
        if self._cacheable:
            key = (rule, tuple(target.items()), credentials_key(ctx))
            decision = self.decisions.get(key)
            if decision is not None:
                return decision
        decision = bool(self.authorize(rule, target, ctx.to_policy_values(),
                                       do_raise=False))
        if key is not None:
            self.decisions.put(key, decision)
        return decision


# What oslo.context's to_policy_values() is made of (a test checks that
# it still is): a decision depends on nothing else of the caller.
CREDENTIALS = ("user_id", "user_domain_id", "system_scope", "domain_id",
               "project_id", "project_domain_id", "roles",
               "is_admin_project", "service_user_id",
               "service_user_domain_id", "service_project_id",
               "service_project_domain_id", "service_roles")


_CREDENTIALS_KEY = "_freezer_credentials_key"


def credentials_key(ctx):
    """CREDENTIALS of ``ctx`` as one hashable tuple, built on the first
    check of a request and kept on the context for the next ones (a
    request checks two rules or more; its context is not changed once
    ContextMiddleware has built it)."""
    key = ctx.__dict__.get(_CREDENTIALS_KEY)
    if key is None:
        key = ctx.__dict__[_CREDENTIALS_KEY] = tuple(
            tuple(value) if isinstance(value, list) else value
            for value in (getattr(ctx, name) for name in CREDENTIALS))
    return key


class Authorizer:
    """oslo.policy, built once by the app factory (never a global)."""

    def __init__(self, conf):
        self.enforcer = Enforcer(conf)
        self.enforcer.register_defaults(policies.list_rules())

    def allowed(self, req, rule, project_id=None):
        ctx = req.context.auth
        target = {"project_id": project_id or ctx.project_id or "",
                  "user_id": ctx.user_id}
        return self.enforcer.allowed(rule, target, ctx)

    def authorize(self, req, rule, project_id=None):
        if not self.allowed(req, rule, project_id):
            raise exceptions.Forbidden(
                "You are not allowed to perform %s" % rule)


def caller(req, project_id, all_projects=False, privileged=False):
    """The Caller of a request: v1 (``project_id`` None) reaches the
    user's documents, v2 those of the URL project, which must be the one
    the caller is scoped to. ``privileged``: sees every job's trust."""
    ctx = req.context.auth
    token_project = ctx.project_id or ""
    if project_id is None:
        scope = Scope(user_id=ctx.user_id, prefer_project=token_project,
                      all_projects=all_projects)
        owner_project = token_project
    else:
        if project_id != token_project and not all_projects:
            raise exceptions.Forbidden(
                "The token is not scoped to project %s" % project_id)
        scope = Scope(project_id=project_id, all_projects=all_projects)
        owner_project = project_id
    return Caller(user_id=ctx.user_id, owner_project=owner_project,
                  scope=scope, token=ctx.auth_token,
                  roles=tuple(ctx.roles), privileged=privileged)


class RequireJSON:
    """406 for a client that will not take JSON (as upstream)."""

    def process_request(self, req, resp):
        if req.get_header("Accept") and not req.client_accepts_json:
            raise falcon.HTTPNotAcceptable(
                title="Not Acceptable",
                description="This API only serves application/json.")

"""The request context: identity read once per request, from what
keystonemiddleware's auth_token set (or, with noauth, what the client
sent), and the scope a request may reach."""

import falcon
from oslo_context import context as oslo_context
from oslo_policy import policy as oslo_policy

from freezer_api import exceptions
from freezer_api import policies
from freezer_api.services import Caller
from freezer_api.storage.base import Scope

NOAUTH_DEFAULT_ROLES = ["member", "reader"]


class RequestContext(oslo_context.RequestContext):
    """oslo.context's context; the one object that knows who is calling."""


class ContextMiddleware:
    """Builds ``req.context.auth`` for every route but the public ones."""

    def __init__(self, auth_strategy):
        self.keystone = auth_strategy == "keystone"

    def process_resource(self, req, resp, resource, params):
        if resource is None or getattr(resource, "public", False):
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
        req.context.auth = ctx


class Authorizer:
    """oslo.policy, built once by the app factory (never a global)."""

    def __init__(self, conf):
        self.enforcer = oslo_policy.Enforcer(conf)
        self.enforcer.register_defaults(policies.list_rules())

    def authorize(self, req, rule, project_id=None):
        ctx = req.context.auth
        target = {"project_id": project_id or ctx.project_id or "",
                  "user_id": ctx.user_id}
        if not self.enforcer.authorize(rule, target, ctx.to_policy_values(),
                                       do_raise=False):
            raise exceptions.Forbidden(
                "You are not allowed to perform %s" % rule)


def caller(req, project_id, all_projects=False):
    """The Caller of a request: v1 (``project_id`` None) reaches the
    user's documents, v2 those of the URL project, which must be the one
    the caller is scoped to."""
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
                  scope=scope, user_name=ctx.user_name)


class RequireJSON:
    """406 for a client that will not take JSON (as upstream)."""

    def process_request(self, req, resp):
        if req.get_header("Accept") and not req.client_accepts_json:
            raise falcon.HTTPNotAcceptable(
                title="Not Acceptable",
                description="This API only serves application/json.")

"""Falcon resources. Each instance serves both /v1 (``project_id`` None)
and /v2/{project_id}; nothing below here knows which version it is."""

import functools
import re

import falcon

from freezer_api import exceptions
from freezer_api import schemas
from freezer_api.api import context
from freezer_api.api import params
from freezer_api.domain import kinds


# A path id that no document can have (longer than the id columns, or with
# control characters such as NUL, which PostgreSQL refuses) is never
# looked up.
PATH_ID = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
# What an encoded slash (%2F) inside a path segment is in the path the
# routes see (freezer_api.app): a character PATH_ID refuses, so that the
# segment stays one id, which cannot exist, instead of becoming two.
ENCODED_SLASH = "\x00"


class CheckPathIds:
    """Middleware: 404 for such an id (400 when POST would create a
    document under it), after authentication and before any storage."""

    def process_resource(self, req, resp, resource, params):
        if resource is None:
            return
        for name, kind in (("doc_id", getattr(resource, "kind", None)),
                           ("job_id", kinds.JOBS)):
            value = params.get(name)
            if value is None or PATH_ID.fullmatch(value):
                continue
            shown = repr(value[:64].replace(ENCODED_SLASH, "/") +
                         ("..." if len(value) > 64 else ""))
            if name == "doc_id" and req.method == "POST" and \
                    isinstance(resource, EditableItem):
                raise exceptions.InvalidInput(
                    "%s %s is not a valid id" % (kinds.ID_FIELDS[kind],
                                                 shown))
            raise exceptions.NotFound(
                "No %s found with ID %s" % (kind[:-1], shown))


class Resource:
    """What every resource gets: its service, the authorizer, limits."""

    def __init__(self, kind, services, authorizer, limits):
        self.kind = kind
        self.id_field = kinds.ID_FIELDS[kind]
        self.service = services.for_kind(kind)
        self.authorizer = authorizer
        self.limits = limits
        self.list_queries = params.ListQueries(limits)

    def _caller(self, req, rule, project_id, all_projects=False):
        self.authorizer.authorize(req, rule, project_id)
        # Only the trustor and these see a job's Keystone trust.
        privileged = self.kind == kinds.JOBS and self.authorizer.allowed(
            req, "jobs:get_credentials", project_id)
        return context.caller(req, project_id, all_projects, privileged)

    def _body(self, req, schema):
        return schemas.validate(schema, params.read_object(
            req, self.limits.max_body_size))


class Collection(Resource):
    """/{kind}: list (GET, with the legacy search body) and create."""

    create_schema = {
        kinds.BACKUPS: "backup_create", kinds.CLIENTS: "client_create",
        kinds.JOBS: "job_create", kinds.ACTIONS: "action_create",
        kinds.SESSIONS: "session_create",
    }

    # The kinds whose list takes ``all_projects`` (policy
    # jobs:get_all_projects).
    all_projects_kinds = (kinds.JOBS,)

    def on_get(self, req, resp, project_id=None):
        all_projects = self.kind in self.all_projects_kinds and \
            params.bool_param(req, "all_projects")
        if all_projects:
            self.authorizer.authorize(req, "jobs:get_all_projects",
                                      project_id)
        caller = self._caller(req, self.kind + ":get_all", project_id,
                              all_projects)
        query, query_text = self.list_queries(req)
        if self.kind not in kinds.TIME_FILTER_KINDS and (
                query.time_after is not None or
                query.time_before is not None):
            raise exceptions.InvalidInput(
                "time_after and time_before do not apply to %s" % self.kind)
        tag = functools.partial(params.list_etag, self.kind, caller.scope,
                                query_text)
        wanted = req.if_none_match
        if wanted is not None:
            # A client that has a page asks whether it changed: the
            # fingerprint is read without the documents.
            etag = tag(self.service.fingerprint(caller, query))
            if params.etag_matches(wanted, etag):
                resp.etag = etag
                resp.status = falcon.HTTP_304
                return
        page = self.service.page(caller, query)
        resp.etag = tag(page.fingerprint)
        resp.media = {self.kind: page.docs}

    def on_post(self, req, resp, project_id=None):
        caller = self._caller(req, self.kind + ":create", project_id)
        body = self._body(req, self.create_schema[self.kind])
        if self.kind == kinds.CLIENTS and body.get("is_central"):
            self.authorizer.authorize(req, "clients:create_central",
                                      project_id)
        doc_id, _version = self.service.create(caller, body)
        resp.status = falcon.HTTP_201
        resp.media = {self.id_field: doc_id}


class Item(Resource):
    """/{kind}/{id}: show and delete."""

    def on_get(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, self.kind + ":get", project_id)
        doc = self.service.get(caller, doc_id)
        resp.etag = '"%d"' % doc["_version"]
        wanted = req.if_none_match
        if wanted is not None and params.etag_matches(wanted, resp.etag):
            resp.status = falcon.HTTP_304
            return
        resp.media = doc

    def on_delete(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, self.kind + ":delete", project_id)
        self.service.delete(caller, doc_id, params.if_match(req))
        resp.status = falcon.HTTP_204


class BackupItem(Item):
    """/backups/{id}: also PATCH (freezer-api 19) of the status and the
    metadata; the answer is the backup as stored now."""

    body_schema = "backup_patch"

    def on_patch(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, "backups:update", project_id)
        body = self._body(req, self.body_schema)
        doc = self.service.patch(caller, doc_id, body, params.if_match(req))
        resp.etag = '"%d"' % doc["_version"]
        resp.media = doc


class EditableItem(Item):
    """/{kind}/{id} of jobs, actions and sessions: also PATCH, and POST to
    create or replace by id."""

    schemas = {
        kinds.JOBS: ("job_patch", "job_create"),
        kinds.ACTIONS: ("action_patch", "action_create"),
        kinds.SESSIONS: ("session_patch", "session_create"),
    }

    def on_patch(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, self.kind + ":update", project_id)
        body = self._body(req, self.schemas[self.kind][0])
        version = self.service.patch(caller, doc_id, body,
                                     params.if_match(req))
        resp.etag = '"%d"' % version
        resp.media = {self.id_field: doc_id, "version": version}

    def on_post(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, self.kind + ":replace", project_id)
        body = self._body(req, self.schemas[self.kind][1])
        version = self.service.replace(caller, doc_id, body,
                                       params.if_match(req))
        resp.status = falcon.HTTP_201
        resp.etag = '"%d"' % version
        resp.media = {self.id_field: doc_id, "version": version}


class JobEvent(Resource):
    """/jobs/{id}/event: {"start"|"stop"|"abort": anything}."""

    def on_post(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, "jobs:event:create", project_id)
        body = params.read_json(req, self.limits.max_body_size)
        if not isinstance(body, dict) or len(body) != 1:
            raise exceptions.InvalidInput(
                "Bad event request format: send one of {\"start\": null}, "
                "{\"stop\": null} or {\"abort\": null}")
        (event, _value), = body.items()
        if event not in ("start", "stop", "abort"):
            raise exceptions.InvalidInput(
                "Bad Action Method: %r is not start, stop or abort"
                % (event,))
        result = self.service.event(caller, doc_id, event)
        resp.status = falcon.HTTP_202
        resp.media = {"result": result}


class SessionAction(Resource):
    """/sessions/{id}/action: a member job starts or ends its run."""

    body_schema = "session_action"

    def on_post(self, req, resp, doc_id, project_id=None):
        caller = self._caller(req, "sessions:action:create", project_id)
        body = self._body(req, self.body_schema)
        (verb, arguments), = body.items()
        if isinstance(arguments.get("current_tag"), str):
            # The schema allows only digits here (freezer session-start).
            arguments["current_tag"] = int(arguments["current_tag"])
        result, tag = self.service.action(caller, doc_id, verb, arguments)
        resp.status = falcon.HTTP_202
        resp.media = {"result": result, "session_tag": tag}


class SessionJob(Resource):
    """/sessions/{id}/jobs/{job_id}: add (PUT) and remove (DELETE)."""

    def on_put(self, req, resp, doc_id, job_id, project_id=None):
        caller = self._caller(req, "sessions:job:add", project_id)
        self.service.add_job(caller, doc_id, job_id)
        resp.status = falcon.HTTP_204

    def on_delete(self, req, resp, doc_id, job_id, project_id=None):
        caller = self._caller(req, "sessions:job:remove", project_id)
        self.service.remove_job(caller, doc_id, job_id)
        resp.status = falcon.HTTP_204

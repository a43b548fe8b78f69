"""The OpenAPI 3.1 document of every v1 and v2 operation.

It is built, not written: the paths and methods come from the route table
(``routes.ROUTES`` and the responders of each resource class; which
routes ask for no token from ``routes.PUBLIC_PATHS``), the request bodies
are the very JSON Schemas the service validates with
(``freezer_api.schemas.SCHEMAS``, named by the resource classes), and each
operation's error statuses follow from its facts in ``OPERATIONS`` (a
body, If-Match, a document id, a write). ``api-ref/openapi.yaml``
is this module's output; a unit test fails when the two differ, so the
published document cannot drift from the code::

    python -m freezer_api.api.openapi -o api-ref/openapi.yaml   # make openapi

Custom ``format`` names (``freezer-id``, ``freezer-id-or-empty``,
``client-id``) are described in ``components.schemas.Formats``.
"""

import argparse
import copy
import json
import os
import sys
import typing

import yaml

from freezer_api import __version__
from freezer_api import schemas
from freezer_api.api import resources
from freezer_api.api import routes
from freezer_api.conf import api as api_conf
from freezer_api.domain import kinds
from freezer_api.domain import search

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
METHODS = routes.METHODS

_API_DEFAULTS = {opt.name: opt.default for opt in api_conf.API_OPTS}
DEFAULT_LIMIT = _API_DEFAULTS["default_limit"]
MAX_LIMIT = _API_DEFAULTS["max_limit"]
MAX_OFFSET = 10 ** 9  # params.list_query
MAX_BODY = _API_DEFAULTS["max_body_size"]

SINGULAR = {kinds.BACKUPS: "backup", kinds.CLIENTS: "client",
            kinds.JOBS: "job", kinds.ACTIONS: "action",
            kinds.SESSIONS: "session"}

# -- errors -------------------------------------------------------------
# status -> (component name, description)
ERROR_RESPONSES = {
    400: ("BadRequest", "Malformed request: invalid JSON (including "
          "duplicate keys, NaN, numbers out of range, NUL characters or "
          "lone surrogates in strings, nesting deeper than 32 levels), a "
          "body that violates the schema, bad paging or filter "
          "parameters, a malformed If-Match, unusable identity headers, "
          "or a request the HTTP server cannot parse (a control character "
          "in a header, for one)."),
    401: ("Unauthorized", "No (valid) identity: a Keystone token, or with "
          "auth_strategy = noauth an X-User-Id header."),
    403: ("Forbidden", "Denied by policy, or (v2) the URL project is not "
          "the token's project."),
    404: ("NotFound", "No such document in the caller's scope (another "
          "tenant's document is always 404)."),
    406: ("NotAcceptable", "The Accept header excludes application/json."),
    409: ("Conflict", "The id is taken, or the write lost a "
          "compare-and-set race too many times; try again."),
    412: ("PreconditionFailed", "If-Match names another version than "
          "the current one."),
    413: ("ContentTooLarge", "The body is larger than [api] max_body_size "
          "(%d bytes by default)." % MAX_BODY),
    414: ("URITooLong", "The request line (method, path and query string, "
          "percent-encoded) is longer than gunicorn's limit_request_line "
          "(4094 bytes)."),
    415: ("UnsupportedMediaType", "A non-empty body whose Content-Type is "
          "not JSON (application/json, */*+json, text/plain or "
          "application/x-www-form-urlencoded are read as JSON)."),
    422: ("UnprocessableEntity", "Well-formed, but names a client that "
          "does not exist or does not support what the job asks, or "
          "Keystone refused the trust a central client's job needs."),
    431: ("RequestHeaderFieldsTooLarge", "A header is longer than "
          "gunicorn's limit_request_field_size (8190 bytes), or there are "
          "more than limit_request_fields (100)."),
    503: ("ServiceUnavailable", "Storage (or, for a trust, Keystone) is "
          "unreachable; retry after Retry-After seconds."),
}

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error has this body.",
    "required": ["title", "description"],
    "properties": {"title": {"type": "string"},
                   "description": {"type": "string"}},
    "additionalProperties": False,
}

FORMATS = {
    "type": "string",
    "description": (
        "Custom formats used by these schemas. freezer-id: 1 to 255 "
        "characters, each a letter, a digit (any script), '_' or '-', "
        "nothing after (no trailing newline). freezer-id-or-empty: '' or a "
        "freezer-id. client-id: at most 255 characters, a host name "
        "(labels of letters, digits and '-', separated by '.'), optionally "
        "prefixed by '<project>_'."),
}


def _ref(kind, name):
    return {"$ref": "#/components/%s/%s" % (kind, name)}


# -- documents as the API shows them -----------------------------------
_STR255 = {"type": "string", "maxLength": 255}
_VERSION = {"type": "integer", "minimum": 1,
            "description": "Present on GET by id: the document's version "
                           "(also in the ETag header)."}


def _response_schemas():
    """Schemas of the stored documents that GET returns."""
    job = copy.deepcopy(schemas.SCHEMAS["job"])
    job["properties"]["_version"] = _VERSION
    owner = {"user_id": _STR255, "project_id": _STR255}
    action = copy.deepcopy(schemas.SCHEMAS["action_create"])
    action["properties"].update(owner, _version=_VERSION)
    action["required"] = ["action_id", "user_id", "freezer_action"]
    session = copy.deepcopy(schemas.SCHEMAS["session_create"])
    session["properties"].update(owner, _version=_VERSION,
                                 jobs={"type": "object"})
    session["required"] = ["session_id", "user_id", "schedule", "jobs",
                           "session_tag", "status"]
    client = {
        "type": "object",
        "required": ["client_id", "user_id", "client"],
        "properties": dict(
            owner, client_id=schemas.CLIENT_INFO["properties"]["client_id"],
            client=_ref("schemas", "client_create"), _version=_VERSION),
    }
    backup = {
        "type": "object",
        "required": ["backup_id", "user_id", "backup_metadata"],
        "properties": dict(
            owner, backup_id=schemas.ID,
            status={"enum": schemas.BACKUP_STATUSES},
            backup_metadata=_ref("schemas", "backup_create"),
            _version=_VERSION),
    }
    return {"Job": job, "Action": action, "Session": session,
            "Client": client, "Backup": backup}


SEARCH_TERM = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "propertyNames": {"pattern": "^%s%s" % (search.KEY_RE.pattern,
                                            schemas.END)},
    "additionalProperties": {"anyOf": [
        {"type": "string", "maxLength": search.MAX_TEXT},
        {"type": "number"}, {"type": "boolean"}]},
}
_TIME = {"anyOf": [{"type": "integer", "minimum": -2 ** 63,
                    "maximum": 2 ** 63 - 1},
                   {"type": "string", "pattern": r"^\s*-?\d{1,18}\s*$"}]}
SEARCH = {
    "type": "object",
    "description": (
        "Upstream's search, sent as the body of a GET (OpenAPI 3.1 allows "
        "it). Each term of match is 'a field of that name, at any depth, "
        "equals the value'; {\"_all\": TEXT} is a JSON list of terms or "
        "free text. At most %d terms in all." % search.MAX_TERMS),
    "properties": {
        "match": {"type": "array", "items": SEARCH_TERM,
                  "maxItems": search.MAX_TERMS},
        "match_not": {"type": "array", "items": SEARCH_TERM,
                      "maxItems": search.MAX_TERMS},
        "time_after": _TIME,
        "time_before": _TIME,
    },
}

VERSIONS_DOC = {
    "type": "object",
    "required": ["versions"],
    "properties": {"versions": {"type": "array", "items": {
        "type": "object",
        "required": ["id", "status", "links"],
        "properties": {
            "id": {"type": "string"}, "status": {"type": "string"},
            "updated": {"type": "string"},
            "links": {"type": "array", "items": {
                "type": "object", "required": ["href", "rel"],
                "properties": {"href": {"type": "string"},
                               "rel": {"type": "string"}}}}}}}},
}
HOME_DOC = {"type": "object", "required": ["resources"],
            "properties": {"resources": {"type": "object"}}}
HEALTH_DOC = {"type": "object", "required": ["status"],
              "properties": {"status": {"const": "OK"}},
              "additionalProperties": False}


# -- parameters ---------------------------------------------------------
def _path_param(name, description, schema):
    return {"name": name, "in": "path", "required": True,
            "description": description, "schema": schema}


PROJECT_PARAM = _path_param(
    "project_id", "The project the documents belong to: must be the "
    "token's project (else 403).", {"type": "string", "minLength": 1,
                                    "maxLength": 255})


def _id_param(kind, name=None):
    if kind == kinds.CLIENTS:
        schema = copy.deepcopy(schemas.CLIENT_INFO["properties"]["client_id"])
    else:
        schema = copy.deepcopy(schemas.ID)
    return _path_param(name or kinds.ID_FIELDS[kind],
                       "The %s's id." % SINGULAR[kind], schema)


def _query(name, schema, description):
    return {"name": name, "in": "query", "required": False,
            "description": description, "schema": schema}


PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                     "default": DEFAULT_LIMIT},
           "Page size ([api] default_limit and max_limit)."),
    _query("offset", {"type": "integer", "minimum": 0,
                      "maximum": MAX_OFFSET, "default": 0},
           "How many documents to skip; past the end is an empty page."),
]
_FILTER_TEXT = {"type": "string", "maxLength": search.MAX_TEXT}
FILTERS = {
    "client_id": "Only documents whose client_id is this.",
    "session_id": "Only documents whose session_id is this.",
    "status": "Only documents whose status is this.",
    "time_after": "Only documents whose time (a backup's time_stamp, a "
                  "job's job_schedule.time_created, a session's "
                  "time_start) is at least this.",
    "time_before": "Only documents whose time is at most this.",
}


def _filters(kind):
    params = []
    for name, text in FILTERS.items():
        if name.startswith("time_"):
            if kind not in kinds.TIME_FILTER_KINDS:
                continue
            schema = {"type": "integer", "minimum": -(10 ** 18) + 1,
                      "maximum": 10 ** 18 - 1}
        else:
            schema = _FILTER_TEXT
        params.append(_query(name, copy.deepcopy(schema), text))
    if kind in resources.Collection.all_projects_kinds:
        params.append(_query(
            "all_projects", {"type": "boolean", "default": False},
            "Jobs of every project (policy jobs:get_all_projects)."))
    return params


IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "description": "Only if the document is at this version (as "
                           "sent in ETag, e.g. \"3\"); else 412.",
            "schema": {"type": "string"}}
ETAG = {"description": "The document's version, quoted.",
        "schema": {"type": "string"}}
LIST_ETAG = {"description": "A tag of this page (of these documents at "
                            "these versions), quoted.",
             "schema": {"type": "string"}}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "description": "304 (no body) if the ETag is still this "
                                "one.", "schema": {"type": "string"}}


def _not_modified(etag):
    return {"description": "Not modified: the ETag sent in If-None-Match "
                           "is still the current one.",
            "headers": {"ETag": etag}}


# -- operations ---------------------------------------------------------
def _body(schema_ref, required=True, description=None):
    body = {"required": required,
            "content": {JSON: {"schema": schema_ref}}}
    if description:
        body["description"] = description
    return body


def _ok(description, schema=None, media=JSON, headers=None):
    response = {"description": description}
    if headers:
        response["headers"] = headers
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return response


def _id_answer(kind, version=False):
    props = {kinds.ID_FIELDS[kind]: {"type": "string"}}
    if version:
        props["version"] = {"type": "integer"}
    return {"type": "object", "required": sorted(props),
            "properties": props}


_WRITE = (409, 503)
_BODY = (413, 415)


# Any request may be refused by the HTTP server with these.
HTTP_LIMITS = (400, 414, 431)
# Every responder of the protected routes may answer these.
PROTECTED = HTTP_LIMITS + (401, 403, 406)


def _doc(kind):
    return _ref("schemas", SINGULAR[kind].capitalize())


def _page(kind):
    return {"type": "object", "required": [kind],
            "properties": {kind: {"type": "array", "items": _doc(kind)}}}


def _versioned_id_answer(kind):
    return _id_answer(kind, version=True)


class Op(typing.NamedTuple):
    """What one responder of the route table does, for its description.
    ``%(name)s`` and ``%(many)s`` in the texts are the kind's singular
    and plural; ``answer`` (the schema answered) and ``body`` (the name
    of the request body's schema) are either that or a function of the
    kind."""

    summary: str
    status: int
    description: str
    answer: object = None
    body: object = None
    etag: dict = None        # the answer's ETag header (GET: and a 304)
    if_match: bool = False   # takes If-Match (so: 400 and 412)
    creates: bool = False    # POST to an id creates it: never a 404


_EVENT_RESULT = {"type": "object", "required": ["result"],
                 "properties": {"result": {"type": "string"}}}
_SESSION_RESULT = {
    "type": "object", "required": ["result", "session_tag"],
    "properties": {"result": {"enum": ["success", "hold-off",
                                       "out-of-sync"]},
                   "session_tag": {"type": "integer"}}}
_EDITABLE = resources.EditableItem.schemas

# (resource class, method) -> Op; a class inherits its bases' entries.
OPERATIONS = {
    (resources.Collection, "get"): Op(
        "List %(many)s (paged, oldest first) and search them", 200,
        "A page of %(many)s.", _page, "search", LIST_ETAG),
    (resources.Collection, "post"): Op(
        "Create a %(name)s", 201, "Created; the answer names the new id.",
        _id_answer, resources.Collection.create_schema.get),
    (resources.Item, "get"): Op(
        "Show a %(name)s", 200, "The %(name)s, with _version.", _doc,
        etag=ETAG),
    (resources.Item, "delete"): Op(
        "Delete a %(name)s", 204, "Deleted.", if_match=True),
    (resources.BackupItem, "patch"): Op(
        "Set a backup's status and merge into its metadata", 200,
        "The backup as stored now, with _version.", _doc,
        resources.BackupItem.body_schema, ETAG, if_match=True),
    (resources.EditableItem, "patch"): Op(
        "Update a %(name)s: deep-merge the body into it", 200,
        "Updated; the answer names the new version.", _versioned_id_answer,
        lambda kind: _EDITABLE[kind][0], ETAG, if_match=True),
    (resources.EditableItem, "post"): Op(
        "Create or replace the %(name)s of this id", 201,
        "Stored; the answer names the new version.", _versioned_id_answer,
        lambda kind: _EDITABLE[kind][1], ETAG, if_match=True, creates=True),
    (resources.JobEvent, "post"): Op(
        "Send a start, stop or abort event to a job", 202, "Accepted.",
        _EVENT_RESULT, "job_event"),
    (resources.SessionAction, "post"): Op(
        "A member job starts or ends its run of the session", 202,
        "Accepted; result is success, hold-off or out-of-sync.",
        _SESSION_RESULT, resources.SessionAction.body_schema),
    (resources.SessionJob, "put"): Op(
        "Add a job to the session (it leaves any other session)", 204,
        "Added."),
    (resources.SessionJob, "delete"): Op(
        "Take a job out of the session (idempotent)", 204,
        "Removed, or was not a member."),
}
# The request bodies that are a job, which names a client: 422 when that
# client does not exist or cannot do what the job asks.
_JOB_BODIES = (resources.Collection.create_schema[kinds.JOBS],) + \
    _EDITABLE[kinds.JOBS]


def _of(value, kind):
    return value(kind) if callable(value) else value


def _operation(cls, method, kind, path):
    """(summary, success responses, request body, extra parameters,
    error statuses) of one responder of the route table, from its Op."""
    op = next((OPERATIONS[base, method] for base in cls.__mro__
               if (base, method) in OPERATIONS), None)
    if op is None:
        raise ValueError("no OpenAPI description of %s.on_%s"
                         % (cls.__name__, method))
    names = {"name": SINGULAR[kind], "many": kind}
    success = {op.status: _ok(
        op.description % names, _of(op.answer, kind),
        headers={"ETag": op.etag} if op.etag else None)}
    codes, extra, body = (), [], None
    if method == "get" and op.etag:
        success[304] = _not_modified(op.etag)
        if op.etag is LIST_ETAG:
            extra += PAGING + _filters(kind)
        extra.append(IF_NONE_MATCH)
    if op.if_match:
        extra.append(IF_MATCH)
        codes += (400, 412)
    if "{doc_id}" in path and not op.creates:
        codes += (404,)
    if op.body:
        name = _of(op.body, kind)
        body = _body(_ref("schemas", name), required=method != "get")
        codes += (400,) + _BODY
        if name in _JOB_BODIES:
            codes += (422,)
    codes += (503,) if method == "get" else _WRITE
    return op.summary % names, success, body, extra, codes


def _responses(success, codes):
    responses = {str(code): response for code, response in success.items()}
    for code in sorted(set(codes)):
        responses[str(code)] = _ref("responses", ERROR_RESPONSES[code][0])
    return responses


def _path_params(path, kind):
    """The path parameters of a route below a version prefix."""
    params = []
    if "{doc_id}" in path:
        params.append(_id_param(kind))
    if "{job_id}" in path:
        params.append(_id_param(kinds.JOBS))
    return params


def _versioned_paths():
    paths = {}
    for version, prefix in routes.PREFIXES.items():
        for path, cls, kind in routes.ROUTES:
            item = paths.setdefault(
                prefix + routes.document_path(path, kind), {})
            params = ([PROJECT_PARAM] if "{project_id}" in prefix else []) \
                + _path_params(path, kind)
            if params:
                item["parameters"] = copy.deepcopy(params)
            for method in routes.responders(cls):
                summary, success, body, extra, codes = _operation(
                    cls, method, kind, path)
                op_id = "%s_%s_%s_%s" % (version, cls.__name__, kind,
                                         method)
                operation = {"tags": [kind], "summary": summary,
                             "operationId": op_id}
                if extra:
                    operation["parameters"] = copy.deepcopy(extra)
                if body:
                    operation["requestBody"] = body
                operation["responses"] = _responses(
                    success, codes + PROTECTED)
                item[method] = operation
    return paths


def _unversioned_paths():
    """The version list, the health check and the home documents; the
    public ones (``routes.PUBLIC_PATHS``) ask for no token."""
    health = _ref("schemas", "health")
    operations = [
        ("/", "get", "versions", "The API versions this server mounts",
         {300: _ok("The versions.", _ref("schemas", "versions"))}, ())]
    operations += [
        ("/healthcheck", method, "healthcheck_" + method,
         "Whether the service can reach its storage",
         {200: _ok("Storage answers.", health if method == "get" else None)},
         (503,)) for method in ("get", "head")]
    operations += [
        ("/" + version, "get", version + "_home",
         "The %s JSON home document" % version,
         {200: _ok("The resources of " + version, _ref("schemas", "home"),
                   media="application/json-home")}, ())
        for version in routes.PREFIXES]
    paths = {}
    for path, method, op_id, summary, success, codes in operations:
        operation = {"tags": ["versions"], "operationId": op_id,
                     "summary": summary}
        if routes.is_public(path):
            operation["summary"] += " (unauthenticated)"
            operation["security"] = []
            codes += HTTP_LIMITS + (406,)
        else:
            codes += PROTECTED
        operation["responses"] = _responses(success, codes)
        paths.setdefault(path, {})[method] = operation
    return paths


def build():
    """The OpenAPI document, as plain JSON-compatible data."""
    component_schemas = {"Error": ERROR_SCHEMA, "Formats": FORMATS,
                         "search": SEARCH, "versions": VERSIONS_DOC,
                         "home": HOME_DOC, "health": HEALTH_DOC}
    component_schemas.update(copy.deepcopy(schemas.SCHEMAS))
    component_schemas.update(_response_schemas())
    responses = {}
    for code, (name, description) in ERROR_RESPONSES.items():
        response = {"description": description,
                    "content": {JSON: {"schema": _ref("schemas", "Error")}}}
        if code == 503:
            response["headers"] = {"Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": True, "schema": {"type": "integer"}}}
        responses[name] = response
    paths = _unversioned_paths()
    paths.update(_versioned_paths())
    doc = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OpenStack Freezer API",
            "version": __version__,
            "description": (
                "v1 (/v1, documents of the token's user) and v2 "
                "(/v2/{project_id}, documents of the URL project) from one "
                "server. Generated by freezer_api.api.openapi from the "
                "route table and the request schemas the service "
                "validates with; do not edit by hand (make openapi)."),
            "license": {"name": "Apache-2.0",
                        "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": component_schemas,
            "responses": responses,
            "securitySchemes": {"keystone": {
                "type": "apiKey", "in": "header", "name": "X-Auth-Token",
                "description": "A Keystone token (auth_strategy = "
                               "keystone). With noauth, X-User-Id, "
                               "X-Project-Id and X-Roles are trusted as "
                               "sent."}},
        },
        "security": [{"keystone": []}],
    }
    # Plain data without shared objects: YAML needs no anchors.
    return json.loads(json.dumps(doc))


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def render(doc=None):
    """The YAML text of ``api-ref/openapi.yaml``."""
    return yaml.dump(build() if doc is None else doc, Dumper=_Dumper,
                     sort_keys=False, allow_unicode=True, width=79,
                     default_flow_style=False)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m freezer_api.api.openapi",
        description="Print the OpenAPI document of freezer-api (YAML).")
    parser.add_argument("-o", "--output",
                        help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = render()
    if not args.output:
        sys.stdout.write(text)
        return 0
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The route table: data, mounted once per API version, and read by the
home documents (``versions.HomeDocument``) and the OpenAPI document
(``openapi``), so that neither restates it."""

from freezer_api.api import resources
from freezer_api.domain import kinds

PREFIXES = {"v1": "/v1", "v2": "/v2/{project_id}"}

# The routes served without authentication (no token asked, no request
# context): the version list and the health check. Every other route,
# the home documents included, is protected.
PUBLIC_PATHS = ("/", "/healthcheck")

# (path below the version prefix, resource class, kind)
ROUTES = (
    [("/" + kind, resources.Collection, kind) for kind in kinds.ALL_KINDS] +
    [("/backups/{doc_id}", resources.BackupItem, kinds.BACKUPS),
     ("/clients/{doc_id}", resources.Item, kinds.CLIENTS)] +
    [("/%s/{doc_id}" % kind, resources.EditableItem, kind)
     for kind in (kinds.JOBS, kinds.ACTIONS, kinds.SESSIONS)] +
    [("/jobs/{doc_id}/event", resources.JobEvent, kinds.JOBS),
     ("/sessions/{doc_id}/action", resources.SessionAction, kinds.SESSIONS),
     ("/sessions/{doc_id}/jobs/{job_id}", resources.SessionJob,
      kinds.SESSIONS)]
)

# HTTP methods, in the order the OpenAPI document lists them.
METHODS = ("get", "put", "post", "delete", "patch", "head")


def is_public(path):
    """Whether the request path ``path`` (slashes collapsed; a trailing
    one allowed) is one of PUBLIC_PATHS."""
    return (path.rstrip("/") or "/") in PUBLIC_PATHS


def document_path(path, kind):
    """``path`` as documents name it: Falcon names every item id
    ``doc_id``, the home and OpenAPI documents after its kind (``job_id``,
    ...)."""
    return path.replace("{doc_id}", "{%s}" % kinds.ID_FIELDS[kind])


def responders(cls):
    """The HTTP methods a resource class serves (lower case)."""
    return [m for m in METHODS if callable(getattr(cls, "on_" + m, None))]


def mount(app, versions, services, authorizer, limits):
    """Add every route under each enabled version's prefix; the same
    resource instances serve every version."""
    instances = [(path, cls(kind, services, authorizer, limits))
                 for path, cls, kind in ROUTES]
    for version in versions:
        for path, resource in instances:
            app.add_route(PREFIXES[version] + path, resource)

"""The route table: data, mounted once per API version."""

from freezer_api.api import resources
from freezer_api.domain import kinds

PREFIXES = {"v1": "/v1", "v2": "/v2/{project_id}"}

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


def mount(app, versions, services, authorizer, limits):
    """Add every route under each enabled version's prefix; the same
    resource instances serve every version."""
    instances = [(path, cls(kind, services, authorizer, limits))
                 for path, cls, kind in ROUTES]
    for version in versions:
        for path, resource in instances:
            app.add_route(PREFIXES[version] + path, resource)

"""Unauthenticated documents: the version list and the health check, and
the per-version home documents."""

import json
import os
import re

import falcon

from freezer_api.api import resources
from freezer_api.api import routes
from freezer_api.domain import kinds

VERSIONS = {
    "v1": {"id": "v1", "status": "DEPRECATED",
           "updated": "2018-02-21T13:30:00"},
    "v2": {"id": "v2", "status": "CURRENT",
           "updated": "2018-02-21T13:30:00"},
}


class Versions:
    def __init__(self, enabled):
        self.enabled = tuple(enabled)

    def on_get(self, req, resp):
        base = req.prefix.rstrip("/") + "/"
        resp.status = falcon.HTTP_300
        resp.media = {"versions": [
            dict(VERSIONS[v], links=[{"href": base + v + "/",
                                      "rel": "self"}])
            for v in self.enabled]}


class Healthcheck:
    """``{"status": "OK"}`` while storage answers (its outage is a 503;
    not asked when ``check_storage`` is false: ``[healthcheck]
    check_storage``); ``503 {"status": "DISABLED BY FILE"}`` while the
    operator's drain file (``[healthcheck] disable_by_file_path``)
    exists."""

    def __init__(self, storage, disable_by_file_path=None,
                 check_storage=True):
        self.storage = storage
        self.disable_by_file_path = disable_by_file_path
        self.check_storage = check_storage

    def on_get(self, req, resp):
        if self.disable_by_file_path and \
                os.path.exists(self.disable_by_file_path):
            resp.status = falcon.HTTP_503
            resp.media = {"status": "DISABLED BY FILE"}
            return
        if self.check_storage:
            self.storage.healthcheck()
        resp.media = {"status": "OK"}

    on_head = on_get


# Upstream's relation names where they are not the kind's (its list) and
# the singular (one document): rel/backups names one backup, so the backup
# list is rel/backup-list.
RELATIONS = {"/backups": "backup-list", "/backups/{doc_id}": "backups"}
# The order in which upstream lists the methods a relation allows.
ALLOW_ORDER = ("get", "patch", "post", "delete")
_VARIABLE = re.compile(r"\{(\w+)\}")


def _relations(prefix):
    """(name, href-template, href-vars, allow) of each kind's list and
    document routes (not their sub-resources, as upstream), from the
    route table."""
    served = {path: cls for path, cls, _kind in routes.ROUTES}
    for kind in kinds.ALL_KINDS:
        for path, name in (("/" + kind, kind),
                           ("/%s/{doc_id}" % kind, kind[:-1])):
            cls = served[path]
            template = prefix + routes.document_path(path, kind)
            names = _VARIABLE.findall(template)
            query = []
            if cls is resources.Collection:
                query = [p for p in ("all_projects",)
                         if kind in cls.all_projects_kinds]
                query += ["offset", "limit"]
                template += "{?%s}" % ",".join(query)
            methods = routes.responders(cls)
            yield (RELATIONS.get(path, name), template,
                   {n: "param/" + n for n in names + query},
                   [m.upper() for m in ALLOW_ORDER if m in methods])


def _homedoc(prefix):
    """The JSON home document of the version at ``prefix``: upstream's
    relations (``rel/backups`` names one backup, ``rel/jobs`` the job
    list, ``rel/job`` one job), the same pair for every other kind."""
    return json.dumps({"resources": {
        "rel/" + name: {
            "href-template": template,
            "href-vars": href_vars,
            "hints": {"allow": allow,
                      "formats": {"application/json": {}}},
        } for name, template, href_vars, allow in _relations(prefix)}},
        indent=4)


class HomeDocument:
    """GET /v1 and /v2: a JSON home document listing the resources."""

    def __init__(self, prefix):
        self.body = _homedoc(prefix).encode()

    def on_get(self, req, resp):
        resp.content_type = "application/json-home"
        resp.data = self.body

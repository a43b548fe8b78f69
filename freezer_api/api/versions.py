"""Unauthenticated documents: the version list and the health check, and
the per-version home documents."""

import json
import os

import falcon

VERSIONS = {
    "v1": {"id": "v1", "status": "DEPRECATED",
           "updated": "2018-02-21T13:30:00"},
    "v2": {"id": "v2", "status": "CURRENT",
           "updated": "2018-02-21T13:30:00"},
}


class Versions:
    public = True

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

    public = True

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


def _home(resources):
    return {"resources": {
        "rel/" + name: {
            "href-template": template,
            "href-vars": href_vars,
            "hints": {"allow": allow,
                      "formats": {"application/json": {}}},
        } for name, template, href_vars, allow in resources}}


def _homedoc(prefix):
    """Upstream's relations (``rel/backups`` names one backup, ``rel/jobs``
    the job list, ``rel/job`` one job), then the same pair for every
    other kind; the backup list, whose upstream name is taken, is
    ``rel/backup-list``."""
    names = [("backups", "backup_id", ["GET", "PATCH", "DELETE"]),
             ("clients", "client_id", ["GET", "DELETE"]),
             ("jobs", "job_id", ["GET", "PATCH", "POST", "DELETE"]),
             ("actions", "action_id", ["GET", "PATCH", "POST", "DELETE"]),
             ("sessions", "session_id", ["GET", "PATCH", "POST", "DELETE"])]
    entries = []
    pvars = {"project_id": "param/project_id"} if "{" in prefix else {}
    for name, id_name, allow in names:
        query = ["offset", "limit"]
        if name == "jobs":
            query.insert(0, "all_projects")
        collection = "backup-list" if name == "backups" else name
        document = name if name == "backups" else name[:-1]
        entries.append((collection, "%s/%s{?%s}" % (prefix, name,
                                                    ",".join(query)),
                        dict(pvars, **{q: "param/" + q for q in query}),
                        ["GET", "POST"]))
        entries.append((document, "%s/%s/{%s}" % (prefix, name, id_name),
                        dict(pvars, **{id_name: "param/" + id_name}),
                        allow))
    return json.dumps(_home(entries), indent=4)


class HomeDocument:
    """GET /v1 and /v2: a JSON home document listing the resources."""

    def __init__(self, prefix):
        self.body = _homedoc(prefix).encode()

    def on_get(self, req, resp):
        resp.content_type = "application/json-home"
        resp.data = self.body

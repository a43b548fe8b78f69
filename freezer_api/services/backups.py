"""Backups: metadata an agent uploads after each backup, and its status
(freezer-api 19: registered first as "creating", then PATCHed)."""

from freezer_api import schemas
from freezer_api.domain import documents
from freezer_api.domain import kinds
from freezer_api.services import base
from freezer_api.storage import base as storage_base

DEFAULT_STATUS = "available"


class BackupService(base.DocumentService):
    kind = kinds.BACKUPS

    def create(self, caller, metadata):
        metadata = dict(metadata)
        doc = {"backup_id": self.new_id(), "user_id": caller.user_id,
               "project_id": caller.owner_project,
               "status": metadata.pop("status", DEFAULT_STATUS),
               "backup_metadata": metadata}
        self.storage.apply([storage_base.Insert(self.kind, doc)])
        return doc["backup_id"], 1

    def patch(self, caller, backup_id, body, if_match=None):
        """Set ``status`` and merge ``backup_metadata`` key by key. Other
        keys are metadata sent flat, as freezer 19's scheduler sends it,
        and are merged into it too. The merged metadata must still be a
        valid backup's. Returns the backup as stored, with _version."""
        flat = documents.without(body, kinds.SERVER_FIELDS[self.kind] + (
            "status", "backup_metadata"))
        patch = documents.deep_merge(flat, body.get("backup_metadata") or {})
        nested_status = patch.pop("status", None)
        status = body.get("status") or nested_status
        if status is not None:
            schemas.validate("backup_patch", {"status": status})

        written = {}

        def build(stored):
            doc = dict(stored, backup_metadata=documents.deep_merge(
                stored.get("backup_metadata") or {}, patch))
            schemas.validate("backup_create", doc["backup_metadata"])
            if status:
                doc["status"] = status
            written["doc"] = doc
            return doc, []
        version = self._patch(caller, backup_id, if_match, build)
        return dict(written["doc"], _version=version)

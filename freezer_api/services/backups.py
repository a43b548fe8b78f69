"""Backups: metadata an agent uploads after each backup; never edited."""

from freezer_api.domain import kinds
from freezer_api.services import base
from freezer_api.storage import base as storage_base


class BackupService(base.DocumentService):
    kind = kinds.BACKUPS

    def create(self, caller, metadata):
        doc = {"backup_id": self.new_id(), "user_id": caller.user_id,
               "user_name": caller.user_name or "",
               "project_id": caller.owner_project,
               "backup_metadata": metadata}
        self.storage.apply([storage_base.Insert(self.kind, doc)])
        return doc["backup_id"], 1

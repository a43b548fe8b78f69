"""Actions: reusable freezer-agent invocations (also embedded in jobs)."""

from freezer_api import schemas
from freezer_api.domain import documents
from freezer_api.domain import kinds
from freezer_api.services import base
from freezer_api.storage import base as storage_base


class ActionService(base.DocumentService):
    kind = kinds.ACTIONS

    def _stamp(self, caller, body, action_id):
        doc = documents.without(body, kinds.SERVER_FIELDS[self.kind])
        doc.update(action_id=action_id, user_id=caller.user_id,
                   project_id=caller.owner_project)
        return doc

    def create(self, caller, body):
        doc = self._stamp(caller, body, body.get("action_id") or
                          self.new_id())
        self.storage.apply([storage_base.Insert(self.kind, doc)])
        return doc["action_id"], 1

    def replace(self, caller, action_id, body, if_match=None):
        schemas.validate("action_create",
                         dict(body, action_id=action_id))

        def build(_stored):
            return self._stamp(caller, body, action_id), []
        return self._replace(caller, action_id, if_match, build)

    def patch(self, caller, action_id, body, if_match=None):
        patch = documents.without(body, kinds.SERVER_FIELDS[self.kind])

        def build(stored):
            doc = documents.deep_merge(stored, patch)
            schemas.validate("action_create", doc)
            return doc, []
        return self._patch(caller, action_id, if_match, build)

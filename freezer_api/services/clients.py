"""Clients: the agents (freezer-scheduler) registered by their client_id."""

import copy

from freezer_api import exceptions
from freezer_api import schemas
from freezer_api.domain import kinds
from freezer_api.services import base
from freezer_api.storage import base as storage_base


# What a client that does not say otherwise supports: everything the
# schema knows (freezer-api 19 fills the same lists).
DEFAULT_CAPABILITIES = {
    "supported_actions": schemas.SUPPORTED_ACTIONS,
    "supported_modes": schemas.SUPPORTED_MODES,
    "supported_storages": schemas.SUPPORTED_STORAGES,
    "supported_engines": schemas.SUPPORTED_ENGINES,
}


class ClientService(base.DocumentService):
    kind = kinds.CLIENTS

    def create(self, caller, info):
        """Register, or refresh the registration of, a client.

        Registering an existing client_id again updates its description,
        host name and capabilities (agents re-register at every start) and
        answers like a creation. A ``supported_*`` list the registration
        leaves out is the full list of that capability.
        """
        client_id = info["client_id"]

        def plan():
            record = self.find(caller, client_id)
            client = copy.deepcopy(info)
            for listing, values in DEFAULT_CAPABILITIES.items():
                if client.get(listing) is None:
                    client[listing] = list(values)
            if record is None:
                client.setdefault("uuid", self.new_id())
                doc = {"client": client, "client_id": client_id,
                       "user_id": caller.user_id,
                       "project_id": caller.owner_project}
                return [storage_base.Insert(self.kind, doc)], 1
            if "uuid" not in client:
                client["uuid"] = record.doc["client"].get("uuid") or \
                    self.new_id()
            doc = dict(record.doc, client=client)
            if doc == record.doc:
                return [], record.version
            return [storage_base.Update(record, doc)], record.version + 1

        try:
            version = self._transact(plan)
        except exceptions.AlreadyExists:
            # Either a concurrent registration of the same client won the
            # insert (then update what it wrote), or the id belongs to
            # another user of this project, whom v1 does not let us see.
            if self.find(caller, client_id) is None:
                raise exceptions.AlreadyExists(
                    "Client %s is already registered by another user"
                    % client_id)
            version = self._transact(plan)
        return client_id, version

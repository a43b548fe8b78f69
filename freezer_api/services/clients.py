"""Clients: the agents (freezer-scheduler) registered by their client_id.

A central client (``is_central``, registered by an admin or service user:
a freezer-scheduler with ``centralized_scheduler = true``) serves every
project: every project lists and reads it, and may give it jobs. Its
client_id is unique across projects.
"""

import copy
import dataclasses

from freezer_api import exceptions
from freezer_api import schemas
from freezer_api.domain import kinds
from freezer_api.domain.search import Query
from freezer_api.services import base
from freezer_api.storage import base as storage_base

EVERY_PROJECT = storage_base.Scope(all_projects=True)


def find_central(storage, client_id):
    """The Record of the central client ``client_id``, or None."""
    found = storage.search(kinds.CLIENTS, EVERY_PROJECT, Query(
        match=(("client_id", client_id), ("is_central", True)), limit=1))
    if not found:
        return None
    try:
        return storage.get(kinds.CLIENTS, storage_base.Scope(
            project_id=found[0]["project_id"]), client_id)
    except exceptions.NotFound:  # deleted meanwhile
        return None


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

    @staticmethod
    def _listed(caller):
        """A client list shows the central clients too."""
        return dataclasses.replace(caller, scope=dataclasses.replace(
            caller.scope, central_clients=True))

    def page(self, caller, query):
        return super().page(self._listed(caller), query)

    def fingerprint(self, caller, query):
        return super().fingerprint(self._listed(caller), query)

    def get(self, caller, doc_id):
        """The caller's client, or a central one."""
        try:
            return super().get(caller, doc_id)
        except exceptions.NotFound:
            record = find_central(self.storage, doc_id)
            if record is None:
                raise
            return dict(record.doc, _version=record.version)

    def create(self, caller, info):
        """Register, or refresh the registration of, a client.

        Registering an existing client_id again updates its description,
        host name and capabilities (agents re-register at every start) and
        answers like a creation. A ``supported_*`` list the registration
        leaves out is the full list of that capability.
        """
        client_id = info["client_id"]
        if info.get("is_central"):
            central = find_central(self.storage, client_id)
            if central is not None and \
                    central.doc["project_id"] != caller.owner_project:
                raise exceptions.AlreadyExists(
                    "Client %s is already registered by another project"
                    % client_id)

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

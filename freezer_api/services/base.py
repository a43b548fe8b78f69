"""What every service shares: the caller, reads, deletes, the write loop."""

import dataclasses
import random
import time

from freezer_api import exceptions
from freezer_api.storage import base as storage_base


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who is asking, and which documents they may reach.

    ``scope`` selects what they see (by user on v1, by project on v2); new
    documents belong to ``user_id`` and ``owner_project``. ``token`` is
    the caller's Keystone token (None without Keystone): what a trust is
    created with, since only the trustor may delegate its roles.
    ``privileged`` callers (admin, service) see every job's trust.
    """

    user_id: str
    owner_project: str
    scope: storage_base.Scope
    token: str | None = dataclasses.field(default=None, repr=False)
    roles: tuple = ()
    privileged: bool = False


class DocumentService:
    """Reads and deletes common to every kind, and the retrying write."""

    kind = None

    def __init__(self, storage, clock, new_id, max_retries=50, sleep=None):
        self.storage = storage
        self.clock = clock
        self.new_id = new_id
        self.max_retries = max_retries
        self.sleep = sleep or time.sleep

    # -- reads ------------------------------------------------------------
    def page(self, caller, query):
        """The list and its fingerprint (``storage_base.Page``)."""
        return self.storage.page(self.kind, caller.scope, query)

    def fingerprint(self, caller, query):
        return self.storage.fingerprint(self.kind, caller.scope, query)

    def get(self, caller, doc_id):
        record = self.storage.get(self.kind, caller.scope, doc_id)
        return dict(record.doc, _version=record.version)

    def find(self, caller, doc_id, kind=None):
        """The Record of ``doc_id`` (of ``kind``), or None."""
        try:
            return self.storage.get(kind or self.kind, caller.scope, doc_id)
        except exceptions.NotFound:
            return None

    @staticmethod
    def check_version(record, if_match):
        if if_match is not None and record.version != if_match:
            raise exceptions.PreconditionFailed(
                "The document is at version %d, not %d"
                % (record.version, if_match))

    # -- writes -----------------------------------------------------------
    def _transact(self, plan, retry_exists=False):
        """Run ``plan()`` -> (operations, result) and apply the operations,
        again from a fresh read whenever a compare-and-set lost a race."""
        for attempt in range(self.max_retries):
            try:
                operations, result = plan()
                if operations:
                    self.storage.apply(operations)
                return result
            except exceptions.VersionConflict:
                pass
            except exceptions.AlreadyExists:
                if not retry_exists:
                    raise
            # Lost a race: back off a little, with jitter, then re-read.
            self.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
        raise exceptions.Conflict(
            "The document kept changing while this request tried to update "
            "it; try again.")

    def _replace(self, caller, doc_id, if_match, build):
        """Create or replace ``doc_id``. ``build(stored doc or None)``
        returns the new document and any other operations to apply with
        it. Returns the new version."""
        def plan():
            record = self.find(caller, doc_id)
            if record is None:
                if if_match is not None:
                    raise exceptions.PreconditionFailed(
                        "No version of %s exists" % doc_id)
                doc, operations = build(None)
                return operations + [storage_base.Insert(self.kind, doc)], 1
            self.check_version(record, if_match)
            doc, operations = build(record.doc)
            return (operations + [storage_base.Update(record, doc)],
                    record.version + 1)
        return self._transact(plan)

    def _patch(self, caller, doc_id, if_match, build):
        """Update ``doc_id`` to ``build(stored doc)`` -> (doc, other
        operations); nothing is written when the document is unchanged.
        Returns the (new) version."""
        def plan():
            record = self.storage.get(self.kind, caller.scope, doc_id)
            self.check_version(record, if_match)
            doc, operations = build(record.doc)
            if doc == record.doc:
                return [], record.version
            return (operations + [storage_base.Update(record, doc)],
                    record.version + 1)
        return self._transact(plan)

    def delete(self, caller, doc_id, if_match=None):
        """Delete ``doc_id``; returns the document as it was."""
        def plan():
            record = self.storage.get(self.kind, caller.scope, doc_id)
            self.check_version(record, if_match)
            return self._delete_operations(caller, record), record.doc
        return self._transact(plan)

    def _delete_operations(self, caller, record):
        return [storage_base.Delete(record)]

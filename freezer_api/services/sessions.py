"""Sessions: jobs on many hosts that start together."""

from freezer_api import schemas
from freezer_api.domain import kinds
from freezer_api.domain import sessions as rules
from freezer_api.services import base
from freezer_api.storage import base as storage_base


class SessionService(base.DocumentService):
    kind = kinds.SESSIONS

    def create(self, caller, body):
        doc = rules.new_session(body, body.get("session_id") or
                                self.new_id(), caller.user_id,
                                caller.owner_project)
        schemas.validate("session_create", doc)
        self.storage.apply([storage_base.Insert(self.kind, doc)])
        return doc["session_id"], 1

    def replace(self, caller, session_id, body, if_match=None):
        def build(stored):
            doc = rules.replaced_session(stored, body, session_id,
                                         caller.user_id,
                                         caller.owner_project)
            return schemas.validate("session_create", doc), []
        return self._replace(caller, session_id, if_match, build)

    def patch(self, caller, session_id, body, if_match=None):
        def build(stored):
            doc = rules.patched_session(stored, body)
            return schemas.validate("session_create", doc), []
        return self._patch(caller, session_id, if_match, build)

    def action(self, caller, session_id, verb, params):
        """start/end on behalf of one member job. Returns (result, tag)."""
        def plan():
            record = self.storage.get(self.kind, caller.scope, session_id)
            now = self.clock()
            if verb == "start":
                result, doc = rules.start(record.doc, params["job_id"],
                                          params["current_tag"], now)
            else:
                result, doc = rules.end(record.doc, params["job_id"],
                                        params["result"], now,
                                        params.get("current_tag"))
            final = doc if doc is not None else record.doc
            answer = (result, int(final.get("session_tag") or 0))
            if doc is None:
                return [], answer
            return [storage_base.Update(record, doc)], answer
        return self._transact(plan)

    def add_job(self, caller, session_id, job_id):
        """Make ``job_id`` a member; it leaves any session it was in."""
        def plan():
            session = self.storage.get(self.kind, caller.scope, session_id)
            job = self.storage.get(kinds.JOBS, caller.scope, job_id)
            operations = []
            previous = job.doc.get("session_id")
            if previous and previous != session_id:
                old = self.find(caller, previous)
                new_old = old and rules.drop_member(old.doc, job_id)
                if new_old is not None:
                    operations.append(storage_base.Update(old, new_old))
            new_session, new_job = rules.attach(session.doc, job.doc)
            if new_session != session.doc:
                operations.append(storage_base.Update(session, new_session))
            if new_job != job.doc:
                operations.append(storage_base.Update(job, new_job))
            return operations, None
        self._transact(plan)

    def remove_job(self, caller, session_id, job_id):
        """Take ``job_id`` out of the session (idempotent)."""
        def plan():
            session = self.storage.get(self.kind, caller.scope, session_id)
            operations = []
            new_session = rules.drop_member(session.doc, job_id)
            if new_session is not None:
                operations.append(storage_base.Update(session, new_session))
            job = self.find(caller, job_id, kind=kinds.JOBS)
            if job is not None and job.doc.get("session_id") == session_id:
                operations.append(storage_base.Update(
                    job, rules.detach(job.doc)))
            return operations, None
        self._transact(plan)

    def _delete_operations(self, caller, record):
        """Deleting a session detaches its member jobs."""
        operations = [storage_base.Delete(record)]
        for job_id in (record.doc.get("jobs") or {}):
            job = self.find(caller, job_id, kind=kinds.JOBS)
            if job is not None and \
                    job.doc.get("session_id") == record.doc["session_id"]:
                operations.append(storage_base.Update(
                    job, rules.detach(job.doc)))
        return operations

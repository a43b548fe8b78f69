"""Jobs: what an agent runs, when; embedded actions; events; the Keystone
trusts of central clients' jobs (``freezer_api.keystone``)."""

from freezer_api import exceptions
from freezer_api import schemas
from freezer_api.domain import documents
from freezer_api.domain import jobs as job_rules
from freezer_api.domain import kinds
from freezer_api.domain import sessions as session_rules
from freezer_api.domain.search import Query
from freezer_api.services import base
from freezer_api.services import clients
from freezer_api.storage import base as storage_base

# Where a job keeps its trust: {"trust_id", "trustor_user_id"}.
CREDENTIALS = "user_credentials"


class JobService(base.DocumentService):
    kind = kinds.JOBS

    def __init__(self, *args, trusts=None, enforce_trusts=False, **kwargs):
        """``trusts``: ``freezer_api.keystone.Trusts`` (or a fake), None
        when no trust is ever created; ``enforce_trusts``: one for every
        job, not only those of central clients."""
        super().__init__(*args, **kwargs)
        self.trusts = trusts
        self.enforce_trusts = enforce_trusts

    # -- reads ------------------------------------------------------------
    def page(self, caller, query):
        page = super().page(caller, query)
        if caller.privileged:
            return page
        return storage_base.Page([self._shown(caller, doc)
                                  for doc in page.docs], page.fingerprint)

    def get(self, caller, doc_id):
        return self._shown(caller, super().get(caller, doc_id))

    @staticmethod
    def _shown(caller, doc):
        """A job as ``caller`` may see it: a trust is shown to its trustor
        and to privileged callers (admin, service) only."""
        credentials = doc.get(CREDENTIALS)
        if credentials is None or caller.privileged or \
                credentials.get("trustor_user_id") == caller.user_id:
            return doc
        return documents.without(doc, (CREDENTIALS,))

    # -- helpers ----------------------------------------------------------
    def _check_client(self, caller, doc):
        """The client of ``doc``: the caller's own, or a central client
        (of any project); its capabilities must allow the job."""
        record = self.find(caller, doc["client_id"], kind=kinds.CLIENTS) \
            or clients.find_central(self.storage, doc["client_id"])
        if record is None:
            raise exceptions.Unprocessable(
                "Client not found with ID %s" % doc["client_id"])
        job_rules.check_client_capabilities(record.doc["client"], doc)
        return record

    def _trust(self, caller, doc, client, stored=None):
        """Give ``doc`` the trust its client needs: the stored job's when
        its owner delegated it (whoever changes the job: the central
        scheduler reports through it), else a new one from its owner,
        who must be the caller (only a trustor may delegate)."""
        if self.trusts is None or not (
                self.enforce_trusts or client.doc["client"].get("is_central")):
            return
        kept = (stored or {}).get(CREDENTIALS)
        if kept and kept.get("trustor_user_id") == doc["user_id"]:
            doc[CREDENTIALS] = kept
            return
        if doc["user_id"] != caller.user_id:
            raise exceptions.Unprocessable(
                "Missing required credentials: only the job's owner can "
                "delegate the trust a central client needs")
        doc[CREDENTIALS] = self.trusts.ensure(
            caller.token, caller.user_id, doc["project_id"], caller.roles)

    def _embed_actions(self, caller, doc):
        """Give every embedded action an id and the operations that store
        it. An embedded action that names a stored action with the same
        content (``job_rules.actions_equal``) is a reference to it and
        embeds it as stored; a changed one becomes a new action."""
        operations = []
        for entry in doc.get("job_actions") or []:
            action_id = entry.get("action_id")
            if action_id:
                stored = self.find(caller, action_id, kind=kinds.ACTIONS)
                if stored is not None:
                    if job_rules.actions_equal(entry, stored.doc):
                        # A reference: the job embeds the action as stored.
                        entry.clear()
                        entry.update(job_rules.action_from_embedded(
                            stored.doc, action_id, stored.doc["user_id"],
                            stored.doc.get("project_id", "")))
                        continue
                    action_id = self.new_id()
            else:
                action_id = self.new_id()
            action = job_rules.action_from_embedded(
                entry, action_id, caller.user_id, caller.owner_project)
            entry.update(action_id=action_id, user_id=caller.user_id,
                         project_id=caller.owner_project)
            operations.append(storage_base.Insert(kinds.ACTIONS, action))
        return operations

    def _prepared(self, caller, doc, check_actions=True, stored=None):
        """Validate the stored form of a job, check its client (and give
        the job the trust it needs), and return the operations storing
        its new embedded actions."""
        schemas.validate("job", doc)
        if not check_actions:
            return []
        client = self._check_client(caller, doc)
        self._trust(caller, doc, client, stored)
        return self._embed_actions(caller, doc)

    # -- operations -------------------------------------------------------
    def create(self, caller, body):
        doc = job_rules.new_job(body, body.get("job_id") or self.new_id(),
                                caller.user_id, caller.owner_project,
                                self.clock())
        operations = self._prepared(caller, doc)
        self.storage.apply(operations + [storage_base.Insert(self.kind,
                                                             doc)])
        return doc["job_id"], 1

    def replace(self, caller, job_id, body, if_match=None):
        def build(stored):
            doc = job_rules.replaced_job(stored, body, job_id,
                                         caller.user_id,
                                         caller.owner_project, self.clock())
            return doc, self._prepared(caller, doc, stored=stored)
        return self._replace(caller, job_id, if_match, build)

    def patch(self, caller, job_id, body, if_match=None):
        touches_actions = "job_actions" in body or \
            "client_id" in body or "action_defaults" in body

        def build(stored):
            doc = job_rules.patched_job(stored, body)
            return doc, self._prepared(caller, doc, touches_actions, stored)
        return self._patch(caller, job_id, if_match, build)

    def event(self, caller, job_id, event):
        def plan():
            record = self.storage.get(self.kind, caller.scope, job_id)
            result, doc = job_rules.apply_event(record.doc, event)
            if doc is None:
                return [], result
            return [storage_base.Update(record, doc)], result
        return self._transact(plan)

    def delete(self, caller, doc_id, if_match=None):
        """Delete the job, then its trust if no other job names it."""
        doc = super().delete(caller, doc_id, if_match)
        trust_id = (doc.get(CREDENTIALS) or {}).get("trust_id")
        if trust_id and self.trusts is not None and not self.storage.search(
                self.kind, clients.EVERY_PROJECT,
                Query(match=(("trust_id", trust_id),), limit=1)):
            self.trusts.delete(caller.token, trust_id)
        return doc

    def _delete_operations(self, caller, record):
        """Deleting a job also takes it out of its session."""
        operations = [storage_base.Delete(record)]
        session_id = record.doc.get("session_id")
        if session_id:
            session = self.find(caller, session_id, kind=kinds.SESSIONS)
            if session is not None:
                new = session_rules.drop_member(session.doc,
                                                record.doc["job_id"])
                if new is not None:
                    operations.append(storage_base.Update(session, new))
        return operations

"""Use cases: the domain rules applied to stored documents.

Services know nothing of HTTP. Each request reaches them with a ``Caller``
(who is asking and through which scope); every write goes through
``DocumentService._transact``, which re-reads and retries when a
compare-and-set write lost a race.
"""

from freezer_api.services.base import Caller  # noqa: F401
from freezer_api.services.backups import BackupService
from freezer_api.services.clients import ClientService
from freezer_api.services.actions import ActionService
from freezer_api.services.jobs import JobService
from freezer_api.services.sessions import SessionService


class Services:
    """One service per kind, sharing the storage driver, clock and ids."""

    def __init__(self, storage, clock, new_id, max_retries=50, sleep=None,
                 trusts=None, enforce_trusts=False):
        kwargs = dict(storage=storage, clock=clock, new_id=new_id,
                      max_retries=max_retries, sleep=sleep)
        self.backups = BackupService(**kwargs)
        self.clients = ClientService(**kwargs)
        self.actions = ActionService(**kwargs)
        self.jobs = JobService(trusts=trusts, enforce_trusts=enforce_trusts,
                               **kwargs)
        self.sessions = SessionService(**kwargs)
        self.storage = storage

    def for_kind(self, kind):
        return getattr(self, kind)

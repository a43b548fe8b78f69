"""The storage driver interface.

A driver keeps JSON documents of five kinds (``freezer_api.domain.kinds``),
each owned by a user and a project, each with an integer version that goes
up by one on every write. Reads take a ``Scope``; writes are a list of
operations applied together by ``apply``: all of them or none (the SQL
driver uses one transaction; the search-engine driver, which has no
multi-document transactions, documents its own guarantee). Every update and
delete names the version it read, so concurrent writers are detected instead
of silently overwriting each other: this is the compare-and-set that the
session rules rely on.

Drivers raise only ``freezer_api.exceptions`` (NotFound, AlreadyExists,
VersionConflict, StorageUnavailable); never HTTP errors, never ``{}`` for
"missing".
"""

import abc
import contextlib
import dataclasses
import hashlib
import threading
import time

from freezer_api import exceptions


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which documents a request may see.

    v1 scopes by user (``user_id`` set, ``project_id`` None), v2 by project
    (``project_id`` set, ``user_id`` None); ``all_projects`` lifts both.
    ``prefer_project`` breaks the tie
    when a v1 user owns the same id in two projects.
    ``central_clients`` adds the central clients of every project (the
    client list: they serve every project), found by their indexed
    ``status`` (``kinds.CENTRAL``).
    """

    user_id: str | None = None
    project_id: str | None = None
    prefer_project: str | None = None
    all_projects: bool = False  # an admin listing across every project
    central_clients: bool = False

    def __post_init__(self):
        if self.user_id is None and self.project_id is None and \
                not self.all_projects:
            raise ValueError("a scope needs a user or a project")


@dataclasses.dataclass(frozen=True)
class Record:
    """A stored document as read, with the version it was read at."""

    kind: str
    doc: dict
    version: int
    key: object  # the driver's own handle on this document


@dataclasses.dataclass(frozen=True)
class Insert:
    """Create a document; AlreadyExists if its id is taken in its project."""

    kind: str
    doc: dict


@dataclasses.dataclass(frozen=True)
class Update:
    """Replace ``record`` with ``doc`` if it is still at ``record.version``."""

    record: Record
    doc: dict


@dataclasses.dataclass(frozen=True)
class Delete:
    """Delete ``record`` if it is still at ``record.version``."""

    record: Record


@dataclasses.dataclass(frozen=True)
class Page:
    """A page of a list, and its ``fingerprint``."""

    docs: list
    fingerprint: str


def page_fingerprint(stamps):
    """The fingerprint of a page from ``(key, stamp)`` of each document on
    it, in order: ``key`` names the stored document (never reused for
    another one while it exists), ``stamp`` changes on every write of it.
    Equal for two reads exactly when the page holds the same documents,
    at the same versions, in the same order."""
    digest = hashlib.blake2b(digest_size=12)
    for key, stamp in stamps:
        digest.update(("%s:%s;" % (key, stamp)).encode())
    return digest.hexdigest()


class Stamps:
    """Write stamps: nanoseconds since the epoch, strictly increasing in
    this process (two writes never get the same stamp here, even within a
    nanosecond or when the clock steps back)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = 0

    def next(self):
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last


class StorageDriver(abc.ABC):
    """What the services need from a backend; see the module docstring."""

    name = "base"
    # The exceptions of the backend's client library that ``_translate``
    # turns into the errors of freezer_api.exceptions.
    client_errors = ()

    def _translate(self, exc):
        """The freezer_api exception (StorageUnavailable, VersionConflict,
        ...) that ``exc``, one of ``client_errors``, means."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _errors(self):
        """Around every call to the backend: its client's errors come out
        as freezer_api's, never as they are."""
        try:
            yield
        except exceptions.FreezerError:
            raise
        except self.client_errors as exc:
            raise self._translate(exc) from exc

    @abc.abstractmethod
    def get(self, kind, scope, doc_id):
        """Return the ``Record`` of ``doc_id``.

        :raises NotFound: absent, or not in ``scope``.
        :raises StorageUnavailable:
        """

    @abc.abstractmethod
    def search(self, kind, scope, query):
        """Return the documents (dicts) of ``kind`` in ``scope`` matching
        ``query`` (``freezer_api.domain.search.Query``), oldest first,
        paged by ``query.limit``/``query.offset``.

        :raises StorageUnavailable:
        """

    @abc.abstractmethod
    def fingerprint(self, kind, scope, query):
        """A short string naming what ``search`` would return now: it
        changes whenever that page would hold other documents, or other
        versions of them (a document on it written, deleted, added, or
        moved in or out of the page by a write before it), and stays the
        same while only documents off the page change. Cheaper than the
        search (the documents are not read), it is the validator of
        conditional list requests (``If-None-Match``).

        :raises StorageUnavailable:
        """

    def page(self, kind, scope, query):
        """``search`` and ``fingerprint`` of one read, as a ``Page``.

        This default reads twice, the fingerprint first: a write between
        the two reads leaves a fingerprint older than the documents, which
        only costs the client one more full answer later. Drivers read
        both at once.
        """
        fingerprint = self.fingerprint(kind, scope, query)
        return Page(self.search(kind, scope, query), fingerprint)

    @abc.abstractmethod
    def apply(self, operations):
        """Apply ``Insert``/``Update``/``Delete`` operations together.

        Returns the new version of each operation's document, in order
        (None for a delete).

        :raises AlreadyExists: an Insert's id is taken in its project.
        :raises VersionConflict: an Update or Delete found another version
            (or no document): nothing was written, read again and retry.
        :raises StorageUnavailable:
        """

    def load(self, operations):
        """Insert many new documents (only ``Insert`` operations) as fast
        as the backend takes them: for filling a store (the benchmark's
        seeding). Unlike ``apply`` it may have written some of them when
        it raises AlreadyExists, which names no id. When it returns, they
        are all readable and searchable.

        :raises AlreadyExists:
        :raises StorageUnavailable:
        """
        self.apply(operations)

    @abc.abstractmethod
    def healthcheck(self):
        """Raise StorageUnavailable if the backend cannot serve requests."""

    @abc.abstractmethod
    def upgrade(self):
        """Create or migrate the schema (tables, indexes, mappings)."""

    @abc.abstractmethod
    def schema_version(self):
        """The schema revision the backend holds (a string), or None while
        it has none (``freezer-manage db version`` and ``db show``).

        :raises StorageUnavailable:
        """

    @abc.abstractmethod
    def schema_status(self):
        """``(at_head, details)``: whether the backend's schema is the one
        this code needs (or will be made so on first use), and a sentence
        saying which it is and what to run if not (``freezer-status
        upgrade check``, ``freezer-manage db show``).

        :raises StorageUnavailable:
        """

    @abc.abstractmethod
    def wipe(self):
        """Delete every document, keeping the schema (the test suites' and
        benchmarks' clean slate).

        :raises StorageUnavailable:
        """

    def close(self):
        """Release connections."""

    def count(self, kind):
        """Total number of documents of ``kind`` (operators' tools). This
        default says the driver cannot count cheaply (NotImplementedError):
        ``freezer_api.transfer.count`` then counts page by page."""
        raise NotImplementedError

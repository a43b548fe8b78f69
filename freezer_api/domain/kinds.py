"""The five kinds of document and what storage needs to know about each.

Every driver stores a whole JSON document plus a few indexed fields taken
from it by ``indexed_fields``: the fields the scheduler's poll and the
documented filters use. Both drivers call this one function, so they index
the same thing.
"""

BACKUPS = "backups"
CLIENTS = "clients"
JOBS = "jobs"
ACTIONS = "actions"
SESSIONS = "sessions"

ALL_KINDS = (BACKUPS, CLIENTS, JOBS, ACTIONS, SESSIONS)

# Name of the id field as the API shows it (path parameter and response key).
ID_FIELDS = {
    BACKUPS: "backup_id",
    CLIENTS: "client_id",
    JOBS: "job_id",
    ACTIONS: "action_id",
    SESSIONS: "session_id",
}

# Fields of a document only the server sets, per kind: a client's values
# of them are dropped from what it sends (``documents.without``). The id,
# the owner and the version everywhere; a backup's ``user_name``
# (freezer-api 18 stored it; 19 and this service do not, and a PATCH does
# not merge it into the metadata), a job's ``user_credentials`` (its
# Keystone trust) and a session's member ``jobs`` (only the session's job
# endpoints change them).
SERVER_FIELDS = {
    BACKUPS: ("backup_id", "user_id", "user_name", "project_id",
              "_version"),
    JOBS: ("job_id", "user_id", "project_id", "_version",
           "user_credentials"),
    ACTIONS: ("action_id", "user_id", "project_id", "_version"),
    SESSIONS: ("session_id", "user_id", "project_id", "jobs", "_version"),
}

# Indexed columns every driver keeps beside the document.
INDEXED = ("client_id", "session_id", "status", "time_ts")
# The ``status`` of a central client (``is_central``), which every
# project's client list shows.
CENTRAL = "central"

# Filter keys that map onto an indexed field, per kind. Any other key is
# matched against every leaf of the document with that name.
FILTER_FIELDS = {
    BACKUPS: {"backup_id": "doc_id"},
    CLIENTS: {"client_id": "doc_id"},
    JOBS: {"job_id": "doc_id", "client_id": "client_id",
           "session_id": "session_id", "status": "status"},
    ACTIONS: {"action_id": "doc_id"},
    SESSIONS: {"session_id": "doc_id", "status": "status"},
}
COMMON_FILTER_FIELDS = {"user_id": "user_id", "project_id": "project_id"}

# What ``time_after``/``time_before`` compare with (the ``time_ts`` field):
# a backup's ``backup_metadata.time_stamp``, a job's
# ``job_schedule.time_created``, a session's ``time_start``.
TIME_FILTER_KINDS = (BACKUPS, JOBS, SESSIONS)


def doc_id(kind, doc):
    """The id of a stored document of ``kind``."""
    if kind == CLIENTS:
        return doc["client"]["client_id"]
    return doc[ID_FIELDS[kind]]


def _int_or_none(value):
    # Only values a signed 64-bit column can hold are indexed.
    if isinstance(value, int) and not isinstance(value, bool) and \
            -2 ** 63 <= value < 2 ** 63:
        return value
    return None


def _str_or_none(value):
    return value if isinstance(value, str) and value else None


def indexed_fields(kind, doc):
    """The indexed columns of ``doc``; absent ones are None."""
    fields = dict.fromkeys(INDEXED)
    if kind == JOBS:
        schedule = doc.get("job_schedule") or {}
        fields["client_id"] = _str_or_none(doc.get("client_id"))
        fields["session_id"] = _str_or_none(doc.get("session_id"))
        fields["status"] = _str_or_none(schedule.get("status"))
        fields["time_ts"] = _int_or_none(schedule.get("time_created"))
    elif kind == SESSIONS:
        fields["status"] = _str_or_none(doc.get("status"))
        fields["time_ts"] = _int_or_none(doc.get("time_start"))
    elif kind == BACKUPS:
        meta = doc.get("backup_metadata") or {}
        fields["client_id"] = _str_or_none(meta.get("client_id"))
        fields["time_ts"] = _int_or_none(meta.get("time_stamp"))
    elif kind == CLIENTS:
        fields["client_id"] = _str_or_none(doc["client"].get("client_id"))
        if doc["client"].get("is_central") is True:
            fields["status"] = CENTRAL
    return fields

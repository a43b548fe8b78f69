"""Job rules: creation defaults, events, embedded actions, client checks."""

from freezer_api import exceptions
from freezer_api.domain import documents
from freezer_api.domain import kinds

# Fields that tie a job to a session; only the session endpoints move them.
SESSION_FIELDS = ("session_id", "session_tag")

EVENTS = ("start", "stop", "abort")


def expand_action_defaults(doc):
    """Apply and remove ``action_defaults``: each of its keys fills the
    ``freezer_action`` of every job action that lacks it (or has null).
    ``doc`` has passed the job body schema, so the shapes are right."""
    doc = documents.copy_json(doc)
    defaults = doc.pop("action_defaults", None)
    if not defaults:
        return doc
    for action in doc.get("job_actions") or []:
        freezer_action = action["freezer_action"]
        for key, value in defaults.items():
            if freezer_action.get(key) is None:
                freezer_action[key] = documents.copy_json(value)
    return doc


def new_job(body, job_id, user_id, project_id, now):
    """The stored form of a job created from ``body`` at ``now``."""
    doc = documents.without(expand_action_defaults(body),
                            kinds.SERVER_FIELDS[kinds.JOBS] +
                            SESSION_FIELDS)
    schedule = doc.setdefault("job_schedule", {})
    schedule["time_created"] = now
    schedule["time_started"] = -1
    schedule["time_ended"] = -1
    doc.update(job_id=job_id, user_id=user_id, project_id=project_id,
               session_id="", session_tag=0)
    return doc


def replaced_job(stored, body, job_id, user_id, project_id, now):
    """The stored form of ``body`` replacing ``stored`` (None if new).

    Session membership is kept from the stored job: replacing a job never
    moves it in or out of a session.
    """
    doc = documents.without(expand_action_defaults(body),
                            kinds.SERVER_FIELDS[kinds.JOBS] +
                            SESSION_FIELDS)
    schedule = doc.setdefault("job_schedule", {})
    schedule.setdefault("time_created", now)
    schedule.setdefault("time_started", -1)
    schedule.setdefault("time_ended", -1)
    doc.update(job_id=job_id, user_id=user_id, project_id=project_id)
    for field, default in (("session_id", ""), ("session_tag", 0)):
        doc[field] = stored.get(field, default) if stored else default
    return doc


def patched_job(stored, patch):
    """``stored`` with ``patch`` merged in.

    The session a job belongs to cannot be changed by a patch (agents send
    back whole documents that may carry a stale ``session_id``); the
    ``session_tag`` can, since agents persist the tag a session start
    returned.
    """
    patch = documents.without(expand_action_defaults(patch),
                              kinds.SERVER_FIELDS[kinds.JOBS] +
                              ("session_id",))
    return documents.deep_merge(stored, patch)


def apply_event(doc, event):
    """Handle a start/stop/abort request. Returns (result, new doc or None
    when nothing changes)."""
    if event not in EVENTS:
        raise exceptions.InvalidInput(
            "Bad event: %r (start, stop or abort)" % (event,))
    schedule = doc.get("job_schedule") or {}
    if schedule.get("event") == event:
        return "%s already requested" % event, None
    new = documents.copy_json(doc)
    new_schedule = new.setdefault("job_schedule", {})
    new_schedule["event"] = event
    if event == "start":
        new_schedule["status"] = ""
        new_schedule["result"] = ""
    return "success", new


# Retry settings of a job action and the value an agent assumes when one
# is missing: an embedded action may spell the default out.
RETRY_DEFAULTS = {"max_retries": None, "max_retries_interval": None,
                  "mandatory": False}
_OWNER_FIELDS = ("_version", "user_id", "project_id")


def actions_equal(embedded, stored):
    """Whether a job's embedded action is the stored action: the same
    ``freezer_action`` and the same retry settings. A key that is null
    counts as absent (freezer-web-ui fills ``engine``, ``mode``... with
    null before embedding an action), and a retry setting given its
    default (``mandatory: false``) as not given."""

    def _freezer_action(doc):
        return {k: v for k, v in (doc.get("freezer_action") or {}).items()
                if v is not None and k not in _OWNER_FIELDS}

    def _retry(doc, key):
        value = doc.get(key)
        return RETRY_DEFAULTS[key] if value is None else value

    if _freezer_action(embedded) != _freezer_action(stored):
        return False
    return all(_retry(embedded, key) == _retry(stored, key)
               for key in RETRY_DEFAULTS)


def action_from_embedded(entry, action_id, user_id, project_id):
    """The action document stored for a job's embedded action."""
    doc = documents.without(entry, ("_version",))
    doc.update(action_id=action_id, user_id=user_id, project_id=project_id)
    return doc


_CAPABILITIES = (
    ("action", ("action",), "supported_actions"),
    ("mode", ("mode",), "supported_modes"),
    ("storage", ("storage",), "supported_storages"),
    ("engine", ("engine_name", "engine"), "supported_engines"),
)


def check_client_capabilities(client_info, job_doc):
    """Raise Unprocessable if an action needs something the client said it
    does not support. A client stored without a list (registered before
    this service filled in the default lists) is not restricted on it."""
    for entry in job_doc.get("job_actions") or []:
        freezer_action = entry.get("freezer_action") or {}
        for name, keys, listing in _CAPABILITIES:
            supported = client_info.get(listing)
            if not isinstance(supported, list):
                continue
            for key in keys:
                value = freezer_action.get(key)
                if value and value not in supported:
                    raise exceptions.Unprocessable(
                        "Client %s does not support %s: %s"
                        % (client_info.get("client_id"), name, value))

"""JSON Schemas of every request body and stored document.

The constraints restate upstream freezer-api's (same field names, enums and
patterns) with its holes closed: arrays and objects are typed, ids are
matched whole (no trailing newline), sizes are bounded. ``validate(name,
doc)`` raises InvalidInput naming the offending field. The OpenAPI document
is generated from these same dicts.
"""

import logging
import re

import jsonschema
import orjson

try:
    import jsonschema_rs
except ImportError:  # the fast path below is then off
    jsonschema_rs = None

from freezer_api import exceptions

LOG = logging.getLogger(__name__)

SUPPORTED_ACTIONS = ["backup", "restore", "info", "admin", "exec"]
SUPPORTED_MODES = ["fs", "mongo", "mysql", "sqlserver", "cinder", "glance",
                   "cindernative", "nova"]
SUPPORTED_STORAGES = ["local", "swift", "ssh", "s3", "ftp", "ftps"]
SUPPORTED_ENGINES = ["tar", "rsync", "rsyncv2", "nova", "osbrick", "glance"]

# "Nothing follows": unlike "$", it does not accept a trailing newline
# (Python's re and ECMA regexes both read it the same way).
END = r"(?![\s\S])"
ID_RE = re.compile(r"[\w-]{1,255}")
_LABEL = r"[a-zA-Z\d](?:[a-zA-Z\d-]{0,61}[a-zA-Z\d])?"
CLIENT_ID_RE = re.compile(r"(?:[\w-]+_)?%s(?:\.%s)*" % (_LABEL, _LABEL))
ISO_DATE = (r"^-?\d{4,}-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12]\d)"
            r"T(2[0-3]|[01]\d):([0-5]\d):([0-5]\d)(\.\d+)?"
            r"(Z|[+-](2[0-3]|[01]\d):[0-5]\d)?" + END)

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("freezer-id")
def _is_id(value):
    return not isinstance(value, str) or bool(ID_RE.fullmatch(value))


@FORMAT_CHECKER.checks("freezer-id-or-empty")
def _is_id_or_empty(value):
    return not isinstance(value, str) or value == "" or \
        bool(ID_RE.fullmatch(value))


@FORMAT_CHECKER.checks("client-id")
def _is_client_id(value):
    return not isinstance(value, str) or (
        len(value) <= 255 and bool(CLIENT_ID_RE.fullmatch(value)))


ID = {"type": "string", "format": "freezer-id", "minLength": 1,
      "maxLength": 255}
OPTIONAL_ID = {"type": "string", "format": "freezer-id-or-empty",
               "maxLength": 255}
# A Keystone user or project id as the request's identity headers give
# it, which the server writes into each document: LDAP-backed domains and
# noauth callers use ids of any form ("john.doe", "jdoe@example.com"), and
# the identity check (api/context.py) bounds their length.
OWNER_ID = {"type": "string", "minLength": 1, "maxLength": 255}
OPTIONAL_OWNER_ID = {"type": "string", "maxLength": 255}
TEXT = {"type": "string", "maxLength": 65535}
NAME = {"type": "string", "maxLength": 1024}
EPOCH = {"type": "integer", "minimum": -1, "maximum": 2 ** 53}
COUNT = {"type": "integer", "minimum": 0, "maximum": 2 ** 31}
WORD = {"type": "string", "pattern": r"^[\w-]+" + END, "maxLength": 255}

SCHEDULE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "time_created": EPOCH,
        "time_started": EPOCH,
        "time_ended": EPOCH,
        "event": {"enum": ["", "stop", "start", "abort", "remove"]},
        "status": {"enum": ["", "completed", "stop", "scheduled",
                            "running", "aborting", "removed"]},
        "result": {"enum": ["", "success", "fail", "aborted"]},
        "schedule_date": {"type": "string", "pattern": ISO_DATE},
        "schedule_start_date": {"type": "string", "pattern": ISO_DATE},
        "schedule_end_date": {"type": "string", "pattern": ISO_DATE},
        "schedule_interval": {
            "type": "string",
            "pattern": r"^(continuous|\d{1,9} (weeks|days|hours|minutes|"
                       r"seconds))" + END},
        "schedule_year": {"type": "string", "pattern": r"^\d{4}" + END},
        **{"schedule_" + f: {"type": "string", "maxLength": 255}
           for f in ("month", "day", "week", "day_of_week", "hour",
                     "minute", "second")},
        "current_pid": {"type": "integer", "minimum": 0,
                        "maximum": 2 ** 31},
    },
}

FREEZER_ACTION = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "action": WORD,
        "mode": WORD,
        "path_to_backup": TEXT,
        "backup_name": NAME,
        "container": NAME,
        "restore_abs_path": TEXT,
    },
}

JOB_ACTION = {
    "type": "object",
    "additionalProperties": True,
    "required": ["freezer_action"],
    "properties": {
        "freezer_action": FREEZER_ACTION,
        "max_retries": COUNT,
        "max_retries_interval": COUNT,
        "mandatory": {"type": "boolean"},
        "action_id": OPTIONAL_ID,
        "user_id": OWNER_ID,
        "project_id": OPTIONAL_OWNER_ID,
    },
}

_JOB_PROPERTIES = {
    "job_id": ID,
    "user_id": OWNER_ID,
    "project_id": OPTIONAL_OWNER_ID,
    "client_id": {"type": "string", "format": "client-id", "minLength": 1,
                  "maxLength": 255},
    "description": TEXT,
    "job_actions": {"type": "array", "items": JOB_ACTION, "maxItems": 100},
    "job_schedule": SCHEDULE,
    "session_id": OPTIONAL_ID,
    "session_tag": {"type": "integer", "minimum": 0, "maximum": 2 ** 53},
    "session_name": NAME,
    "user_credentials": {
        "type": "object",
        "additionalProperties": False,
        "required": ["trust_id", "trustor_user_id"],
        "properties": {"trust_id": NAME, "trustor_user_id": OWNER_ID},
    },
    "_version": {"type": "integer"},
}


def _job(required, defaults=False):
    props = dict(_JOB_PROPERTIES)
    if defaults:
        # A request body may leave keys of an action null for
        # action_defaults to fill; the stored form ("job") is checked
        # strictly after that expansion.
        props["action_defaults"] = {"type": "object"}
        props["job_actions"] = {
            "type": "array", "maxItems": 100,
            "items": dict(JOB_ACTION, properties=dict(
                JOB_ACTION["properties"],
                freezer_action={"type": "object"}))}
    return {"type": "object", "additionalProperties": False,
            "required": required, "properties": props}


ACTION_PROPERTIES = {
    "action_id": ID,
    "user_id": OWNER_ID,
    "project_id": OPTIONAL_OWNER_ID,
    "freezer_action": FREEZER_ACTION,
    "max_retries": COUNT,
    "max_retries_interval": COUNT,
    "mandatory": {"type": "boolean"},
    "_version": {"type": "integer"},
}

SESSION_PROPERTIES = {
    "session_id": ID,
    "user_id": OWNER_ID,
    "project_id": OPTIONAL_OWNER_ID,
    "session_tag": {"type": "integer", "minimum": 0, "maximum": 2 ** 53},
    "description": TEXT,
    # Any integer, as upstream: a negative one means no hold-off window.
    "hold_off": {"type": "integer"},
    "schedule": SCHEDULE,
    "status": {"type": "string", "maxLength": 32},
    "result": {"type": "string", "maxLength": 32},
    "time_start": EPOCH,
    "time_end": EPOCH,
    "time_started": EPOCH,
    "time_ended": EPOCH,
    "jobs": {"type": ["object", "array"]},
    "_version": {"type": "integer"},
}


def _strings(values):
    return {"type": "array", "maxItems": 64,
            "items": {"enum": values}}


CLIENT_INFO = {
    "type": "object",
    "additionalProperties": True,
    "required": ["client_id"],
    "properties": {
        "client_id": _JOB_PROPERTIES["client_id"],
        "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": TEXT,
        "uuid": {"type": "string", "maxLength": 255},
        "config_id": {"type": "string", "maxLength": 255},
        "supported_actions": _strings(SUPPORTED_ACTIONS),
        "supported_modes": _strings(SUPPORTED_MODES),
        "supported_storages": _strings(SUPPORTED_STORAGES),
        "supported_engines": _strings(SUPPORTED_ENGINES),
        "is_central": {"type": "boolean"},
    },
}

# A backup's ``status`` (freezer-api 19): a client may register a backup
# before its data exists ("creating") and PATCH it once it does.
BACKUP_STATUSES = ["creating", "available", "error", "deleting", "deleted"]

BACKUP_METADATA = {
    "type": "object",
    "additionalProperties": True,
    "required": ["container", "hostname", "backup_name"],
    "properties": {
        # Taken out of the metadata into the backup's own status.
        "status": {"enum": BACKUP_STATUSES},
        "container": {"type": "string", "minLength": 1, "maxLength": 1024},
        "hostname": {"type": "string", "minLength": 1, "maxLength": 1024},
        "backup_name": {"type": "string", "minLength": 1,
                        "maxLength": 1024},
        "job_id": OPTIONAL_ID,
        # Indexed (time_after/time_before): a signed 64-bit integer.
        "time_stamp": {"type": "integer", "minimum": -2 ** 63,
                       "maximum": 2 ** 63 - 1},
    },
}

BACKUP_PATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": True,
    "properties": {
        "status": {"enum": BACKUP_STATUSES},
        "backup_metadata": {"type": "object"},
    },
}

JOB_EVENT = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "propertyNames": {"enum": ["start", "stop", "abort"]},
}

# A session tag; python-freezerclient's ``session-start --job-tag N``
# sends it as a string of digits, which upstream accepted (int()).
_TAG = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2 ** 53},
                  {"type": "string", "pattern": "^[0-9]{1,15}$"}]}
SESSION_ACTION = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "start": {
            "type": "object",
            "required": ["job_id", "current_tag"],
            "properties": {"job_id": ID, "current_tag": _TAG},
        },
        "end": {
            "type": "object",
            "required": ["job_id", "result"],
            "properties": {"job_id": ID, "current_tag": _TAG,
                           "result": {"type": "string", "minLength": 1,
                                      "maxLength": 32}},
        },
    },
    "propertyNames": {"enum": ["start", "end"]},
}

SCHEMAS = {
    "job_create": _job(["client_id", "job_actions"], defaults=True),
    "job_patch": _job([], defaults=True),
    "job": _job(["job_id", "user_id", "client_id", "job_actions",
                 "job_schedule"]),
    "action_create": {"type": "object", "additionalProperties": True,
                      "required": ["freezer_action"],
                      "properties": ACTION_PROPERTIES},
    "action_patch": {"type": "object", "additionalProperties": True,
                     "properties": ACTION_PROPERTIES},
    "session_create": {"type": "object", "additionalProperties": True,
                       "required": ["schedule"],
                       "properties": SESSION_PROPERTIES},
    "session_patch": {"type": "object", "additionalProperties": True,
                      "properties": SESSION_PROPERTIES},
    "client_create": CLIENT_INFO,
    "backup_create": BACKUP_METADATA,
    "backup_patch": BACKUP_PATCH,
    "job_event": JOB_EVENT,
    "session_action": SESSION_ACTION,
}

_VALIDATORS = {}
for _name, _schema in SCHEMAS.items():
    jsonschema.Draft202012Validator.check_schema(_schema)
    _VALIDATORS[_name] = jsonschema.Draft202012Validator(
        _schema, format_checker=FORMAT_CHECKER)

# A fast path: jsonschema-rs (compiled) checks the common case, a valid
# document, in a few microseconds where jsonschema takes hundreds (a whole
# job is checked on every PATCH). Its verdict "valid" is only taken for a
# document whose strings are printable ASCII: there its regular
# expressions (\w, \d, \s, classes, anchors, lookahead) read exactly as
# Python's re does, and the formats are the same Python functions. Where
# it is stricter (no $ before a final newline), or for any
# other document, jsonschema decides and words the error, as before.
_FAST = {}
if jsonschema_rs is not None:
    _FORMATS = {name: check
                for name, (check, _raises) in FORMAT_CHECKER.checkers.items()}
    for _name, _schema in SCHEMAS.items():
        try:
            _FAST[_name] = jsonschema_rs.Draft202012Validator(
                _schema, formats=_FORMATS, validate_formats=True)
        except Exception as exc:  # a schema it cannot compile: no fast path
            LOG.debug("schema %s: no fast validation: %s", _name, exc)


def _plain_ascii(doc):
    """Whether every string of ``doc`` (keys too) is printable ASCII, or
    tab, newline, carriage return, form feed, backspace."""
    try:
        text = orjson.dumps(doc)
    except TypeError:
        return False
    return text.isascii() and b"\\u00" not in text


_FORMAT_TEXT = {
    "freezer-id": "must be 1 to 255 letters, digits, '_' or '-'",
    "freezer-id-or-empty": "must be empty or 1 to 255 letters, digits, "
                           "'_' or '-'",
    "client-id": "must be a host name, optionally prefixed by "
                 "'<project>_'",
}


def _describe(error):
    path = ".".join(str(p) for p in error.absolute_path) or "body"
    if error.validator == "format":
        text = _FORMAT_TEXT.get(error.validator_value, "has a bad format")
        return "%s %s" % (path, text)
    if error.validator == "additionalProperties":
        return "%s: %s" % (path, error.message)
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    return "%s: %s" % (path, message)


def validate(name, doc):
    """Raise InvalidInput describing the first violation of schema
    ``name`` (the most relevant one, by jsonschema's own ranking)."""
    fast = _FAST.get(name)
    if fast is not None and _plain_ascii(doc) and fast.is_valid(doc):
        return doc
    error = jsonschema.exceptions.best_match(
        _VALIDATORS[name].iter_errors(doc))
    if error is not None:
        raise exceptions.InvalidInput(_describe(error))
    return doc

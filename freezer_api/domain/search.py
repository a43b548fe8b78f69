"""Search filters: the legacy GET-body form and the query-string form.

Upstream reads a JSON body sent with GET::

    {"match": [{"client_id": "c1"}], "match_not": [{"status": "completed"}],
     "time_after": 1500000000, "time_before": 1600000000}

Each ``{key: value}`` means "a field named ``key``, at any depth, equals
``value``". ``{"_all": TEXT}`` (what ``freezer --search`` sends) is either a
JSON list of such objects or free text searched anywhere in the document.
Both forms become one ``Query`` that every storage driver understands.
"""

import dataclasses
import json
import math
import re

from freezer_api import exceptions

KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")
MAX_TERMS = 32
MAX_TEXT = 1024


@dataclasses.dataclass(frozen=True)
class Query:
    """What to select, in stable (insertion) order, and which page."""

    match: tuple = ()          # ((key, value), ...): all must hold
    match_not: tuple = ()      # ((key, value), ...): none may hold
    time_after: int | None = None
    time_before: int | None = None
    text: str | None = None    # free text, anywhere in the document
    limit: int = 10
    offset: int = 0


def _scalar(key, value):
    if isinstance(value, (dict, list)) or value is None:
        raise exceptions.InvalidInput(
            "search term %r: the value must be a string, a number or a "
            "boolean" % key)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise exceptions.InvalidInput(
            "search term %r: the value is longer than %d characters"
            % (key, MAX_TEXT))
    if isinstance(value, float) and not math.isfinite(value) or \
            isinstance(value, int) and not -2 ** 63 <= value < 2 ** 63:
        # (from the JSON text of an _all term: the body's own numbers
        # are bounded when it is parsed)
        raise exceptions.InvalidInput(
            "search term %r: the number is out of range" % key)
    if isinstance(value, str) and "\x00" in value:
        # No stored string has one, and PostgreSQL refuses it in a query.
        raise exceptions.InvalidInput(
            "search term %r: the value contains a NUL character" % key)
    return value


def _terms(name, items):
    if items is None:
        return []
    if not isinstance(items, list):
        raise exceptions.InvalidInput(
            "search: %r must be a list of {field: value} objects" % name)
    terms = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise exceptions.InvalidInput(
                "search: every item of %r must be an object with exactly "
                "one field" % name)
        (key, value), = item.items()
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise exceptions.InvalidInput(
                "search: %r is not a field name (letters, digits, '_', "
                "and '-')" % (key,))
        terms.append((key, value))
    return terms


def _int_param(name, value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise exceptions.InvalidInput("%s must be an integer" % name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    raise exceptions.InvalidInput("%s must be an integer" % name)


def build_query(body=None, params=None, limit=10, offset=0):
    """Turn the legacy search body and the query-string filters into a Query.

    ``body`` is the parsed GET body (None, {} or a dict); ``params`` a dict
    of query-string filters (``client_id``, ``session_id``, ``status``,
    ``time_after``, ``time_before``).
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise exceptions.InvalidInput(
            "search: the body must be a JSON object such as "
            '{"match": [{"field": "value"}]}')
    match = _terms("match", body.get("match"))
    match_not = _terms("match_not", body.get("match_not"))
    text = None
    plain = []
    for key, value in match:
        if key != "_all":
            plain.append((key, value))
            continue
        if not isinstance(value, str):
            raise exceptions.InvalidInput("search: _all must be a string")
        decoded = None
        try:
            decoded = json.loads(value)
        except ValueError:
            pass
        if isinstance(decoded, list) and decoded and all(
                isinstance(i, dict) for i in decoded):
            plain.extend(_terms("_all", decoded))
        elif value.strip():
            if len(value) > MAX_TEXT:
                raise exceptions.InvalidInput(
                    "search: _all is longer than %d characters" % MAX_TEXT)
            text = value.strip()
    time_after = _int_param("time_after", body.get("time_after"))
    time_before = _int_param("time_before", body.get("time_before"))
    for key, value in (params or {}).items():
        if value is None:
            continue
        if key == "time_after":
            time_after = _int_param(key, value)
        elif key == "time_before":
            time_before = _int_param(key, value)
        else:
            plain.append((key, value))
    if any(k == "_all" for k, _ in match_not):
        raise exceptions.InvalidInput("search: _all cannot be negated")
    if len(plain) + len(match_not) > MAX_TERMS:
        raise exceptions.InvalidInput(
            "search: at most %d terms are allowed" % MAX_TERMS)
    return Query(
        match=tuple((k, _scalar(k, v)) for k, v in plain),
        match_not=tuple((k, _scalar(k, v)) for k, v in match_not),
        time_after=time_after, time_before=time_before, text=text,
        limit=limit, offset=offset)

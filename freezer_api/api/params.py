"""Request parsing shared by every resource: bodies, paging, filters."""

import hashlib
import json
import math

import falcon

from freezer_api import cache
from freezer_api import exceptions
from freezer_api.domain import search

MAX_DEPTH = 32
# Every integer must fit the signed 64-bit columns and fields of every
# backend (a larger one reached SQLite as an OverflowError, a 500).
MAX_INT = 2 ** 63 - 1
QUERY_FILTERS = ("client_id", "session_id", "status", "time_after",
                 "time_before")
_JSON_TYPES = ("application/json", "application/x-www-form-urlencoded",
               "text/plain")


def _no_duplicates(pairs):
    doc = {}
    for key, value in pairs:
        if key in doc:
            raise exceptions.InvalidInput(
                "Malformed JSON: the key %r appears twice" % key)
        doc[key] = value
    return doc


def _reject_constant(name):
    raise exceptions.InvalidInput("Malformed JSON: %s is not JSON" % name)


def _parse_int(text):
    value = int(text)
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise exceptions.InvalidInput(
            "Malformed JSON: the integer %s is out of range (at most 64 "
            "bits, signed)" % (text if len(text) < 30 else text[:30] + "..."))
    return value


def _parse_float(text):
    value = float(text)
    if math.isinf(value):
        # 1e400 would be stored, and served, as Infinity: not JSON.
        raise exceptions.InvalidInput(
            "Malformed JSON: the number %s is out of range"
            % (text if len(text) < 30 else text[:30] + "..."))
    return value


def _check_string(text):
    if "\x00" in text:
        # PostgreSQL cannot store it, in text or in jsonb.
        raise exceptions.InvalidInput(
            "Strings must not contain the NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise exceptions.InvalidInput(
            "Malformed JSON: a string holds a lone surrogate (an unpaired "
            "\\ud800-\\udfff escape), which is not Unicode text")


def _check_document(value):
    """Raise InvalidInput if ``value`` is nested deeper than MAX_DEPTH or
    holds a string (key or value) that no backend can store."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise exceptions.InvalidInput(
                    "The body is nested deeper than %d levels" % MAX_DEPTH)
            if isinstance(item, dict):
                for key in item:
                    _check_string(key)
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)


def _read_raw(req, max_size):
    """The body's bytes, at most ``max_size`` of them."""
    length = req.content_length
    if length is not None and length > max_size:
        raise falcon.HTTPContentTooLarge(
            title="Request body too large",
            description="The body is %d bytes; at most %d are accepted."
            % (length, max_size))
    stream = req.bounded_stream
    if length is None and req.env.get("wsgi.input_terminated"):
        # A chunked body: the server (gunicorn, mod_wsgi; uWSGI through
        # freezer_api.wsgi) ends the stream itself, while bounded_stream
        # would read nothing without Content-Length.
        stream = req.stream
    try:
        raw = stream.read(max_size + 1) if length != 0 else b""
    except Exception as exc:
        # The server could not read what the client sent: a malformed
        # chunk, a body cut short, a client gone. Each server says so
        # with an exception of its own (gunicorn's parse errors,
        # mod_wsgi's and uWSGI's OSError).
        raise exceptions.InvalidInput(
            "The request body could not be read (%s): send it whole, with "
            "Content-Length or well-formed chunks." % type(exc).__name__)
    if len(raw) > max_size:
        raise falcon.HTTPContentTooLarge(
            title="Request body too large",
            description="At most %d bytes are accepted." % max_size)
    if length is not None and len(raw) < length:
        # The client closed its side before the end it announced: what
        # came may parse, but it is not the whole of what was sent.
        raise exceptions.InvalidInput(
            "The request body ended after %d of the %d bytes its "
            "Content-Length announced." % (len(raw), length))
    return raw


def _parse_json(req, raw, required):
    """``raw`` (a body) parsed and checked; None when it is empty and
    need not be there."""
    if not raw.strip():
        if required:
            raise exceptions.InvalidInput(
                "Empty request body. A valid JSON document is required.")
        return None
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type and content_type not in _JSON_TYPES and \
            not content_type.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description="The body must be application/json, not %s."
            % content_type)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise exceptions.InvalidInput("Malformed JSON: not UTF-8")
    return parse_document(text)


def parse_document(text):
    """The JSON value of ``text``, if every backend can store it (no
    duplicate keys, integers of 64 bits, finite numbers, no NUL, no lone
    surrogate, at most MAX_DEPTH levels); InvalidInput otherwise."""
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates,
                         parse_constant=_reject_constant,
                         parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:
        raise exceptions.InvalidInput("Malformed JSON: nested too deeply")
    except ValueError as exc:
        raise exceptions.InvalidInput("Malformed JSON: %s" % exc)
    _check_document(doc)
    return doc


def read_json(req, max_size, required=True):
    """The parsed JSON body, or None when there is none and none is
    required. Bodies may come with GET (upstream's search form)."""
    return _parse_json(req, _read_raw(req, max_size), required)


def read_object(req, max_size):
    doc = read_json(req, max_size)
    if not isinstance(doc, dict):
        raise exceptions.InvalidInput("The body must be a JSON object.")
    return doc


def _int_param(req, name, default, minimum, maximum):
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum or \
            not raw.strip().lstrip("-").isdigit():
        raise falcon.HTTPBadRequest(
            title="Invalid parameter",
            description="The \"%s\" parameter is invalid. The value must "
                        "be an integer from %d to %d."
                        % (name, minimum, maximum))
    return value


def list_query(req, limits, body):
    """The search of a list request: paging from the query string, filters
    from the legacy GET body (``body``: its bytes) and from the query
    string."""
    limit = _int_param(req, "limit", limits.default_limit, 1,
                       limits.max_limit)
    offset = _int_param(req, "offset", 0, 0, 10 ** 9)
    doc = _parse_json(req, body, required=False)
    params = {name: req.get_param(name) for name in QUERY_FILTERS}
    return search.build_query(doc, params, limit=limit, offset=offset)


class ListQueries:
    """``list_query`` with a memory. An agent polls with the same query
    string and body every time: the same request parses to the same
    (immutable) Query, so a small one is parsed, checked and built once.
    Refused requests are not remembered, and neither are large ones."""

    MAX_KEPT = 2048
    MAX_KEY_BYTES = 4096

    def __init__(self, limits):
        self.limits = limits
        self.known = cache.Bounded(self.MAX_KEPT)

    def __call__(self, req):
        """``(query, text)``: the Query and its text form (for ETags)."""
        raw = _read_raw(req, self.limits.max_body_size)
        key = (req.query_string, req.content_type, raw)
        found = self.known.get(key)
        if found is not None:
            return found
        query = list_query(req, self.limits, raw)
        found = (query, repr(query))
        if len(raw) + len(req.query_string) <= self.MAX_KEY_BYTES:
            self.known.put(key, found)
        return found


def bool_param(req, name):
    raw = req.get_param(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise falcon.HTTPBadRequest(
        title="Invalid parameter",
        description="The \"%s\" parameter must be true or false." % name)


def if_match(req):
    """The version named by ``If-Match`` (``"<n>"`` or ``n``), or None."""
    raw = req.get_header("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise exceptions.InvalidInput(
            "If-Match must be a version as sent in ETag")
    return int(value)


def list_etag(kind, scope, query_text, fingerprint):
    """The ETag of a list page: the storage's fingerprint of the page,
    bound to everything else that shapes the answer (the kind, the scope,
    and so the API version, and the query: ``repr`` of the Query, with its
    filters, limit and offset)."""
    text = "%s|%r|%s|%s" % (kind, scope, query_text, fingerprint)
    return '"%s"' % hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def etag_matches(wanted, etag):
    """Whether ``If-None-Match`` (``req.if_none_match``: ``["*"]`` or the
    tags sent) names ``etag`` (quoted). Weak comparison, as RFC 9110 asks
    for If-None-Match: ``W/"x"`` matches ``"x"``."""
    opaque = etag.strip('"')
    return any(tag == "*" or tag == opaque for tag in wanted)

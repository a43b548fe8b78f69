"""Index names, settings and the explicit mapping of the search-engine
driver.

Each kind of document has one index, ``<prefix>-<kind>-v<MAPPING_VERSION>``,
reached only through the alias ``<prefix>-<kind>``. A mapping change bumps
``MAPPING_VERSION``: the new index is filled by the driver (which computes
the derived fields below from ``doc``) and the alias is moved, so the
service never stops.

One indexed document (the ``_source``) looks like::

    {"doc_id": "j1", "user_id": "u", "project_id": "p",
     "client_id": "c1", "session_id": null, "status": null,
     "time_ts": 1700000000,
     "seq": 1700000000123456789, "version": 3,
     "leaves": ["mode=\\"fs\\"", "level=2", ...],
     "text": "{\\"job_id\\":\\"j1\\",...}",
     "doc": {...the document as the API gave it...}}

``doc`` is stored but never indexed (``"enabled": false``), so free-form
metadata cannot grow the mapping. ``leaves`` (every scalar leaf as
``key=<JSON value>``) answers "a field named k, at any depth, equals v";
``text`` (the lowercased JSON text, cut into trigrams) answers free-text
searches. Both are derived from ``doc``, so they are left out of the stored
``_source``.
"""

MAPPING_VERSION = 1

# Longest leaf term indexed, in characters. Lucene refuses terms over 32766
# bytes (8191 four-byte characters); a search value is at most 1024
# characters, so a longer leaf could never be asked for anyway.
MAX_LEAF_CHARS = 8191

TRIGRAM = "freezer_trigram"


def alias_name(prefix, kind):
    """The name every request uses for the documents of ``kind``."""
    return "%s-%s" % (prefix, kind)


def index_name(prefix, kind):
    """The concrete index behind ``alias_name``."""
    return "%s-%s-v%d" % (prefix, kind, MAPPING_VERSION)


def _keyword():
    return {"type": "keyword"}


MAPPING = {
    "dynamic": "strict",
    "_source": {"excludes": ["leaves", "text"]},
    "properties": {
        # identity and scope
        "doc_id": _keyword(),
        "user_id": _keyword(),
        "project_id": _keyword(),
        # the indexed fields of kinds.INDEXED
        "client_id": _keyword(),
        "session_id": _keyword(),
        "status": _keyword(),
        "time_ts": {"type": "long"},
        # insertion order (kept on update) and the document's version
        "seq": {"type": "long"},
        "version": {"type": "long", "index": False},
        # derived search fields (see the module docstring)
        "leaves": {"type": "keyword", "ignore_above": MAX_LEAF_CHARS},
        "text": {"type": "text", "analyzer": TRIGRAM, "norms": False,
                 "index_options": "positions"},
        # the document itself: stored, not indexed
        "doc": {"type": "object", "enabled": False},
    },
}


def dynamic_settings(conf):
    """Index settings that may change on a live index."""
    return {"number_of_replicas": conf.number_of_replicas,
            "refresh_interval": conf.refresh_interval}


def create_body(conf, kind):
    """The body of the request creating the index of ``kind``, its alias
    included (``conf`` is the ``[elasticsearch]`` group)."""
    settings = {
        "number_of_shards": conf.number_of_shards,
        **dynamic_settings(conf),
        "analysis": {
            # Every run of three characters, each one position after the
            # previous: a phrase of the trigrams of a string matches exactly
            # where that string occurs.
            "tokenizer": {TRIGRAM: {"type": "ngram", "min_gram": 3,
                                    "max_gram": 3, "token_chars": []}},
            "analyzer": {TRIGRAM: {"type": "custom",
                                   "tokenizer": TRIGRAM}},
        },
    }
    return {"settings": {"index": settings},
            "mappings": MAPPING,
            "aliases": {alias_name(conf.index_prefix, kind):
                        {"is_write_index": True}}}

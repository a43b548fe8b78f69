"""Helpers shared by the rules of every kind of document."""

import copy


def deep_merge(base, patch):
    """Return ``base`` with ``patch`` merged in, recursively for objects.

    Nested objects (``job_schedule``, ``schedule``, ``freezer_action``)
    merge key by key; arrays and scalars are replaced. Nothing that the
    patch does not name is dropped. Neither argument is modified.
    """
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def without(doc, keys):
    """A shallow copy of ``doc`` without ``keys``."""
    return {k: v for k, v in doc.items() if k not in keys}

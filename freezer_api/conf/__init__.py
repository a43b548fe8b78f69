"""Configuration options, one module per group (``list_opts`` feeds
oslo-config-generator). Nothing is registered or parsed at import time."""

from freezer_api.conf import api
from freezer_api.conf import database
from freezer_api.conf import elasticsearch
from freezer_api.conf import storage

MODULES = (api, storage, database, elasticsearch)


def register_opts(conf):
    for module in MODULES:
        module.register_opts(conf)
    return conf


def list_opts():
    """The ``oslo.config.opts`` entry point: [(group, [opts])]."""
    result = []
    for module in MODULES:
        result.extend(module.list_opts())
    return result

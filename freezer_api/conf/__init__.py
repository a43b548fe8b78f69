"""Configuration options, one module per group (``list_opts`` feeds
oslo-config-generator). Nothing is registered or parsed at import time."""

from oslo_log import log as oslo_log

from freezer_api.conf import api
from freezer_api.conf import database
from freezer_api.conf import elasticsearch
from freezer_api.conf import middleware
from freezer_api.conf import scheduler
from freezer_api.conf import storage

MODULES = (api, storage, database, elasticsearch, scheduler)


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


# opensearch-py logs every request it sends at INFO: a line per poll.
QUIET_LOGGERS = ["opensearch=WARN"]


def set_defaults():
    """The ``oslo.config.opts.defaults`` entry point: this service's
    defaults for options other libraries own (oslo.log's
    ``default_log_levels``, oslo.middleware's CORS headers), so that the
    sample and the reference show them. Process-wide, like every
    ``set_defaults`` of oslo: called by the entry points before a
    configuration is parsed."""
    levels = oslo_log.get_default_log_levels()
    oslo_log.set_defaults(default_log_levels=levels + [
        level for level in QUIET_LOGGERS if level not in levels])
    middleware.set_defaults()

"""[database]: oslo.db's options, with the embedded SQLite file as the
default connection."""

import copy

from oslo_config import cfg
from oslo_db import options as db_options

DEFAULT_CONNECTION = "sqlite:////var/lib/freezer/freezer-api.sqlite"


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)


def list_opts():
    # Copies, so that the sample shows this service's default connection
    # without changing oslo.db's own option objects.
    opts = copy.deepcopy(db_options.database_opts)
    cfg.set_defaults(opts, connection=DEFAULT_CONNECTION)
    return [("database", opts)]

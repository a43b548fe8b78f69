"""Parsing the configuration (only entry points call this)."""

from oslo_config import cfg
from oslo_log import log as oslo_log
from oslo_policy import opts as policy_opts

from freezer_api import conf as conf_module
from freezer_api.conf import middleware as middleware_conf
from freezer_api import __version__


def new_conf():
    """A fresh ConfigOpts with every option of the service registered."""
    conf_module.set_defaults()
    conf = cfg.ConfigOpts()
    conf_module.register_opts(conf)
    oslo_log.register_options(conf)
    policy_opts.set_defaults(conf)
    middleware_conf.register_opts(conf)
    return conf


def parse(args=None, config_files=None, conf=None):
    conf = conf or new_conf()
    conf(args=args or [], project="freezer", prog="freezer-api",
         version=__version__,
         default_config_files=config_files)
    return conf

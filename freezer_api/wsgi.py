"""``freezer_api.wsgi:application`` for gunicorn, uwsgi and mod_wsgi.

The configuration comes from the file named by ``FREEZER_API_CONFIG``, or
``/etc/freezer/freezer-api.conf`` when that exists; the host server's own
command line is never parsed.
"""

import os
import sys

DEFAULT_CONFIG = "/etc/freezer/freezer-api.conf"


def init_application(environ=None):
    from oslo_log import log as oslo_log

    from freezer_api import app
    from freezer_api import config

    environ = os.environ if environ is None else environ
    path = environ.get("FREEZER_API_CONFIG")
    files = [path] if path else (
        [DEFAULT_CONFIG] if os.path.exists(DEFAULT_CONFIG) else [])
    conf = config.parse(args=[], config_files=files)
    oslo_log.setup(conf, "freezer-api")
    application = app.create_app(conf)
    # With debug = true, every option (those of keystonemiddleware too,
    # registered by now; secret ones masked) is logged once.
    conf.log_opt_values(oslo_log.getLogger(__name__), oslo_log.DEBUG)
    return application


def __getattr__(name):
    # Built on first access, so importing this module has no side effects
    # beyond what the WSGI server asks for.
    if name == "application":
        application = init_application()
        globals()["application"] = application
        return application
    raise AttributeError(name)


if "uwsgi" in sys.modules:
    # uWSGI looks the callable up in this module's dictionary, where
    # __getattr__ is never asked: build it now (with lazy-apps, in each
    # worker).
    application = init_application()

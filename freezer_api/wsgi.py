"""``freezer_api.wsgi:application`` for gunicorn, uwsgi and mod_wsgi.

The configuration comes from the file named by ``FREEZER_API_CONFIG``, or
``/etc/freezer/freezer-api.conf`` when that exists; the host server's own
command line is never parsed.
"""

import os

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
    return app.create_app(conf)


def __getattr__(name):
    # Built on first access, so importing this module has no side effects
    # beyond what the WSGI server asks for.
    if name == "application":
        application = init_application()
        globals()["application"] = application
        return application
    raise AttributeError(name)

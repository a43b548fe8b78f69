"""Upstream freezer-api (the PyPI release in its own venv) as a WSGI
application for gunicorn, without Keystone: identity comes from the
X-User-ID and X-Project-ID headers, as upstream's hooks read them. It
serves /v2, or /v1 when the configuration sets ``enable_v1_api`` (18.0.0).

Run from the upstream venv in benchmarks/ (never from the repository
root, where ``import freezer_api`` would find this project)::

    cd benchmarks && FREEZER_BENCH_UPSTREAM_CONF=/path/to/conf \\
        gunicorn upstream_app:application
"""

import os

from oslo_config import cfg

from freezer_api.cmd import api
from freezer_api.common import config

config.parse_args(args=["--config-file",
                        os.environ["FREEZER_BENCH_UPSTREAM_CONF"]])
_V1 = getattr(cfg.CONF, "enable_v1_api", False)
_PREFIX = "/v1" if _V1 else "/v2"
_app = api.build_app_v1() if _V1 else api.build_app_v2()


def application(environ, start_response):
    """Mount the app under /v1 or /v2, as upstream's paste pipeline
    does."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(_PREFIX + "/") or path == _PREFIX:
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + _PREFIX
        environ["PATH_INFO"] = path[3:] or "/"
    return _app(environ, start_response)

"""Upstream freezer-api (the PyPI release in its own venv) as a WSGI
application for gunicorn, v2 only, without Keystone: identity comes from
the X-User-ID and X-Project-ID headers, as upstream's hooks read them.

Run from the upstream venv in benchmarks/ (never from the repository
root, where ``import freezer_api`` would find this project)::

    cd benchmarks && FREEZER_BENCH_UPSTREAM_CONF=/path/to/conf \\
        gunicorn upstream_app:application
"""

import os

from freezer_api.cmd import api
from freezer_api.common import config

config.parse_args(args=["--config-file",
                        os.environ["FREEZER_BENCH_UPSTREAM_CONF"]])
_v2 = api.build_app_v2()


def application(environ, start_response):
    """Mount the v2 app under /v2, as upstream's paste pipeline does."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/v2/") or path == "/v2":
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/v2"
        environ["PATH_INFO"] = path[3:] or "/"
    return _v2(environ, start_response)

"""gunicorn settings for freezer-api.

    FREEZER_API_CONFIG=/etc/freezer/freezer-api.conf \
        gunicorn -c /etc/freezer/gunicorn.conf.py

The service's own configuration comes from the file named by
FREEZER_API_CONFIG (default: /etc/freezer/freezer-api.conf). The
``freezer-api`` command runs the same server configured from that file
alone; this file is for running gunicorn yourself (systemd, containers).
"""

import os

wsgi_app = "freezer_api.wsgi:application"

# Where to listen: loopback, behind a reverse proxy (TLS, the public
# address). FREEZER_API_BIND overrides it, e.g. 0.0.0.0:9090.
bind = os.environ.get("FREEZER_API_BIND", "127.0.0.1:9090")

# Processes, each with its own application and database pool (the
# application is built after the fork: no preload_app).
workers = int(os.environ.get("FREEZER_API_WORKERS", "2"))
# freezer-api's worker: gunicorn's processes with non-blocking connection
# handling, so slow or stalled clients hold no thread (freezer_api/worker.py;
# [api] client_timeout and max_body_size come from freezer-api.conf).
worker_class = "freezer_api.worker.Worker"
threads = int(os.environ.get("FREEZER_API_THREADS", "4"))
worker_connections = 1000  # open connections per worker, at most
keepalive = 30  # seconds an idle kept-alive connection stays open
timeout = 60  # a request running longer restarts its worker
graceful_timeout = 10
proc_name = "freezer-api"

# Request lines to stdout (never headers, so never a token); the
# service's own log is configured in freezer-api.conf ([DEFAULT] log_file,
# debug, use_journal, ...).
accesslog = "-"

# gunicorn >= 25 would share one control socket per user between every
# server it runs; older versions ignore this setting.
control_socket_disable = True

# gunicorn trusts X-Forwarded-Proto only from these addresses; the
# service also honours X-Forwarded-* when [oslo_middleware]
# enable_proxy_headers_parsing = true.
forwarded_allow_ips = os.environ.get("FREEZER_API_PROXIES", "127.0.0.1")


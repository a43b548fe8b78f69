"""[DEFAULT] server options, [api] request limits, [healthcheck], and
upstream's [paste_deploy] (accepted, not used)."""

from oslo_config import cfg

DEFAULT_OPTS = [
    cfg.HostAddressOpt(
        "bind_host", default="0.0.0.0",
        help="Address the freezer-api server listens on."),
    cfg.PortOpt("bind_port", default=9090,
                help="Port the freezer-api server listens on."),
    cfg.StrOpt(
        "auth_strategy", default="keystone",
        choices=(("keystone", "keystonemiddleware validates tokens"),
                 ("noauth", "identity headers trusted as sent "
                            "(development only)")),
        help="keystone: keystonemiddleware auth_token validates every "
             "request (configured in [keystone_authtoken]). noauth: the "
             "X-User-Id, X-Project-Id and X-Roles headers are trusted as "
             "sent; for local development only."),
    cfg.BoolOpt("enable_v1_api", default=True,
                help="Serve the v1 API under /v1 (user-scoped)."),
    cfg.BoolOpt("enable_v2_api", default=True,
                help="Serve the v2 API under /v2/{project_id} "
                     "(project-scoped)."),
]

API_GROUP = "api"
API_OPTS = [
    cfg.IntOpt("workers", default=2, min=1,
               help="Number of gunicorn worker processes started by the "
                    "freezer-api command."),
    cfg.IntOpt("threads", default=4, min=1,
               help="Threads per worker process that run requests. One "
                    "more thread per worker reads and writes every "
                    "connection without blocking, so slow clients hold "
                    "no thread."),
    cfg.IntOpt("worker_timeout", default=60, min=1,
               help="Seconds one request may run; a worker with a request "
                    "running longer is restarted."),
    cfg.IntOpt("client_timeout", default=15, min=1,
               help="Seconds a client has to send a whole request (request "
                    "line, headers and body) from its first byte. Past "
                    "that it is answered 408 and its connection closed: a "
                    "slow or stalled client cannot hold the server."),
    cfg.IntOpt("keepalive_timeout", default=30, min=1,
               help="Seconds an idle kept-alive connection stays open."),
    cfg.IntOpt("max_connections", default=1000, min=1,
               help="Open connections per worker process, at most; past "
                    "that the worker stops accepting until some close. "
                    "Keep it under the process's open-file limit."),
    cfg.IntOpt("default_limit", default=10, min=1,
               help="Page size of list requests that give no limit."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="Largest page size a list request may ask for."),
    cfg.IntOpt("max_body_size", default=1024 * 1024, min=1024,
               help="Largest request body accepted, in bytes (413 above)."),
    cfg.IntOpt("max_write_retries", default=50, min=1,
               help="How many times a write that lost a compare-and-set "
                    "race is retried before the request gets 409."),
]

HEALTHCHECK_GROUP = "healthcheck"
HEALTHCHECK_OPTS = [
    cfg.StrOpt(
        "disable_by_file_path", default="/etc/freezer/healthcheck_disable",
        help="While this file exists, GET /healthcheck answers 503 "
             "{\"status\": \"DISABLED BY FILE\"} (the API itself keeps "
             "serving): create it to take the server out of a load "
             "balancer's pool before maintenance, remove it to put the "
             "server back. Upstream's oslo.middleware healthcheck used the "
             "same file. Empty: never disabled."),
    cfg.BoolOpt(
        "check_storage", default=True,
        help="Whether GET /healthcheck asks storage (503 while the "
             "database or search engine cannot be reached). Set it to "
             "false where one probe serves as liveness check, such as "
             "openstack-helm's (liveness and readiness both GET "
             "/healthcheck): a storage outage then does not make every "
             "API pod restart, and requests answer 503 until storage is "
             "back. The drain file above applies either way."),
]

PASTE_GROUP = "paste_deploy"
PASTE_OPTS = [
    cfg.StrOpt(
        "config_file", deprecated_for_removal=True,
        deprecated_reason="The middleware pipeline is built in (request "
                          "id, proxy headers, CORS, auth_token) and "
                          "configured in this file: a paste file, such as "
                          "the etc/freezer/freezer-paste.ini installed for "
                          "upstream's deployment tools, is not read.",
        help="Ignored; accepted so that upstream's configuration files "
             "load."),
]


def register_opts(conf):
    conf.register_opts(DEFAULT_OPTS)
    conf.register_opts(API_OPTS, group=API_GROUP)
    conf.register_opts(HEALTHCHECK_OPTS, group=HEALTHCHECK_GROUP)
    conf.register_opts(PASTE_OPTS, group=PASTE_GROUP)


def list_opts():
    return [("DEFAULT", DEFAULT_OPTS), (API_GROUP, API_OPTS),
            (HEALTHCHECK_GROUP, HEALTHCHECK_OPTS),
            (PASTE_GROUP, PASTE_OPTS)]

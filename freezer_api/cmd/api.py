"""``freezer-api --config-file FILE``: the production server (gunicorn's
master, freezer_api.worker's non-blocking workers)."""

import sys

from gunicorn.app import base as gunicorn_base
from oslo_log import log as oslo_log

from freezer_api import app as app_module
from freezer_api import config
from freezer_api import storage as storage_module

LOG = oslo_log.getLogger(__name__)


class Server(gunicorn_base.BaseApplication):
    """gunicorn, configured from oslo.config instead of its command line;
    each worker builds its own application (and database pool)."""

    def __init__(self, conf):
        self.conf = conf
        super().__init__()

    def load_config(self):
        conf = self.conf
        self.cfg.set("bind", "%s:%d" % (conf.bind_host, conf.bind_port))
        self.cfg.set("workers", conf.api.workers)
        self.cfg.set("worker_class", "freezer_api.worker.Worker")
        self.cfg.set("threads", conf.api.threads)
        self.cfg.set("worker_connections", conf.api.max_connections)
        self.cfg.set("keepalive", conf.api.keepalive_timeout)
        self.cfg.set("timeout", conf.api.worker_timeout)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("proc_name", "freezer-api")
        self.cfg.set("accesslog", "-")
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 would share one control socket per user
            # between every server it runs.
            self.cfg.set("control_socket_disable", True)

    def load(self):
        return app_module.create_app(self.conf)


def main(argv=None):
    conf = config.parse(args=sys.argv[1:] if argv is None else argv)
    oslo_log.setup(conf, "freezer-api")
    conf.log_opt_values(LOG, oslo_log.DEBUG)
    if conf.auth_strategy == "noauth":
        LOG.warning("*** auth_strategy = noauth: anyone who can reach "
                    "%s:%d can act as any user by sending X-User-Id. "
                    "Development only. ***", conf.bind_host, conf.bind_port)
    if app_module.needs_auto_upgrade(conf):
        # Once, in the master, before any worker starts.
        driver = storage_module.load_driver(conf)
        driver.upgrade()
        driver.close()
        conf.set_override("auto_upgrade", False, "storage")
    Server(conf).run()


if __name__ == "__main__":
    main()

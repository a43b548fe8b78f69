"""[storage]: which driver keeps the documents."""

from oslo_config import cfg

GROUP = "storage"
OPTS = [
    cfg.StrOpt(
        "driver", default="sqlalchemy",
        choices=("sqlalchemy", "elasticsearch"),
        help="Storage driver: sqlalchemy ([database] connection: SQLite, "
             "PostgreSQL, MariaDB/MySQL) or elasticsearch ([elasticsearch] "
             "options: Elasticsearch or OpenSearch)."),
    cfg.BoolOpt(
        "auto_upgrade", default=None,
        help="Create or migrate the schema when the service starts. "
             "Unset: only for an embedded SQLite database, and the "
             "elasticsearch driver creates missing indices on first use; "
             "run 'freezer-manage db sync' for the others. False: the "
             "elasticsearch driver never creates indices itself."),
    cfg.StrOpt(
        "backend", deprecated_for_removal=True,
        deprecated_reason="Upstream freezer-api's companion of driver "
                          "(kolla, openstack-ansible and openstack-helm "
                          "write it): not used, driver alone chooses.",
        help="Ignored; accepted so that upstream's configuration files "
             "load."),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

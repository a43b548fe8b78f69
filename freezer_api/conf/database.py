"""[database]: the SQL driver's options, every one of them read.

The names are oslo.db's, so that a configuration written for upstream
keeps its meaning; oslo.db's other options (read replicas, retry loops at
start-up, Galera's wsrep_sync_wait, asyncio...) have no use here and are
not offered (oslo.config ignores them in a file).
"""

from oslo_config import cfg

GROUP = "database"
DEFAULT_CONNECTION = "sqlite:////var/lib/freezer/freezer-api.sqlite"

OPTS = [
    cfg.StrOpt(
        "connection", default=DEFAULT_CONNECTION, secret=True,
        help="The SQLAlchemy URL of the database: sqlite:///PATH (the "
             "embedded default), postgresql+psycopg://USER:PASS@HOST/DB or "
             "mysql+pymysql://USER:PASS@HOST/DB?charset=utf8mb4."),
    cfg.StrOpt(
        "connection_parameters", default="",
        help="URL query parameters added to connection when connecting, "
             "as param1=value1&param2=value2 (e.g. sslmode=verify-full)."),
    cfg.IntOpt(
        "max_pool_size", default=5, min=1,
        help="Pooled connections per worker process kept open for "
             "transactions of several statements (PostgreSQL, MySQL). Each "
             "thread also keeps one connection of its own for reads and "
             "one-statement writes."),
    cfg.IntOpt(
        "max_overflow", default=10, min=0,
        help="Connections the pool may open beyond max_pool_size under "
             "load, closed again when returned."),
    cfg.IntOpt(
        "pool_timeout", default=30, min=1,
        help="Seconds to wait for a pooled connection before the request "
             "gets 503."),
    cfg.IntOpt(
        "connection_recycle_time", default=3600, min=-1,
        help="Seconds after which a pooled connection is replaced by a new "
             "one on its next checkout (-1: never)."),
    cfg.StrOpt(
        "mysql_sql_mode", default="TRADITIONAL",
        help="The sql_mode of every MySQL/MariaDB connection (empty: the "
             "server's own)."),
    cfg.BoolOpt(
        "sqlite_synchronous", default=True,
        help="SQLite: true keeps every committed write across a crash of "
             "the service (the journal is WAL with synchronous=NORMAL; a "
             "power loss may lose the last commits); false does not wait "
             "for the disk at all (synchronous=OFF)."),
    cfg.IntOpt(
        "sqlite_mmap_size", default=1024 ** 3, min=0,
        help="SQLite: bytes of the database file read through a memory "
             "map (PRAGMA mmap_size) instead of copied page by page into "
             "each connection's cache (0: no map). Address space, not "
             "memory: the pages are the OS's file cache, shared by every "
             "worker. SQLite caps it at its own compile-time limit."),
    cfg.IntOpt(
        "connection_debug", default=0, min=0, max=100,
        help="SQL logging: 0 none, 50 every statement, 100 statements and "
             "the rows they return (INFO/DEBUG of sqlalchemy.engine)."),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

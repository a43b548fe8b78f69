"""[elasticsearch]: the search-engine storage driver (Elasticsearch 7.10+,
8, 9 or OpenSearch 1-3), used when ``[storage] driver = elasticsearch``."""

from oslo_config import cfg

GROUP = "elasticsearch"
OPTS = [
    cfg.ListOpt(
        "hosts", default=["http://127.0.0.1:9200"],
        help="URLs of the engine's HTTP endpoints "
             "(http://host:port or https://host:port); requests are "
             "spread over them and a dead one is skipped."),
    cfg.StrOpt(
        "index_prefix", default="freezer",
        regex=r"^[a-z0-9][a-z0-9_.-]{0,200}$",
        help="Start of every index and alias name: documents of kind K "
             "live in the index <prefix>-K-v1, reached through the alias "
             "<prefix>-K. Lower case letters, digits, '_', '.' and '-'."),
    cfg.IntOpt(
        "number_of_shards", default=1, min=1,
        help="Primary shards of each index (fixed when the index is "
             "created)."),
    cfg.IntOpt(
        "number_of_replicas", default=0, min=0,
        help="Replicas of each shard; 'freezer-manage db sync' applies a "
             "new value to existing indices. 0 suits a single node."),
    cfg.StrOpt(
        "refresh_interval", default="200ms",
        help="How often the engine makes new writes searchable (an index "
             "setting; 'freezer-manage db sync' applies a new value). "
             "Every write waits for the next refresh before it returns "
             "(so that a list that follows shows it): this is also about "
             "how long one write request takes, during which an API "
             "worker waits. The engine's own default, 1s, would limit a "
             "worker to about one write a second. Never -1."),
    cfg.StrOpt(
        "ca_certs",
        help="CA bundle (PEM file) to verify the engine's TLS "
             "certificate; unset: the system's CAs."),
    cfg.BoolOpt(
        "verify_certs", default=True,
        help="Verify the TLS certificate of https hosts."),
    cfg.StrOpt(
        "username",
        help="User of HTTP basic authentication (unset: none)."),
    cfg.StrOpt(
        "password", secret=True,
        help="Password of HTTP basic authentication."),
    cfg.IntOpt(
        "timeout", default=10, min=1,
        help="Seconds to wait for one answer of the engine."),
    cfg.IntOpt(
        "max_retries", default=3, min=0,
        help="How many other hosts a request is tried on when a host "
             "cannot be reached. Timeouts are not retried."),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

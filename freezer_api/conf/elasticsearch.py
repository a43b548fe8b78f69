"""[elasticsearch]: the search-engine storage driver (Elasticsearch 7.10+,
8, 9 or OpenSearch 1-3), used when ``[storage] driver = elasticsearch``."""

from oslo_config import cfg

GROUP = "elasticsearch"


def _upstream(name):
    """Upstream freezer-api's name of an option: still read, with
    oslo.config's deprecation warning naming the new one."""
    return [cfg.DeprecatedOpt(name, group=GROUP)]


OPTS = [
    cfg.ListOpt(
        "hosts", default=["http://127.0.0.1:9200"],
        help="URLs of the engine's HTTP endpoints "
             "(http://host:port or https://host:port); requests are "
             "spread over them and a dead one is skipped."),
    cfg.StrOpt(
        "index_prefix", default="freezer",
        regex=r"^[a-z0-9][a-z0-9_.-]{0,200}$",
        deprecated_opts=_upstream("index"),
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
        deprecated_opts=_upstream("retries"),
        help="How many other hosts a request is tried on when a host "
             "cannot be reached. Timeouts are not retried."),
    # Upstream's options that have no one-to-one new name.
    cfg.StrOpt(
        "http_auth", secret=True, deprecated_for_removal=True,
        deprecated_reason="Upstream freezer-api's form: set username and "
                          "password instead.",
        help="'user:password' of HTTP basic authentication, as upstream "
             "freezer-api took it; used when username is unset."),
    cfg.BoolOpt(
        "use_ssl", default=False, deprecated_for_removal=True,
        deprecated_reason="Upstream freezer-api's switch: give hosts as "
                          "https:// URLs instead.",
        help="Reach the hosts given without a scheme (host:port) over "
             "https, as upstream freezer-api did; hosts given as URLs "
             "keep their scheme."),
]


def hosts(group):
    """``hosts`` of ``group`` (the parsed ``[elasticsearch]``) as URLs: a
    host without a scheme gets https:// when upstream's ``use_ssl`` is
    on, http:// otherwise."""
    scheme = "https://" if group.use_ssl else "http://"
    return [host if "://" in host else scheme + host
            for host in (h.strip() for h in group.hosts) if host]


def credentials(group):
    """(user, password) of HTTP basic authentication, or None: username
    and password, else upstream's ``http_auth`` ('user:password')."""
    if group.username:
        return group.username, group.password or ""
    if group.http_auth:
        user, _, password = group.http_auth.partition(":")
        return user, password
    return None


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

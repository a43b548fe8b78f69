"""The test environment: every server and installation the tests, ``make
test`` and the benchmarks need, as Python services with one interface
(tools/testenv/base.py: install, start, wait, stop, status, logs).

``python -m tools.testenv`` is its command line (tools/testenv/README.rst).
"""

import importlib

# name -> "module:Class" (imported only when used: one service's module
# does not load the others').
SERVICES = {
    "postgres": "tools.testenv.sql:Postgres",
    "mariadb": "tools.testenv.sql:MariaDB",
    "opensearch": "tools.testenv.search:OpenSearch",
    "elasticsearch": "tools.testenv.search:Elasticsearch",
    "opensearch-cluster": "tools.testenv.search:OpenSearchCluster",
    "keystone": "tools.testenv.keystone:Keystone",
    "agents": "tools.testenv.installs:Agents",
    "apache": "tools.testenv.installs:Apache",
    "dashboard": "tools.testenv.installs:Dashboard",
    "upstream": "tools.testenv.installs:Upstream",
}


def service_class(name):
    """The Service class registered as ``name`` (KeyError if none)."""
    module, _, cls = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def service(name, **kwargs):
    """An instance of the service ``name``."""
    return service_class(name)(**kwargs)

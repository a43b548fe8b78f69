"""The Elasticsearch/OpenSearch storage driver (``[storage] driver =
elasticsearch``)."""

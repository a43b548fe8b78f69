"""The one bounded cache of the service.

Every cache on the request path (parsed list queries, built and compiled
SQL statements, SQLite reads while the database holds still, policy
decisions) is a ``Bounded``: a dict whose reads are a plain ``dict.get``
(the hot path pays nothing more), and whose ``put`` keeps it at most
``size`` entries. When full, ``put`` empties it first: no per-hit
bookkeeping (an LRU would cost every hit), and the few shapes a workload
really uses are back after one miss each.
"""


class Bounded(dict):
    """A dict of at most ``size`` entries, filled by ``put``."""

    __slots__ = ("size",)

    def __init__(self, size):
        super().__init__()
        if size < 1:
            raise ValueError("a bounded cache holds at least one entry")
        self.size = size

    def put(self, key, value):
        """Keep ``value`` under ``key`` (emptying the cache first when it
        is full and ``key`` is new); returns ``value``."""
        if len(self) >= self.size and key not in self:
            self.clear()
        self[key] = value
        return value

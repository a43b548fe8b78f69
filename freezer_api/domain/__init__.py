"""Pure-Python rules of the Freezer API: no falcon, storage or config here."""

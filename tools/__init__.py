"""Tools of the freezer-api repository (not installed with the package)."""

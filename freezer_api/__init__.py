"""freezer-api: the OpenStack Freezer API, v1 and v2 from one code base.

Importing the package has no side effects; see ``freezer_api.app.create_app``.
"""

__version__ = "0.1.0"

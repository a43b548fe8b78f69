"""The WSGI script upstream's deployment tools load by file path.

kolla-ansible (2023.2 and before) and devstack's apache2 mode point
mod_wsgi's ``WSGIScriptAlias`` at ``<site-packages>/freezer_api/cmd/wsgi.py``.
mod_wsgi reads ``application`` from the script's globals, where a
module's lazy ``__getattr__`` is never asked: it is bound here, when the
script is loaded. The configuration files are those of
``freezer_api.wsgi`` (``FREEZER_API_CONFIG``, else ``freezer.conf`` and
``freezer-api.conf`` found in ``/etc/freezer`` and the other usual places).
"""

from freezer_api.wsgi import application  # noqa: F401

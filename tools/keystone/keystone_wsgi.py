"""Gunicorn entry point for the test Keystone (``keystone_wsgi:application``).

Keystone builds its configuration with oslo.config, which parses the
*process* command line (``sys.argv[1:]``) when the application is imported.
Under gunicorn those are gunicorn's own arguments; Keystone rejects them
("unrecognized arguments"), the worker dies and gunicorn restarts it forever
while the listening socket still accepts connections (and hangs them).

So the arguments are hidden while Keystone's application is built and put
back afterwards.  The configuration file is named by the environment
variable ``OS_KEYSTONE_CONFIG_FILES``, which tools/testenv/keystone.py sets.
"""

import sys

_saved_argv = list(sys.argv)
sys.argv[1:] = []
try:
    from keystone.wsgi.api import application  # noqa: F401
finally:
    sys.argv[:] = _saved_argv

__all__ = ['application']

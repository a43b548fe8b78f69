"""Horizon's local_settings for freezer-api's browser test
(tests/functional/test_dashboard.py): Horizon with freezer-web-ui, on
loopback, against the test Keystone.

tools/testenv/installs.py (Dashboard) copies this file into the dashboard
venv as openstack_dashboard/local/local_settings.py; the values that change
from run to run come from the environment the test gives the server:

  DASHBOARD_KEYSTONE_URL   the Keystone v3 URL (KEYSTONE_URL of the tests)
  DASHBOARD_STATE_DIR      where the secret key and the static files live

freezer-web-ui finds freezer-api in the Keystone catalog (service type
``backup``), as an operator's dashboard does: no FREEZER_API_URL here.
"""

import os

DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
_STATE = os.environ.get('DASHBOARD_STATE_DIR') or os.path.dirname(
    os.path.abspath(__file__))
SECRET_KEY = 'freezer-api-test-dashboard-not-secret'

OPENSTACK_HOST = '127.0.0.1'
OPENSTACK_KEYSTONE_URL = os.environ.get(
    'DASHBOARD_KEYSTONE_URL', 'http://127.0.0.1:35357/v3')
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = 'Default'
OPENSTACK_ENDPOINT_TYPE = 'publicURL'
OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'

# One process (Django's runserver): sessions in its memory, no memcached.
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
CACHES = {'default': {
    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}
SESSION_TIMEOUT = 3600

# Static files are collected and compressed once at install
# (installs.Dashboard: collectstatic, compress); the server only reads
# them.
STATIC_ROOT = os.path.join(_STATE, 'static')
COMPRESS_OFFLINE = True
COMPRESS_ENABLED = True

# Nothing but the panels under test, and no external service calls.
OPENSTACK_NEUTRON_NETWORK = {'enable_router': False, 'enable_quotas': False,
                             'enable_ipv6': False,
                             'enable_distributed_router': False,
                             'enable_ha_router': False,
                             'enable_fip_topology_check': False}
OPENSTACK_CINDER_FEATURES = {'enable_backup': False}
LAUNCH_INSTANCE_DEFAULTS = {}
TIME_ZONE = 'UTC'

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'plain': {
        'format': '%(asctime)s %(levelname)s %(name)s %(message)s'}},
    'handlers': {'console': {'class': 'logging.StreamHandler',
                             'formatter': 'plain'}},
    'root': {'handlers': ['console'], 'level': 'INFO'},
    # The test reads freezer-api's access log for the calls; here only
    # the dashboard's own requests and what went wrong.
    'loggers': {'keystoneauth': {'level': 'WARNING'},
                'django.server': {'level': 'INFO', 'handlers': ['console'],
                                  'propagate': False}},
}

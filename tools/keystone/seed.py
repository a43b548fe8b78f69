"""Seed the test Keystone with freezer-api's fixtures, and describe them.

Run with the Python of the Keystone virtualenv (it has keystoneauth1):

    seed.py seed --auth-url URL --freezer-url URL  # idempotent; log: stderr
    seed.py env  --auth-url URL --freezer-url URL  # shell `export` lines
    seed.py json --auth-url URL --freezer-url URL  # the same, one JSON object

``seed`` only creates what is missing.  It never resets a password of an
existing user: Keystone rejects tokens issued in the same second as a
password change, so resetting on every run would make tests flaky.
Endpoints whose URL differs from the wanted one (another port) are updated.

tools/testenv/keystone.py runs ``seed`` on every start and ``json`` for
``Keystone.environment()``; see tools/keystone/README.rst.
"""

import argparse
import json
import os
import shlex
import sys

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

DOMAIN_ID = 'default'
DOMAIN_NAME = 'Default'
REGION = 'RegionOne'
ADMIN_USER = 'admin'
ADMIN_PROJECT = 'admin'
DEFAULT_ADMIN_PASSWORD = 'secret-admin'

ROLES = ('admin', 'member', 'reader', 'service')
# prior role -> implied role, as `keystone-manage bootstrap` sets them up.
IMPLIED_ROLES = (('admin', 'member'), ('member', 'reader'))
PROJECTS = ('freezer-a', 'freezer-b', 'service')
# (user, project, role); every password is "secret-<user>".
USERS = (
    ('alice', 'freezer-a', 'member'),
    ('amy', 'freezer-a', 'member'),
    ('rita', 'freezer-a', 'reader'),
    ('bob', 'freezer-b', 'member'),
    ('adam', 'freezer-a', 'admin'),
    ('freezer', 'service', 'service'),
)
# More (user, project, role): the service user is also the trustee of the
# central scheduler's trusts and runs that scheduler, which registers
# itself and polls in its own project (member) as well as validating
# tokens (service).
EXTRA_GRANTS = (('freezer', 'service', 'member'),)
BACKUP_SERVICE = ('backup', 'freezer', 'Backup/restore service (freezer-api)')


def password_of(user):
    return 'secret-%s' % user


def log(msg):
    print('seed: %s' % msg, file=sys.stderr, flush=True)


class Keystone:
    """The few Identity v3 calls we need, over an admin session."""

    def __init__(self, auth_url, admin_password):
        self.url = auth_url.rstrip('/')
        # Project scope on the admin project (named in keystone.conf
        # [resource]) rather than system scope: both may manage everything,
        # but Keystone 30 answers system-scoped requests ~5x slower (~100 ms).
        auth = v3.Password(
            auth_url=self.url,
            username=ADMIN_USER,
            password=admin_password,
            user_domain_id=DOMAIN_ID,
            project_name=ADMIN_PROJECT,
            project_domain_id=DOMAIN_ID,
        )
        self.session = ks_session.Session(auth=auth, timeout=15)

    def _call(self, method, path, body=None, params=None, ok=(200,)):
        resp = self.session.request(
            self.url + path, method, json=body, params=params,
            raise_exc=False)
        if resp.status_code not in ok:
            raise SystemExit('seed: %s %s -> %s %s' % (
                method, path, resp.status_code, resp.text[:300]))
        return resp

    def get(self, path, **params):
        return self._call('GET', path, params=params).json()

    def exists(self, path):
        return self._call('HEAD', path, ok=(200, 204, 404)).status_code != 404

    def post(self, path, body):
        return self._call('POST', path, body=body, ok=(201,)).json()

    def put(self, path):
        self._call('PUT', path, ok=(200, 201, 204))

    def patch(self, path, body):
        return self._call('PATCH', path, body=body).json()

    # -- lookups ---------------------------------------------------------
    def one(self, collection, key, **filters):
        items = self.get('/' + collection, **filters)[key]
        if len(items) > 1:
            raise SystemExit('seed: several %s match %r'
                             % (collection, filters))
        return items[0] if items else None

    def role(self, name):
        # Global roles only (a domain-specific role of the same name is not
        # what auth_token / policy look at).
        for role in self.get('/roles', name=name)['roles']:
            if not role.get('domain_id'):
                return role
        return None

    def project(self, name):
        return self.one('projects', 'projects', name=name, domain_id=DOMAIN_ID)

    def user(self, name):
        return self.one('users', 'users', name=name, domain_id=DOMAIN_ID)

    def service(self, stype, name):
        for svc in self.get('/services', type=stype)['services']:
            if svc['name'] == name:
                return svc
        return None

    # -- idempotent "ensure" operations ----------------------------------
    def ensure_role(self, name):
        role = self.role(name)
        if role:
            return role
        log('create role %s' % name)
        return self.post('/roles', {'role': {'name': name}})['role']

    def implied_closure(self, role):
        """Ids of every role that ``role`` implies, directly or not."""
        rules = {}
        for rule in self.get('/role_inferences')['role_inferences']:
            rules.setdefault(rule['prior_role']['id'], set()).update(
                r['id'] for r in rule['implies'])
        seen, todo = set(), [role['id']]
        while todo:
            for rid in rules.get(todo.pop(), ()):
                if rid not in seen:
                    seen.add(rid)
                    todo.append(rid)
        return seen

    def ensure_implied(self, prior, implied):
        # Bootstrap of Keystone 30 chains admin -> manager -> member ->
        # reader; only add a direct rule when the chain is missing.
        if implied['id'] in self.implied_closure(prior):
            return
        log('make role %s imply %s' % (prior['name'], implied['name']))
        self.put('/roles/%s/implies/%s' % (prior['id'], implied['id']))

    def ensure_project(self, name):
        project = self.project(name)
        if project:
            return project
        log('create project %s' % name)
        return self.post('/projects', {'project': {
            'name': name, 'domain_id': DOMAIN_ID, 'enabled': True,
            'description': 'freezer-api test fixture'}})['project']

    def ensure_user(self, name, project):
        user = self.user(name)
        if user:
            return user
        log('create user %s' % name)
        return self.post('/users', {'user': {
            'name': name, 'domain_id': DOMAIN_ID, 'enabled': True,
            'password': password_of(name),
            'default_project_id': project['id']}})['user']

    def ensure_grant(self, user, project, role):
        path = '/projects/%s/users/%s/roles/%s' % (
            project['id'], user['id'], role['id'])
        if not self.exists(path):
            log('grant %s to %s on %s' % (
                role['name'], user['name'], project['name']))
            self.put(path)

    def ensure_region(self, region_id):
        if not self.exists('/regions/%s' % region_id):
            log('create region %s' % region_id)
            self.post('/regions', {'region': {'id': region_id}})

    def ensure_service(self, stype, name, description):
        svc = self.service(stype, name)
        if svc:
            return svc
        log('create service %s (%s)' % (name, stype))
        return self.post('/services', {'service': {
            'type': stype, 'name': name, 'enabled': True,
            'description': description}})['service']

    def ensure_endpoint(self, service, interface, url):
        found = [ep for ep in self.get('/endpoints', service_id=service['id'],
                                       interface=interface)['endpoints']
                 if ep.get('region_id') == REGION]
        if not found:
            log('create %s endpoint of %s: %s' % (interface, service['name'],
                                                  url))
            self.post('/endpoints', {'endpoint': {
                'service_id': service['id'], 'interface': interface,
                'region_id': REGION, 'url': url, 'enabled': True}})
            return
        for ep in found:
            if ep['url'] != url or not ep.get('enabled', True):
                log('update %s endpoint of %s: %s -> %s' % (
                    interface, service['name'], ep['url'], url))
                self.patch('/endpoints/%s' % ep['id'], {'endpoint': {
                    'url': url, 'enabled': True}})


def seed(ks, auth_url, freezer_url):
    roles = {name: ks.ensure_role(name) for name in ROLES}
    for prior, implied in IMPLIED_ROLES:
        ks.ensure_implied(roles[prior], roles[implied])
    projects = {name: ks.ensure_project(name) for name in PROJECTS}
    users = {}
    for name, project, role in USERS:
        users[name] = ks.ensure_user(name, projects[project])
        ks.ensure_grant(users[name], projects[project], roles[role])
    for name, project, role in EXTRA_GRANTS:
        ks.ensure_grant(users[name], projects[project], roles[role])

    ks.ensure_region(REGION)
    # The identity endpoints follow KEYSTONE_PORT (bootstrap recorded the
    # port of the first start); keystonemiddleware looks up "internal".
    identity = ks.service('identity', 'keystone')
    if identity is None:
        raise SystemExit('seed: no identity service; was bootstrap run?')
    for interface in ('public', 'internal'):
        ks.ensure_endpoint(identity, interface, auth_url)
    backup = ks.ensure_service(*BACKUP_SERVICE)
    ks.ensure_endpoint(backup, 'public', freezer_url)
    log('done')


def env_vars(ks, auth_url, freezer_url, admin_password):
    """{variable: value} describing the fixtures to the tests."""
    out = {}

    def export(name, value):
        out[name] = str(value)

    def require(obj, what):
        if obj is None:
            raise SystemExit('seed: %s is missing; run python -m '
                             'tools.testenv start keystone' % what)
        return obj

    def key(name):
        return name.upper().replace('-', '_')

    export('KEYSTONE_URL', auth_url)
    export('KEYSTONE_REGION', REGION)
    export('KEYSTONE_DOMAIN_ID', DOMAIN_ID)
    export('KEYSTONE_DOMAIN_NAME', DOMAIN_NAME)
    # What the catalog says (python-freezerclient's view), which is the
    # FREEZER_API_PORT of the last `start`.
    backup = require(ks.service(*BACKUP_SERVICE[:2]), 'service freezer')
    urls = [ep['url'] for ep in ks.get('/endpoints', service_id=backup['id'],
                                       interface='public')['endpoints']
            if ep.get('region_id') == REGION]
    export('FREEZER_API_URL', urls[0] if urls else freezer_url)

    admin = require(ks.user(ADMIN_USER), 'user admin')
    admin_project = require(ks.project(ADMIN_PROJECT), 'project admin')
    export('KEYSTONE_ADMIN_USERNAME', ADMIN_USER)
    export('KEYSTONE_ADMIN_PASSWORD', admin_password)
    export('KEYSTONE_ADMIN_USER_ID', admin['id'])
    export('KEYSTONE_ADMIN_PROJECT_NAME', ADMIN_PROJECT)
    export('KEYSTONE_ADMIN_PROJECT_ID', admin_project['id'])

    projects = {}
    for name in PROJECTS:
        projects[name] = require(ks.project(name), 'project %s' % name)
        export('KEYSTONE_PROJECT_%s_NAME' % key(name), name)
        export('KEYSTONE_PROJECT_%s_ID' % key(name), projects[name]['id'])

    for name, project, role in USERS:
        user = require(ks.user(name), 'user %s' % name)
        prefix = 'KEYSTONE_%s_' % key(name)
        export(prefix + 'USERNAME', name)
        export(prefix + 'PASSWORD', password_of(name))
        export(prefix + 'USER_ID', user['id'])
        export(prefix + 'PROJECT_NAME', project)
        export(prefix + 'PROJECT_ID', projects[project]['id'])
        export(prefix + 'ROLE', role)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=('seed', 'env', 'json'))
    parser.add_argument('--auth-url', required=True,
                        help='Keystone v3 URL, e.g. http://127.0.0.1:35357/v3')
    parser.add_argument('--freezer-url', required=True,
                        help='public endpoint of the backup service')
    args = parser.parse_args(argv)
    admin_password = os.environ.get('KEYSTONE_ADMIN_PASSWORD',
                                    DEFAULT_ADMIN_PASSWORD)
    auth_url = args.auth_url.rstrip('/')
    freezer_url = args.freezer_url.rstrip('/')
    ks = Keystone(auth_url, admin_password)
    try:
        if args.command == 'seed':
            seed(ks, auth_url, freezer_url)
        else:
            variables = env_vars(ks, auth_url, freezer_url, admin_password)
            if args.command == 'json':
                print(json.dumps(variables, indent=1, sort_keys=True))
            else:
                print('\n'.join('export %s=%s' % (name, shlex.quote(value))
                                for name, value in variables.items()))
    except ks_exc.ClientException as exc:
        raise SystemExit('seed: keystone request failed: %s' % exc)
    return 0


if __name__ == '__main__':
    sys.exit(main())

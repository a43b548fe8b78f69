"""What upstream's deployment tools expect of a freezer-api install
(kolla-ansible 2023.2, openstack-ansible's os_freezer, devstack,
openstack-helm; /work/shared/reference/deployment-tools.md), done for
real: the WSGI module paths they load under mod_wsgi, uWSGI and gunicorn,
the configuration file names they write, ``freezer-manage db update`` and
``db show`` on real stores, upstream's option names (with oslo.config's
deprecation warning), upstream's base policy rules, a health check that
need not depend on storage, the files installed into a virtualenv, the
systemd unit and the devstack plugin."""

import base64
import http.server
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

import pytest
import requests
from falcon import testing

from freezer_api import app as app_module
from freezer_api import config
from freezer_api.conf import elasticsearch as es_conf
from freezer_api.storage.elasticsearch import driver as es_driver
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests import conftest
from tests.functional import server as server_module
from tests.functional import test_deploy as deploy

ROOT = deploy.ROOT
BIN = deploy.BIN
MANAGE = os.path.join(BIN, "freezer-manage")
NOAUTH = "[DEFAULT]\nauth_strategy = noauth\n"
HEADERS = {"X-User-Id": "op", "X-Project-Id": "pt", "X-Roles": "member"}


def _env_without_config(home):
    """The environment of a tool that passes no configuration file:
    FREEZER_API_CONFIG unset, HOME a directory of the test's."""
    env = {k: v for k, v in os.environ.items() if k != "FREEZER_API_CONFIG"}
    env["HOME"] = str(home)
    return env


def _dot_freezer(home, name, text):
    """``~/.freezer/<name>`` (oslo.config looks there first, then in /etc/
    freezer, which tests must not write)."""
    directory = home / ".freezer"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)


# -- freezer-manage db update / db show --------------------------------------
STORES = [b for b in conftest.BACKENDS
          if b in ("sqlite", "postgresql", "opensearch")]


def _store_conf(backend, tmp_path):
    """(configuration text in upstream's words, teardown)."""
    if backend == "opensearch":
        prefix = "freezer-t-dt-%d" % os.getpid()
        text = ("[storage]\nbackend = elasticsearch\ndriver = elasticsearch"
                "\n\n[elasticsearch]\nhosts = %s\nindex = %s\nretries = 2\n"
                "number_of_replicas = 0\n"
                % (os.environ["FREEZER_TEST_OPENSEARCH_URL"], prefix))

        def drop():
            conf = config.parse(config_files=[])
            conf.set_override("hosts", [os.environ[
                "FREEZER_TEST_OPENSEARCH_URL"]], "elasticsearch")
            conf.set_override("index_prefix", prefix, "elasticsearch")
            driver = es_driver.ElasticsearchDriver(conf)
            driver.drop_indices()
            driver.close()
        return text, drop
    if backend == "sqlite":
        url, drop = "sqlite:///%s" % (tmp_path / "f.sqlite"), lambda: None
    else:
        url, drop = conftest._sql_database(
            os.environ[conftest.SQL_BACKENDS[backend]])
    return ("[storage]\nbackend = sqlachemy\ndriver = sqlalchemy\n\n"
            "[database]\nconnection = %s\nmax_retries = -1\n" % url), drop


@pytest.mark.parametrize("backend", STORES)
def test_db_update_and_show_find_freezer_conf(backend, tmp_path):
    """kolla's bootstrap and devstack: ``freezer-manage db update`` and
    ``db show``, no --config-file, the configuration in freezer.conf
    (kolla's name; upstream's ``[storage] backend``, ``[elasticsearch]
    index`` and ``retries``)."""
    text, drop = _store_conf(backend, tmp_path)
    _dot_freezer(tmp_path, "freezer.conf", text + "\n[storage]\n"
                 "auto_upgrade = false\n")
    env = _env_without_config(tmp_path)

    def manage(*args):
        return subprocess.run([MANAGE, "db", *args], env=env,
                              capture_output=True, text=True, timeout=120)
    try:
        before = manage("show")
        assert before.returncode == 1, before
        assert "driver: %s" % ("elasticsearch" if backend == "opensearch"
                               else "sqlalchemy") in before.stdout
        updated = manage("update")
        assert updated.returncode == 0, updated.stderr
        if backend == "opensearch":
            # Upstream's names still work, and say what replaces them.
            assert 'Option "index" from group "elasticsearch" is ' \
                'deprecated. Use option "index_prefix"' in updated.stderr
            assert 'Use option "max_retries"' in updated.stderr
        shown = manage("show")
        assert shown.returncode == 0, shown
        assert "schema: none" not in shown.stdout
        again = manage("update-settings")
        assert again.returncode == 0, again.stderr
    finally:
        drop()


# -- upstream's [elasticsearch] options ---------------------------------------
def test_upstream_search_options_are_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "freezer.conf"
    path.write_text("[elasticsearch]\nindex = oldname\nretries = 7\n"
                    "http_auth = bob:pa:ss\nuse_ssl = true\n"
                    "hosts = es1:9200, http://es2:9200\n")
    conf = config.parse(config_files=[str(path)])
    es = conf.elasticsearch
    with caplog.at_level("WARNING", logger="oslo_config.cfg"):
        assert es.index_prefix == "oldname"
        assert es.max_retries == 7
        assert es_conf.credentials(es) == ("bob", "pa:ss")
        assert es_conf.hosts(es) == ["https://es1:9200", "http://es2:9200"]
    warned = caplog.text
    for old, new in (("index", "index_prefix"), ("retries", "max_retries")):
        assert 'Option "%s" from group "elasticsearch" is deprecated. ' \
            'Use option "%s"' % (old, new) in warned
    for old in ("http_auth", "use_ssl"):
        assert 'Option "%s" from group "elasticsearch" is deprecated for ' \
            'removal' % old in warned
    # The new names win over upstream's.
    path.write_text("[elasticsearch]\nhttp_auth = bob:x\nusername = ann\n"
                    "password = y\nhosts = es1:9200\n")
    conf = config.parse(config_files=[str(path)])
    assert es_conf.credentials(conf.elasticsearch) == ("ann", "y")
    assert es_conf.hosts(conf.elasticsearch) == ["http://es1:9200"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A search engine that answers every request with an empty count and
    remembers the requests' paths and Authorization headers."""

    seen = []

    def do_GET(self):
        type(self).seen.append((self.path,
                                self.headers.get("Authorization")))
        body = b'{"count": 0, "_shards": {"total": 1}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def _self_signed(tmp_path):
    """(certificate, key) for 127.0.0.1, made with openssl."""
    cert, key = tmp_path / "engine.pem", tmp_path / "engine.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_http_auth_and_index_reach_the_engine(tmp_path, tls):
    """devstack's secured engine: ``http_auth`` is sent as basic
    authentication, ``index`` names the indices and ``use_ssl`` reaches a
    host given without a scheme over TLS (verified with ``ca_certs``),
    on a real socket."""
    _Recorder.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    extra = ""
    if tls:
        cert, key = _self_signed(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        extra = "use_ssl = true\nverify_certs = true\nca_certs = %s\n" % cert
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "freezer.conf"
        path.write_text(
            "[storage]\ndriver = elasticsearch\nauto_upgrade = false\n\n"
            "[elasticsearch]\nhosts = 127.0.0.1:%d\nindex = devstack\n"
            "http_auth = freezer:sëcret\n%s" % (httpd.server_port, extra))
        driver = es_driver.ElasticsearchDriver(
            config.parse(config_files=[str(path)]))
        try:
            driver.healthcheck()
        finally:
            driver.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    (request_path, authorization), = _Recorder.seen
    assert request_path.startswith("/devstack-")
    assert authorization == "Basic " + base64.b64encode(
        "freezer:sëcret".encode()).decode()


# -- policy -------------------------------------------------------------------
@pytest.mark.parametrize("rule, allowed", [
    ("rule:admin_or_owner_or_service", True),
    ("rule:admin_or_reader_or_service", True),
    ("rule:no_such_base_rule", False),
])
def test_policy_files_may_name_upstream_base_rules(tmp_path, rule, allowed):
    """An operator's policy file written for upstream (openstack-ansible's
    freezer_api_policy_overrides, kolla's custom policy) names upstream's
    base rules: they exist, so a service user is let through (a rule
    naming a missing one denies)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"backups:create": "%s"\n"backups:get_all": "%s"\n'
                      % (rule, rule))
    conf = conftest.make_conf(**{
        "oslo_policy.policy_file": str(policy),
        "database.connection": "sqlite:///%s" % (tmp_path / "p.sqlite")})
    client = testing.TestClient(app_module.create_app(conf))
    headers = dict(HEADERS, **{"X-Roles": "service"})
    created = client.simulate_post("/v2/pt/backups", headers=headers, json={
        "container": "c", "hostname": "h", "backup_name": "b",
        "time_stamp": 1})
    listed = client.simulate_get("/v2/pt/backups", headers=headers)
    assert (created.status_code, listed.status_code) == (
        (201, 200) if allowed else (403, 403)), created.text


# -- health check -------------------------------------------------------------
def test_healthcheck_can_leave_storage_out(tmp_path):
    """openstack-helm probes liveness and readiness with GET /healthcheck:
    with ``check_storage = false`` a database outage (here a PostgreSQL
    port nobody listens on) does not fail it, while requests still say
    503; by default the check fails."""
    url = "postgresql+psycopg://u:p@127.0.0.1:%d/none?connect_timeout=2" % (
        server_module.free_port())
    answers = {}
    for check in (True, False):
        conf = conftest.make_conf(**{"database.connection": url,
                                     "healthcheck.check_storage": check})
        client = testing.TestClient(app_module.create_app(
            conf, storage=sql_driver.SQLAlchemyDriver(conf)))
        answers[check] = (
            client.simulate_get("/healthcheck").status_code,
            client.simulate_get("/v2/pt/jobs", headers=HEADERS).status_code)
    assert answers == {True: (503, 503), False: (200, 503)}


# -- WSGI servers, the upstream module paths and file names -------------------
def _serve(argv, env, tmp):
    """Start ``argv`` (a server); return (process, log path)."""
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=str(tmp), env=env, stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log_path


def _check_serves(base, proc, log_path, name):
    deploy._wait_healthy(base, proc, name, log_path.read_text)
    assert requests.get(base + "/").status_code == 300
    created = requests.post(base + "/v2/pt/clients", headers=HEADERS,
                            json={"client_id": "pt_h", "hostname": "h"})
    # 201 only with noauth, which the configuration file sets: it was read.
    assert created.status_code == 201, (created.text, log_path.read_text())


def _cmd_wsgi_path():
    return os.path.join(ROOT, "freezer_api", "cmd", "wsgi.py")


SERVED = {
    # kolla and devstack's apache2 mode load this file; uWSGI's
    # wsgi-file, like mod_wsgi, reads `application` from its globals.
    "uwsgi-cmd-wsgi-file": lambda port: [
        os.path.join(BIN, "uwsgi"), "--wsgi-file", _cmd_wsgi_path(),
        "--http-socket", "127.0.0.1:%d" % port, "--master",
        "--need-app", "--lazy-apps", "--die-on-term", "--processes", "1"],
    "gunicorn-cmd-wsgi": lambda port: [
        os.path.join(BIN, "gunicorn"), "-b", "127.0.0.1:%d" % port, "-w",
        "1", "--no-control-socket", "freezer_api.cmd.wsgi:application"],
    # openstack-ansible's uwsgi (ansible-role-uwsgi's template).
    "uwsgi-openstack-ansible": lambda port: [
        os.path.join(BIN, "uwsgi"), "--wsgi",
        "freezer_api.wsgi:application", "--virtualenv", sys.prefix,
        "--http-socket", "127.0.0.1:%d" % port, "--master", "--lazy-apps",
        "--need-app", "--http-raw-body", "--http-auto-chunked",
        "--processes", "1", "--threads", "1", "--die-on-term"],
    # etc/freezer/uwsgi.conf, its socket set as this repository's
    # devstack plugin sets it, and as upstream's plugin sets it (uWSGI's
    # HTTP router, a unix socket and more).
    "uwsgi-etc-freezer-uwsgi-conf": ["http-socket = 127.0.0.1:{port}"],
    "uwsgi-etc-freezer-uwsgi-conf-upstream-devstack": [
        "http = 127.0.0.1:{port}", "processes = 2", "threads = 2",
        "wsgi = freezer_api.wsgi:application",
        "add-header = Connection: close", "master = true",
        "socket = {tmp}/freezer-api-wsgi.socket", "chmod-socket = 666",
        "lazy-apps = true", "enable-threads = true",
        "exit-on-reload = true", "die-on-term = true",
        "thunder-lock = true"],
}


@pytest.mark.parametrize("name", sorted(SERVED))
def test_wsgi_entry_points_find_freezer_conf(name, tmp_path):
    """Without FREEZER_API_CONFIG (mod_wsgi passes no environment), the
    application reads freezer.conf (kolla, helm, puppet) and then
    freezer-api.conf (openstack-ansible, devstack), which wins, from
    oslo.config's places (here ~/.freezer)."""
    port = server_module.free_port()
    first, second = tmp_path / "first.sqlite", tmp_path / "second.sqlite"
    _dot_freezer(tmp_path, "freezer.conf", NOAUTH + "\n[database]\n"
                 "connection = sqlite:///%s\n" % first)
    _dot_freezer(tmp_path, "freezer-api.conf", "[database]\n"
                 "connection = sqlite:///%s\n" % second)
    env = _env_without_config(tmp_path)
    env["VIRTUAL_ENV"] = sys.prefix
    if isinstance(SERVED[name], list):
        text = pathlib.Path(ROOT, "etc", "freezer", "uwsgi.conf").read_text()
        for line in SERVED[name]:  # as iniset: replace the key, or add it
            line = line.format(port=port, tmp=tmp_path)
            key = line.split(" = ", 1)[0]
            kept = [old for old in text.splitlines()
                    if not old.startswith(key + " = ")]
            text = "\n".join(kept + [line]) + "\n"
        conf = tmp_path / "uwsgi.conf"
        conf.write_text(text)
        argv = [os.path.join(BIN, "uwsgi"), "--ini", str(conf)]
    else:
        argv = SERVED[name](port)
    proc, log_path = _serve(argv, env, tmp_path)
    try:
        _check_serves("http://127.0.0.1:%d" % port, proc, log_path, name)
    finally:
        deploy._stop(proc)
    assert second.exists() and not first.exists()


KOLLA_SITE = """Listen 127.0.0.1:{port}
<VirtualHost *:{port}>
    WSGIDaemonProcess freezer-api processes=1 threads=1 {owner} \
display-name=%{{GROUP}} python-home={venv}
    WSGIProcessGroup freezer-api
    WSGIApplicationGroup %{{GLOBAL}}
    WSGIScriptAlias / {script}
    <Directory {script_dir}>
        Require all granted
    </Directory>
    ErrorLog {tmp}/logs/freezer-api.log
</VirtualHost>
"""


def test_kolla_mod_wsgi_script_in_site_packages():
    """kolla's wsgi-freezer-api.conf: mod_wsgi (daemon mode, as kolla
    runs it) serving ``<site-packages>/freezer_api/cmd/wsgi.py`` of a
    regular install (tools.testenv.installs.Apache's venv), which also holds
    ``<venv>/etc/freezer/freezer-paste.ini`` for openstack-ansible."""
    apache = deploy.apache_settings()
    venv = apache["APACHE_VENV"]
    for name in ("freezer-paste.ini", "uwsgi.conf",
                 "freezer-api.conf.sample"):
        assert os.path.isfile(os.path.join(venv, "etc", "freezer", name))
    site_packages = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    script = os.path.join(site_packages, "freezer_api", "cmd", "wsgi.py")
    assert os.path.isfile(script)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="freezer-kolla-"))
    try:
        tmp.chmod(0o755)
        (tmp / "logs").mkdir()
        (tmp / "data").mkdir()
        user = apache["APACHE_USER"]
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(tmp / "data", user)
        conf = tmp / "freezer.conf"
        conf.write_text(NOAUTH + "\n[database]\nconnection = sqlite:///%s\n"
                        % (tmp / "data" / "f.sqlite"))
        port = server_module.free_port()
        (tmp / "freezer-api-site.conf").write_text(KOLLA_SITE.format(
            port=port, venv=venv, script=script,
            script_dir=os.path.dirname(script), tmp=tmp,
            owner="user={0} group={0}".format(user) if as_root else ""))
        (tmp / "httpd.conf").write_text(deploy.APACHE_MAIN.format(
            tmp=tmp, modules=apache["APACHE_MODULES"],
            user_lines="User {0}\nGroup {0}\n".format(user)
            if as_root else ""))
        # mod_wsgi's daemons inherit httpd's environment (not SetEnv).
        env = dict(os.environ, FREEZER_API_CONFIG=str(conf))
        proc, log_path = _serve([apache["APACHE_BIN"], "-f",
                                 str(tmp / "httpd.conf"), "-DFOREGROUND"],
                                env, tmp)
        try:
            _check_serves("http://127.0.0.1:%d" % port, proc, log_path,
                          "apache (kolla)")
        finally:
            deploy._stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_pip_install_puts_upstreams_files_in_the_prefix(tmp_path):
    """openstack-ansible copies ``<venv>/etc/freezer/freezer-paste.ini``;
    devstack and kolla read ``etc/freezer`` and ``freezer_api/cmd/wsgi.py``.
    A plain ``pip install`` of the tree installs them."""
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--no-deps", "--ignore-installed", "--prefix",
                    str(prefix), ROOT],
                   check=True, capture_output=True, timeout=300,
                   cwd=str(tmp_path))
    for name in ("freezer-paste.ini", "uwsgi.conf", "policy.yaml.sample",
                 "freezer-api.conf.sample"):
        assert (prefix / "etc" / "freezer" / name).is_file(), name
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix)})
    assert os.path.isfile(os.path.join(purelib, "freezer_api", "cmd",
                                       "wsgi.py"))


# -- systemd -----------------------------------------------------------------
def test_systemd_unit_verifies(tmp_path):
    unit = pathlib.Path(ROOT, "etc", "systemd", "freezer-api.service")
    text = unit.read_text()
    for line in ("KillMode=mixed", "Restart=on-failure",
                 "ExecStart=/opt/freezer-api/venv/bin/freezer-api "
                 "--config-file /etc/freezer/freezer-api.conf"):
        assert "\n%s\n" % line in text, line
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (apt-get install systemd)"

    def verify(content):
        path = tmp_path / "freezer-api.service"
        path.write_text(content)
        return subprocess.run([analyze, "verify", str(path)],
                              capture_output=True, text=True, timeout=60)
    ours = verify(text.replace("/opt/freezer-api/venv/bin/freezer-api",
                               os.path.join(BIN, "freezer-api")))
    assert ours.returncode == 0 and not ours.stderr.strip(), ours.stderr
    # What verify reports, so that the check above can fail.
    broken = verify(text.replace("KillMode=mixed", "KillMode=sideways"))
    assert "KillMode" in broken.stderr or "kill mode" in broken.stderr


# -- devstack -----------------------------------------------------------------
DEVSTACK_STUBS = r"""
# The devstack functions the plugin calls, recording each call in
# $CALLS; iniset writes for real, run_process really starts the command.
record() { printf '%s\n' "$*" >>"$CALLS"; }
is_service_enabled() { [[ ,$ENABLED_SERVICES, == *,$1,* ]]; }
enable_service() { ENABLED_SERVICES+=,$1; }
echo_summary() { record echo_summary "$@"; }
die() { echo "die: $*" >&2; exit 1; }
setup_develop() { record setup_develop "$@"; }
pip_install() { record pip_install "$@"; }
database_connection_url() {
    record database_connection_url "$@"; echo "$FAKE_DATABASE_URL"; }
recreate_database() { record recreate_database "$@"; }
configure_keystone_authtoken_middleware() {
    record configure_keystone_authtoken_middleware "$@"
    local option
    for option in auth_type=password username=$2 password=secret \
            project_name=service user_domain_name=Default \
            project_domain_name=Default auth_url=$KEYSTONE_AUTH_URI \
            www_authenticate_uri=$KEYSTONE_AUTH_URI; do
        iniset "$1" keystone_authtoken "${option%%=*}" "${option#*=}"
    done
}
create_service_user() { record create_service_user "$@"; }
get_or_create_service() { record get_or_create_service "$@"; }
get_or_create_endpoint() { record get_or_create_endpoint "$@"; }
get_python_exec_prefix() { echo "$VENV_BIN"; }
iniset() {
    "$VENV_BIN/python" - "$@" <<'PY'
import configparser, sys
path, section, option, value = sys.argv[1:5]
parser = configparser.ConfigParser(interpolation=None, strict=False)
parser.optionxform = str
parser.read(path)
if section != "DEFAULT" and not parser.has_section(section):
    parser.add_section(section)
parser.set(section, option, value)
with open(path, "w") as out:
    parser.write(out)
PY
}
run_process() {
    record run_process "$@"
    setsid bash -c "exec $2" >"$WORK/$1.log" 2>&1 &
    echo $! >"$WORK/$1.pid"
}
stop_process() {
    record stop_process "$@"
    kill -TERM "$(cat "$WORK/$1.pid")"
}
wait_for_service() {
    "$VENV_BIN/python" - "$@" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + int(sys.argv[1])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[2], timeout=2)
        sys.exit(0)
    except OSError:
        time.sleep(0.3)
sys.exit(1)
PY
}
"""


def _running(pid):
    """Whether ``pid`` runs (a zombie nobody reaped does not)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_devstack_plugin(tmp_path):
    """devstack's plugin contract: bash -n, then settings and plugin.sh
    sourced for stack install, post-config and extra with devstack's
    functions stubbed (their calls recorded); the configuration it writes
    is real, db sync and db show run for real, and the uWSGI it starts
    serves the API until unstack."""
    for name in ("plugin.sh", "settings"):
        subprocess.run(["bash", "-n", os.path.join(ROOT, "devstack", name)],
                       check=True)
    port = server_module.free_port()
    (tmp_path / "stubs.sh").write_text(DEVSTACK_STUBS)
    conf_dir = tmp_path / "etc-freezer"
    env = dict(_env_without_config(tmp_path), **{
        "WORK": str(tmp_path), "CALLS": str(tmp_path / "calls"),
        "VENV_BIN": BIN, "PATH": BIN + os.pathsep + os.environ["PATH"],
        "VIRTUAL_ENV": sys.prefix, "DEST": str(tmp_path),
        "FREEZER_API_DIR": ROOT, "FREEZER_API_CONF_DIR": str(conf_dir),
        "FREEZER_API_PORT": str(port), "FREEZER_API_LISTEN": "127.0.0.1",
        "SERVICE_HOST": "127.0.0.1", "STACK_USER": "root"
        if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
        "ENABLE_DEBUG_LOG_LEVEL": "True", "REGION_NAME": "RegionOne",
        "FAKE_DATABASE_URL": "sqlite:///%s" % (tmp_path / "devstack.sqlite"),
        # A Keystone nobody answers on: only token-less requests are made.
        "KEYSTONE_AUTH_URI": "http://127.0.0.1:%d/identity" % (
            server_module.free_port()),
    })
    script = ('set -e\nsudo() { "$@"; }\nsource "$WORK/stubs.sh"\n'
              'source "$FREEZER_API_DIR/devstack/settings"\n'
              'for phase in %s; do\n'
              '    source "$FREEZER_API_DIR/devstack/plugin.sh" $phase\n'
              'done\n')

    def phases(*names):
        result = subprocess.run(
            ["bash", "-c", script % " ".join('"%s"' % n for n in names)],
            env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    pid_file = tmp_path / "freezer-api.pid"
    try:
        extra = phases("stack install", "stack post-config", "stack extra")
        base = "http://127.0.0.1:%d" % port
        assert requests.get(base + "/healthcheck").json() == {
            "status": "OK"}
        assert requests.get(base + "/").status_code == 300
        # Keystone is configured (auth_token): no token, no documents.
        assert requests.get(base + "/v2/pt/jobs").status_code == 401
        assert "driver: sqlalchemy" in extra.stdout  # db show
        # Both workers up before unstack: uWSGI stopped while a worker
        # still loads the application waits worker-reload-mercy (60 s).
        log = tmp_path / "freezer-api.log"
        deadline = time.monotonic() + 30
        while log.read_text(errors="replace").count(
                "WSGI app 0 (mountpoint='') ready") < 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        if pid_file.exists():
            phases("unstack", "clean")
    calls = (tmp_path / "calls").read_text()
    for call in ("setup_develop %s" % ROOT, "pip_install uwsgi",
                 "recreate_database freezer",
                 "configure_keystone_authtoken_middleware %s/freezer-api.conf"
                 " freezer" % conf_dir,
                 "create_service_user freezer admin",
                 "get_or_create_service freezer backup",
                 "get_or_create_endpoint backup RegionOne "
                 "http://127.0.0.1:%d" % port,
                 "run_process freezer-api", "stop_process freezer-api"):
        assert call in calls, (call, calls)
    conf = (conf_dir / "freezer-api.conf").read_text()
    assert "driver = sqlalchemy" in conf and "devstack.sqlite" in conf
    assert (tmp_path / "devstack.sqlite").exists()
    assert not (conf_dir / "uwsgi.conf").exists()  # clean
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not _running(pid):
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
        pytest.fail("uwsgi still runs after unstack")
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/healthcheck", timeout=2)


def test_devstack_database_url_becomes_utf8mb4(tmp_path):
    """devstack's MySQL URL asks for charset=utf8: the plugin asks for
    utf8mb4 (the schema's), once."""
    for given, wanted in (
            ("mysql+pymysql://r:p@h/freezer?charset=utf8",
             "mysql+pymysql://r:p@h/freezer?charset=utf8mb4"),
            ("mysql+pymysql://r:p@h/freezer?charset=utf8mb4",
             "mysql+pymysql://r:p@h/freezer?charset=utf8mb4"),
            ("postgresql://r:p@h/freezer", "postgresql://r:p@h/freezer")):
        result = subprocess.run(
            ["bash", "-c", 'database_connection_url() { echo "$URL"; }\n'
             'ENABLED_SERVICES=\nis_service_enabled() { false; }\n'
             'source "$1"\n_freezer_api_database_url', "bash",
             os.path.join(ROOT, "devstack", "plugin.sh")],
            env=dict(os.environ, URL=given), capture_output=True, text=True,
            check=True)
        assert result.stdout.strip() == wanted

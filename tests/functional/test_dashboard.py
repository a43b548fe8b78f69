"""The OpenStack dashboard against freezer-api, in a real browser.

Horizon 27.0.0 with freezer-web-ui 19.0.0 (tools.testenv.installs.Dashboard
installs them in a venv of their own, with the settings of
tools/dashboard/local_settings.py) runs as Django's server on loopback; it
logs users in with the test Keystone and finds freezer-api, the real server
behind keystonemiddleware, in the Keystone catalog (service type
``backup``, the catalog's port). Debian's headless Chromium, driven by
selenium through chromium-driver, does what an operator does: log in, open
every panel and detail page, create an action, a job (the Create Job
dialog) and a session, start the job, search, delete. Each step checks
what the page shows and what freezer-api stored; at the end every call the
dashboard made must have had a 2xx/3xx answer.

On failure the screenshot and HTML of the page, and the logs of both
servers, are kept in ``$FREEZER_TEST_ARTIFACTS/dashboard/`` (default
``<repo>/.data/artifacts/dashboard/``); the failure message names them.
"""

import os
import pathlib
import re
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from selenium import webdriver
from selenium.common import exceptions as se_exc
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.functional import agents_support as agents
from tests.functional import keystone_support as ks
from tests.functional import server as server_module
from tests.functional.keystone_support import keystone  # noqa: F401
from tools.testenv import base as testenv
from tools.testenv import installs


REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = pathlib.Path(os.environ.get("FREEZER_TEST_ARTIFACTS") or
                         REPO / ".data" / "artifacts") / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 30  # seconds for a page or a dialog
# An access line of freezer-api's log: method, path, status, user agent.
ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) HTTP/[\d.]+" '
                    r'(\d{3}) \S+ "[^"]*" "([^"]*)"')
# The user agent of the test's own calls (the dashboard's are
# python-freezerclient's).
CHECKER = "freezer-api-dashboard-test"


def _ensure_dashboard():
    """The dashboard venv and its state directory (the static files),
    installed now if missing, as ``make test`` did before the run."""
    installation = installs.Dashboard()
    try:
        return (pathlib.Path(installation.start()),
                pathlib.Path(installation.home))
    except testenv.ServiceError as exc:
        pytest.fail("installing the dashboard failed: %s" % exc)


class Dashboard:
    """Horizon under Django's server, on a free loopback port, in an
    environment of its own: no OS_* variables (python-freezerclient would
    prefer them to the user's token)."""

    def __init__(self, installed, keystone_url, directory):
        (self.venv, state), self.directory = installed, directory
        self.port = server_module.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = directory / "dashboard.log"
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(directory),
                    "LANG": "C.UTF-8",
                    "DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings",
                    "DASHBOARD_STATE_DIR": str(state),
                    "DASHBOARD_KEYSTONE_URL": keystone_url}
        assert not any(k.startswith("OS_") for k in self.env)
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.venv / "bin" / "django-admin"), "runserver",
                 "--insecure", "--noreload", "127.0.0.1:%d" % self.port],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.directory)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("the dashboard exited: %s" % self.log_tail())
            try:
                if requests.get(self.url + "/auth/login/", timeout=5).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        pytest.fail("the dashboard did not answer: %s" % self.log_tail())

    def log_tail(self, size=4000):
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    # Both paths given: selenium's own driver manager never goes online.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Operator:
    """What a person does in the dashboard, one page at a time."""

    def __init__(self, driver, base_url):
        self.driver, self.base_url = driver, base_url
        self.wait = WebDriverWait(driver, WAIT)

    def open(self, path):
        self.driver.get(self.base_url + path)
        self.wait.until(lambda d: d.execute_script(
            "return document.readyState") == "complete")
        self.no_error()

    def find(self, css, root=None):
        return (root or self.driver).find_element(By.CSS_SELECTOR, css)

    def visible(self, css):
        return self.wait.until(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, css)))

    def text(self, css="body"):
        return self.find(css).text

    def no_error(self):
        """No error message on the page (Horizon shows what went wrong
        with freezer-api as a red alert and carries on)."""
        alerts = [a.text for a in self.driver.find_elements(
            By.CSS_SELECTOR, ".alert-danger, .alert-error")
            if a.text.strip()]
        assert not alerts, "the dashboard says: %s" % alerts
        assert "Error" not in self.driver.title, self.driver.title

    def success(self, message):
        """Horizon's green message after an action."""
        alert = self.visible(".alert-success")
        assert message in alert.text, alert.text
        self.no_error()

    def login(self, user, next_path):
        self.open("/auth/login/?next=" + next_path)
        self.find("#id_username").send_keys(user.name)
        self.find("#id_password").send_keys(user.password)
        self.find("button[type=submit]").click()
        self.wait.until(lambda d: next_path in d.current_url)
        self.no_error()

    def dialog(self, panel, trigger_css, values):
        """Open ``panel``, click its button opening an ajax-modal dialog,
        fill the dialog's first tab with ``values``; the dialog."""
        self.open("/project/%s/" % panel)
        self.find(trigger_css).click()
        # Horizon shows a "Loading" modal first, then the dialog in
        # #modal_wrapper.
        dialog = self.visible("#modal_wrapper .modal form")
        self.fill(dialog, values)
        return dialog

    def fill(self, root, values):
        for field, value in values.items():
            element = self.find("#id_" + field, root)
            if element.tag_name == "select":
                self.driver.execute_script(
                    "arguments[0].value = arguments[1];"
                    "arguments[0].dispatchEvent(new Event('change',"
                    " {bubbles: true}));", element, value)
                assert element.get_attribute("value") == value, field
            else:
                element.clear()
                element.send_keys(value)

    def tab(self, root, name):
        """Go to the tab called ``name`` of a workflow dialog."""
        link = root.find_element(By.XPATH,
                                 ".//ul[contains(@class,'nav')]//a[normalize"
                                 "-space()='%s']" % name)
        link.click()
        return link

    def add_member(self, root, step, member_id):
        """Horizon's membership widget: press + next to ``member_id``."""
        member = "li[data-%s-id$='%s']" % (step, member_id)
        self.find(member + " ~ li a[href='#add_remove']", root).click()
        self.wait.until(lambda d: self.find(member, root).find_elements(
            By.XPATH, "ancestor::*[contains(@class, '%s_members')]" % step))

    def new_page(self, do):
        """``do()``, then wait until the browser has loaded a new page."""
        self.driver.execute_script("window.freezerOldPage = true;")
        do()
        self.wait.until(lambda d: d.execute_script(
            "return !window.freezerOldPage && "
            "document.readyState === 'complete'"))

    def submit(self, root):
        """Submit a dialog: Horizon posts it, then loads the next page."""
        self.new_page(self.find(
            "input[type=submit], button[type=submit].btn-primary",
            root).click)

    def rows(self, table):
        """The text of each row of a table (no row: ``[]``)."""
        return [row.text for row in self.driver.find_elements(
            By.CSS_SELECTOR, "table#%s tbody tr:not(.empty)" % table)]

    def row(self, table, text):
        for element in self.driver.find_elements(
                By.CSS_SELECTOR, "table#%s tbody tr" % table):
            if text in element.text:
                return element
        raise AssertionError("no row with %r in table %s: %s" % (
            text, table, self.rows(table)))

    def row_action(self, table, text, name):
        """A row's action from its drop-down (or its main button)."""
        row = self.row(table, text)
        buttons = row.find_elements(
            By.CSS_SELECTOR, "[id$='__action_%s']" % name)
        assert buttons, "no action %s on the row %r" % (name, text)
        if not buttons[0].is_displayed():
            self.find(".dropdown-toggle", row).click()
        buttons[0].click()

    def confirm(self):
        """Horizon's confirmation dialog of a delete."""
        button = self.visible(".modal.in .btn-danger, .modal.show "
                              ".btn-danger, .modal.in .btn-primary")
        self.new_page(button.click)

    def search(self, table, text):
        box = self.find("input[name='%s__filter__q']" % table)
        box.clear()
        box.send_keys(text)
        self.new_page(self.find("button#%s__action_filter" % table).click)
        self.no_error()


class Api:
    """freezer-api v2 as alice (what the dashboard stored)."""

    def __init__(self, base_url, keystone, user):  # noqa: F811
        self.keystone, self.user = keystone, user
        self.prefix = "%s/v2/%s" % (base_url,
                                    keystone.user(user).project_id)

    def call(self, method, path, body=None):
        return requests.request(
            method, self.prefix + path, json=body, timeout=30,
            headers={"X-Auth-Token": self.keystone.token(self.user),
                     "User-Agent": CHECKER})

    def get(self, path):
        answer = self.call("GET", path)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    def status(self, path):
        return self.call("GET", path).status_code

    def post(self, path, body):
        answer = self.call("POST", path, body)
        assert answer.status_code == 201, (path, answer.text)
        return answer.json()


@pytest.fixture(scope="module")
def dashboard_install():
    return _ensure_dashboard()


def test_the_dashboard_works_against_freezer_api(
        keystone, dashboard_install, tmp_path):  # noqa: F811
    (tmp_path / "server").mkdir()
    # The catalog names one port: wait for any other test using it.
    with agents.exclusive_port(ks.catalog_port()) as port:
        server = ks.start_server(tmp_path / "server", keystone, port=port)
        dashboard = Dashboard(dashboard_install, keystone.url, tmp_path)
        driver = None
        try:
            dashboard.start()
            driver = _browser()
            operator = Operator(driver, dashboard.url)
            api = Api(server.base_url, keystone, "alice")
            try:
                _operate(operator, api, keystone)
                _every_call_succeeded(server, dashboard)
            except BaseException:
                _keep_artefacts(driver, server, dashboard)
                raise
        finally:
            if driver is not None:
                driver.quit()
            dashboard.stop()
            server.stop()


def _keep_artefacts(driver, server, dashboard):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        driver.save_screenshot(str(ARTIFACTS / ("%s-page.png" % stamp)))
        (ARTIFACTS / ("%s-page.html" % stamp)).write_text(
            driver.page_source)
    except se_exc.WebDriverException:
        pass
    for log in (server.log_path, dashboard.log_path):
        if log.exists():
            shutil.copy(log, ARTIFACTS / ("%s-%s" % (stamp, log.name)))
    print("dashboard test artefacts (screenshot, page, logs): %s/%s-*"
          % (ARTIFACTS, stamp))


def _every_call_succeeded(server, dashboard):
    calls = [m.groups()[:3] for m in ACCESS.finditer(server.log_tail(10**7))
             if m.group(4) != CHECKER]
    assert len(calls) > 20, server.log_tail()
    failed = [c for c in calls if int(c[2]) >= 400]
    assert not failed, "freezer-api answered errors: %s" % failed
    log = dashboard.log_tail(10**7)
    assert "Traceback" not in log, log[-6000:]
    pages = re.findall(r'"(?:GET|POST) (\S+) HTTP/[\d.]+" (\d{3}) ', log)
    assert len(pages) > 20, log[-3000:]
    assert not [p for p in pages if p[1] >= "500"], pages


def _operate(operator, api, keystone):  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    alice = keystone.user("alice")
    host = "dash-%s" % tag
    # What a freezer-scheduler of 2024 registers (no supported_* lists),
    # and a backup the agent made.
    client_id = api.post("/clients", {"client_id": "%s_%s" % (
        alice.project_id, host), "hostname": host})["client_id"]
    client = api.get("/clients/" + client_id)
    backup_id = api.post("/backups", {
        "container": "/tmp/dash-%s" % tag, "hostname": host,
        "backup_name": "etc-%s" % tag, "time_stamp": int(time.time()),
        "level": 0, "mode": "fs", "storage": "local",
        "path_to_backup": "/etc", "curr_backup_level": 0})["backup_id"]

    operator.login(alice, "/project/freezer-jobs/")
    assert operator.find("h1").text.strip() == "Jobs"
    assert alice.name in operator.text(".navbar")
    assert operator.rows("jobs") == []

    _clients(operator, api, client, host)
    _backups(operator, backup_id, host, tag)
    action_id = _create_action(operator, api, tag)
    job_id = _create_job(operator, api, client, action_id, tag)
    _start_job(operator, api, job_id, tag)
    session_id = _create_session(operator, api, job_id, tag)
    _delete_everything(operator, api, session_id, job_id, action_id,
                       client_id, backup_id, tag)


def _clients(operator, api, client, host):
    operator.open("/project/freezer-clients/")
    assert host in operator.row("clients", host).text
    operator.search("clients", host)
    assert [r for r in operator.rows("clients") if host in r]
    operator.search("clients", "no-such-%s" % host)
    assert operator.rows("clients") == []
    assert "No items to display" in operator.text("table#clients")
    # Horizon keeps a table's filter in the session: clear it.
    operator.search("clients", "")
    assert host in operator.row("clients", host).text
    operator.open("/project/freezer-clients/%s" % client["client_id"])
    page = operator.text("#content_body, .detail, body")
    assert client["client"]["uuid"] in page
    # The lists freezer-api filled in for a client registered without
    # them (upstream 19 does the same): shown, not "None".
    for capability in ("tar", "rsync", "swift", "mysql", "restore"):
        assert capability in page.split(), (capability, page)
    assert "None" not in page.split()


def _backups(operator, backup_id, host, tag):
    operator.open("/project/freezer-backups/")
    row = operator.row("backups", "etc-%s" % tag)
    assert host in row.text
    operator.search("backups", "etc-%s" % tag)
    assert len(operator.rows("backups")) == 1
    operator.open("/project/freezer-backups/%s" % backup_id)
    page = operator.text()
    assert "etc-%s" % tag in page and "/tmp/dash-%s" % tag in page


def _create_action(operator, api, tag):
    name = "etc backup %s" % tag
    dialog = operator.dialog(
        "freezer-actions", "#actions_table__action_create_action",
        {"backup_name": name, "action": "backup", "mode": "fs",
         "storage": "local", "engine_name": "tar", "path_to_backup": "/etc",
         "container": "/tmp/dash-%s" % tag})
    operator.submit(dialog)
    operator.no_error()
    # The dashboard replaces spaces of the name (the agent needs that).
    stored_name = name.replace(" ", "_")
    row = operator.row("actions_table", stored_name)
    assert "/etc" in row.text and "local" in row.text
    [action] = [a for a in api.get("/actions/")["actions"]
                if a["freezer_action"].get("backup_name") == stored_name]
    assert action["freezer_action"]["engine_name"] == "tar"
    assert action["freezer_action"]["path_to_backup"] == "/etc"
    operator.search("actions_table", stored_name)
    assert len(operator.rows("actions_table")) == 1
    operator.open("/project/freezer-actions/action/%s"
                  % action["action_id"])
    assert stored_name in operator.text()
    return action["action_id"]


def _create_job(operator, api, client, action_id, tag):
    description = "nightly %s" % tag
    dialog = operator.dialog("freezer-jobs", "#jobs__action_create", {
        "description": description, "interval_uint": "days",
        "interval_value": "1"})
    operator.tab(dialog, "Clients")
    operator.add_member(dialog, "selected_clients", client["client"]["uuid"])
    operator.tab(dialog, "Actions")
    item = operator.find("#actions_available li[id='%s']" % action_id,
                         dialog)
    assert item.is_displayed(), "the action is hidden as incompatible"
    # What dragging it does: the item moves to the ordered list.
    operator.driver.execute_script(
        "$('#actions_selected').append(arguments[0]);", item)
    operator.submit(dialog)
    operator.success("Job queued correctly")
    row = operator.row("jobs", description)
    assert client["client"]["hostname"] in row.text
    [job] = [j for j in api.get("/jobs/")["jobs"]
             if j["description"] == description]
    assert job["client_id"] == client["client_id"]
    assert job["job_schedule"]["schedule_interval"] == "1 days"
    # The chosen action is referred to, not copied under a new id.
    assert [a["action_id"] for a in job["job_actions"]] == [action_id]
    assert [a["action_id"] for a in api.get("/actions/")["actions"]] \
        == [action_id]
    assert "engine" not in job["job_actions"][0]["freezer_action"]
    # The dashboard stops a job it created.
    assert job["job_schedule"].get("event") == "stop"
    operator.open("/project/freezer-jobs/%s" % job["job_id"])
    page = operator.text("#overview")
    assert job["job_id"] in page and client["client_id"] in page
    assert "1 days" in page
    operator.find("a[href='#job_actions']").click()
    page = operator.visible("#job_actions").text
    assert "(ID: %s)" % action_id in page
    assert "etc_backup_%s" % tag in page and "/etc" in page
    return job["job_id"]


def _start_job(operator, api, job_id, tag):
    operator.open("/project/freezer-jobs/")
    operator.row_action("jobs", "nightly %s" % tag, "start_job")
    operator.success("Job has started")
    assert api.get("/jobs/" + job_id)["job_schedule"]["event"] == "start"
    # The list shows the scheduler's status (none yet, which freezer-web-ui
    # shows as "stop"); the detail page shows the event.
    operator.open("/project/freezer-jobs/%s" % job_id)
    assert "Event Status\nStart" in operator.text("#overview")


def _create_session(operator, api, job_id, tag):
    description = "weekly %s" % tag
    dialog = operator.dialog(
        "freezer-sessions", "#sessions__action_create_session", {
            "description": description, "interval_unit": "weeks",
            "interval_value": "1"})
    operator.tab(dialog, "Jobs")
    operator.add_member(dialog, "selected_jobs", job_id)
    operator.submit(dialog)
    operator.no_error()
    operator.row("sessions", description)
    [session] = [s for s in api.get("/sessions/")["sessions"]
                 if s["description"] == description]
    assert session["schedule"]["schedule_interval"] == "1 weeks"
    assert list(session["jobs"]) == [job_id]
    assert api.get("/jobs/" + job_id)["session_id"] == session["session_id"]
    operator.open("/project/freezer-sessions/%s" % session["session_id"])
    page = operator.text("#overview")
    assert session["session_id"] in page and "1 weeks" in page
    operator.find("a[href='#associated_jobs']").click()
    assert job_id in operator.visible("#associated_jobs").text
    return session["session_id"]


def _delete_everything(operator, api, session_id, job_id, action_id,
                       client_id, backup_id, tag):
    for panel, table, text, path in (
            ("freezer-sessions", "sessions", "weekly %s" % tag,
             "/sessions/" + session_id),
            ("freezer-jobs", "jobs", "nightly %s" % tag, "/jobs/" + job_id),
            ("freezer-actions", "actions_table", "etc_backup_%s" % tag,
             "/actions/" + action_id),
            ("freezer-backups", "backups", "etc-%s" % tag,
             "/backups/" + backup_id),
            ("freezer-clients", "clients", client_id,
             "/clients/" + client_id)):
        operator.open("/project/%s/" % panel)
        operator.row_action(table, text, "delete")
        operator.confirm()
        operator.no_error()
        assert api.status(path) == 404, path
        assert not [r for r in operator.rows(table) if text in r]

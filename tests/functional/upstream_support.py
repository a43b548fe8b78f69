"""Upstream freezer-api 18.0.0 and 19.0.0, from PyPI in venvs of their own
(``benchmarks.upstream``: tools.testenv.installs.Upstream), on a real
database, seeded through their own HTTP API; what they answered for every
document is kept to compare with what this service answers after an import."""

import copy
import dataclasses
import datetime
import os
import shutil
import uuid

import requests
import sqlalchemy as sa

from benchmarks import upstream

# Identities: two users of one project, one of another.
ALICE = ("u-alice", "p-one")
AMY = ("u-amy", "p-one")
BOB = ("u-bob", "p-two")


def install(version):
    """Install upstream ``version`` (once); AssertionError if it fails."""
    problem = upstream.install(version)
    assert problem is None, problem


@dataclasses.dataclass
class Seeded:
    """An upstream store and what upstream answered for its documents."""

    version: str
    url: str
    # (kind, id, prefix "/v1" or "/v2/<project>", (user, project),
    #  upstream's GET answer) of every live document
    answers: list = dataclasses.field(default_factory=list)
    # (kind, id, prefix, (user, project)) of every deleted document
    deleted: list = dataclasses.field(default_factory=list)
    # (prefix, (user, project), kind, sorted ids): upstream's lists
    lists: list = dataclasses.field(default_factory=list)
    # (kind, id, whos): documents upstream holds of which only one can be
    # imported (the others are refused)
    refused: list = dataclasses.field(default_factory=list)


class Peer:
    """One running upstream server and the calls of one identity."""

    def __init__(self, server, v1):
        self.server, self.v1 = server, v1

    def prefix(self, who):
        return "/v1" if self.v1 else "/v2/" + who[1]

    def call(self, who, method, path, body=None, expect=(200, 201, 204)):
        answer = requests.request(
            method, "http://127.0.0.1:%d%s%s" % (
                self.server.port, self.prefix(who), path),
            json=body, timeout=30,
            headers={"X-User-ID": who[0], "X-Project-ID": who[1],
                     "X-Tenant-ID": who[1],
                     "X-User-Name": who[0][2:].title(),
                     "X-Roles": "member,reader"})
        assert answer.status_code in expect, (method, path, body,
                                              answer.status_code,
                                              answer.text[:500])
        return answer.json() if answer.content else None


ID_FIELDS = {"clients": "client_id", "actions": "action_id",
             "jobs": "job_id", "sessions": "session_id",
             "backups": "backup_id"}


def _reference(action):
    """A job's entry naming the stored ``action`` by its id (without the
    null keys upstream's SQL store adds, which its schema refuses)."""
    entry = {key: action[key] for key in (
        "action_id", "max_retries", "max_retries_interval")}
    entry["freezer_action"] = {key: value for key, value in
                               action["freezer_action"].items()
                               if value is not None}
    return entry


def _seed_tenant(peer, who, seeded, tag, v19):
    """Varied documents of one identity on one API version."""
    made = []

    def create(kind, body):
        doc_id = peer.call(who, "POST", "/" + kind, body)[ID_FIELDS[kind]]
        made.append((kind, doc_id))
        if kind == "jobs":
            # Each embedded action became an action of its own, which
            # outlives the job.
            for entry in peer.call(who, "GET", "/jobs/" + doc_id)[
                    "job_actions"]:
                if ("actions", entry["action_id"]) not in made:
                    made.append(("actions", entry["action_id"]))
        return doc_id

    def delete(kind, doc_id):
        peer.call(who, "DELETE", "/%s/%s" % (kind, doc_id))
        made[:] = [item for item in made if item != (kind, doc_id)]
        seeded.deleted.append((kind, doc_id, peer.prefix(who), who))

    host = "%s_%s-%s" % (who[1], who[0], tag)
    create("clients", {"client_id": host, "hostname": host + ".example.org",
                       "description": "nœud ❄️ 🧊 %s" % tag,
                       "supported_actions": ["backup", "restore", "exec"],
                       "os": "linux"})
    gone = create("clients", {"client_id": host + "-old",
                              "hostname": "old.example.org"})
    delete("clients", gone)
    action = create("actions", {
        "freezer_action": {"action": "backup", "mode": "fs",
                           "path_to_backup": "/srv/données",
                           "backup_name": "srv-" + tag, "container": "c",
                           "storage": "local",
                           "nested": {"level": [1, {"deep": "ünï"}]}},
        "max_retries": 3, "max_retries_interval": 7})
    gone = create("actions", {"freezer_action": {"action": "info"}})
    delete("actions", gone)
    # A job naming stored actions by id, one of them deleted afterwards
    # (19.0.0 then leaves it out of the job; 18.0.0 keeps its copy).
    doomed = create("actions", {"freezer_action": {
        "action": "exec", "command": "echo doomed"}})
    create("jobs", {"client_id": host, "description": "by reference",
                    "job_schedule": {"schedule_interval": "1 days"},
                    "job_actions": [_reference(peer.call(
                        who, "GET", "/actions/" + doc_id))
                        for doc_id in (action, doomed)]})
    delete("actions", doomed)
    job_body = {
        "client_id": host, "description": "sauvegarde 🧊 " + tag,
        "job_schedule": {"schedule_interval": "2 hours",
                         "schedule_start_date": "2026-01-01T00:00:00"},
        "job_actions": [
            {"freezer_action": {"action": "backup", "mode": "fs",
                                "path_to_backup": "/etc",
                                "backup_name": "etc", "container": "c2",
                                "storage": "local"},
             "max_retries": 2, "mandatory": True},
            {"freezer_action": {"action": "exec", "command": "/bin/true"},
             "max_retries_interval": 9}]}
    job = create("jobs", job_body)
    patched = create("jobs", dict(job_body, description="to be patched"))
    peer.call(who, "PATCH", "/jobs/" + patched,
              {"description": "patched ✓"})
    gone = create("jobs", dict(job_body, description="deleted"))
    delete("jobs", gone)
    session = create("sessions", {"description": "nightly ☾ " + tag,
                                  "hold_off": 5,
                                  "schedule": {"schedule_interval":
                                               "1 days"}})
    peer.call(who, "PUT", "/sessions/%s/jobs/%s" % (session, job))
    # (18.0.0's v1 on SQL cannot start a session: it stored no project,
    # and the start re-validates the whole session, 400.)
    peer.call(who, "POST", "/sessions/%s/action" % session,
              {"start": {"job_id": job, "current_tag": 0}},
              expect=(400,) if peer.v1 else (202,))
    create("sessions", {"description": "empty", "schedule": {}})
    gone = create("sessions", {"description": "deleted", "schedule": {}})
    delete("sessions", gone)
    backup = {"container": "c", "hostname": host, "backup_name": "srv",
              "time_stamp": 1_700_000_000, "level": 1,
              "job_id": job, "client_id": host,
              "metadata": {"fichiers": ["é.txt", "😀.bin"],
                           "sizes": {"total": 12345, "parts": [1, 2.5]}}}
    create("backups", backup)
    if v19:
        create("backups", {"backup_name": "pending", "container": None,
                           "status": "creating"})
    gone = create("backups", dict(backup, backup_name="deleted"))
    delete("backups", gone)
    for kind, doc_id in made:
        seeded.answers.append((kind, doc_id, peer.prefix(who), who,
                               peer.call(who, "GET", "/%s/%s" % (
                                   kind, doc_id))))


def _add_credentials(peer, seeded):
    """19.0.0: a Keystone trust of one job (``user_credentials``). Making
    one needs a trust in Keystone, so the row is written in the database,
    as 19.0.0 writes it, and upstream is asked for the job again."""
    index = next(i for i, entry in enumerate(seeded.answers)
                 if entry[0] == "jobs")
    kind, job_id, prefix, who, _answer = seeded.answers[index]
    engine = sa.create_engine(seeded.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO user_credentials (id, trust_id, "
                "trustor_user_id, job_id, created_at, deleted) VALUES "
                "(:id, :trust, :user, :job, :now, :deleted)"),
                {"id": uuid.uuid4().hex, "trust": "trust-" + job_id[:8],
                 "user": who[0], "job": job_id,
                 "now": datetime.datetime(2026, 1, 1), "deleted": False})
    finally:
        engine.dispose()
    answer = peer.call(who, "GET", "/jobs/" + job_id)
    assert answer["user_credentials"]["trustor_user_id"] == who[0], answer
    seeded.answers[index] = (kind, job_id, prefix, who, answer)


def seed(version, url, directory):
    """Start upstream ``version`` on ``url`` (18.0.0: a v1 and a v2
    server on the one database), seed it, stop it; the ``Seeded``."""
    install(version)
    v19 = version != "18.0.0"
    seeded = Seeded(version, url)
    peers = [Peer(upstream.server(version, directory, url, v1=v1,
                                  workers=1).start(ready_path=path), v1)
             for v1, path in ([(False, "/v2/")] if v19 else
                              [(True, "/v1/"), (False, "/v2/")])]
    try:
        for peer in peers:
            tag = "v1" if peer.v1 else "v2"
            for who in (ALICE, AMY, BOB):
                _seed_tenant(peer, who, seeded, tag, v19)
        v2 = peers[-1]
        if not v19:
            # 18.0.0 v2 keeps clients per user: amy registers alice's
            # client_id too. Ids are unique per project here: one of the
            # two is refused.
            shared = "p-one_shared-node"
            for who in (ALICE, AMY):
                v2.call(who, "POST", "/clients", {
                    "client_id": shared, "hostname": who[0] + ".host"})
                seeded.answers.append((
                    "clients", shared, v2.prefix(who), who,
                    v2.call(who, "GET", "/clients/" + shared)))
            seeded.refused.append(("clients", shared, (ALICE, AMY)))
        else:
            _add_credentials(v2, seeded)
        for peer in peers:
            record_lists(peer, seeded)
    finally:
        for peer in peers:
            peer.server.stop()
    return seeded


def list_ids(kind, answer):
    """The ids of a list answer."""
    return sorted(item["client"]["client_id"] if kind == "clients"
                  else item[ID_FIELDS[kind]] for item in answer[kind])


def record_lists(peer, seeded):
    """What each identity's lists of each kind hold on ``peer``."""
    for who in (ALICE, AMY, BOB):
        for kind in ID_FIELDS:
            seeded.lists.append((peer.prefix(who), who, kind, list_ids(
                kind, peer.call(who, "GET", "/%s?limit=1000" % kind))))


def upgrade(seeded, directory):
    """A copy of the 18.0.0 SQLite store ``seeded``, upgraded by 19.0.0's
    ``db sync`` as an operator upgrades, and what 19.0.0 answers for its
    documents: v2 ones are asked again; v1 ones (no project) 19.0.0 no
    longer shows (their answer is None)."""
    install("19.0.0")
    source = seeded.url[len("sqlite:///"):]
    target = os.path.join(directory, "upgraded.sqlite")
    shutil.copyfile(source, target)
    upgraded = Seeded("18.0.0 upgraded to 19.0.0", "sqlite:///" + target,
                      refused=seeded.refused)
    server = upstream.server("19.0.0", directory, upgraded.url, workers=1)
    peer = Peer(server.start(ready_path="/v2/"), v1=False)
    skip = {(kind, doc_id) for kind, doc_id, _whos in seeded.refused}
    try:
        for kind, doc_id, prefix, who, answer in seeded.answers:
            if (kind, doc_id) in skip:
                # Two clients of one id in one project: 19.0.0 cannot tell
                # which one a GET means. Its answer for the row: 18.0.0's
                # and the new column.
                answer = copy.deepcopy(answer)
                answer["client"]["is_central"] = False
            elif prefix == "/v1":
                answer = None
            else:
                answer = peer.call(who, "GET", "/%s/%s" % (kind, doc_id))
            upgraded.answers.append((kind, doc_id, prefix, who, answer))
        record_lists(peer, upgraded)
    finally:
        server.stop()
    upgraded.deleted = list(seeded.deleted)
    return upgraded


def upstream_dir(tmp_path_factory, version):
    return str(tmp_path_factory.mktemp("upstream-" + version))


def connection_url(url):
    """Our test URL as upstream's venv reads it (psycopg2 there)."""
    return url.replace("postgresql+psycopg://", "postgresql+psycopg2://")

"""Policy rules, one module-level list per resource, keeping upstream's
rule names so existing policy files still apply. ``list_rules`` is the
``oslo.policy.policies`` entry point."""

import itertools

from oslo_policy import policy

READER = "role:reader or role:member or role:admin"
MEMBER = "role:member or role:admin"
ADMIN = "role:admin"

BASE = [
    policy.RuleDefault("context_is_admin", ADMIN,
                       description="Administrators."),
    policy.RuleDefault("project_reader", READER,
                       description="May read the documents of its scope."),
    policy.RuleDefault("project_member", MEMBER,
                       description="May write the documents of its scope."),
    policy.RuleDefault("admin_or_service", "role:admin or role:service",
                       description="Administrators and service users."),
    # Upstream's base rules, which operators' policy files may name (a
    # rule naming a missing one would deny without an error).
    policy.RuleDefault("admin_or_owner",
                       "is_admin:True or project_id:%(project_id)s",
                       description="Administrators, and callers acting in "
                                   "their own project."),
    policy.RuleDefault("admin_or_owner_or_service",
                       "rule:admin_or_owner or role:service",
                       description="admin_or_owner, and service users."),
    policy.RuleDefault("admin_or_reader_or_service",
                       "rule:admin_or_owner or rule:project_reader or "
                       "role:service",
                       description="admin_or_owner, readers, and service "
                                   "users (upstream's read rule)."),
]

_V1 = "/v1"
_V2 = "/v2/{project_id}"


def _ops(method, path):
    return [{"method": method, "path": _V1 + path},
            {"method": method, "path": _V2 + path}]


def _rule(name, check, description, method, path):
    return policy.DocumentedRuleDefault(
        name=name, check_str=check, description=description,
        operations=_ops(method, path))


def _crud(resource, id_name, editable):
    one = "/%s/{%s}" % (resource, id_name)
    rules = [
        _rule(resource + ":get_all", "rule:project_reader",
              "List %s." % resource, "GET", "/" + resource),
        _rule(resource + ":create", "rule:project_member",
              "Create a document in %s." % resource, "POST", "/" + resource),
        _rule(resource + ":get", "rule:project_reader",
              "Show one of %s." % resource, "GET", one),
        _rule(resource + ":delete", "rule:project_member",
              "Delete one of %s." % resource, "DELETE", one),
    ]
    if editable:
        rules += [
            _rule(resource + ":update", "rule:project_member",
                  "Update (PATCH) one of %s." % resource, "PATCH", one),
            _rule(resource + ":replace", "rule:project_member",
                  "Create or replace one of %s by id." % resource,
                  "POST", one),
        ]
    return rules


RULES = {
    "backups": _crud("backups", "backup_id", False) + [
        _rule("backups:update", "rule:project_member",
              "Set the status of one of backups and merge into its "
              "metadata (PATCH).", "PATCH", "/backups/{backup_id}")],
    "clients": _crud("clients", "client_id", False) + [
        _rule("clients:create_central", "rule:admin_or_service",
              "Register a central (multi-project) client.", "POST",
              "/clients")],
    "jobs": _crud("jobs", "job_id", True) + [
        _rule("jobs:event:create", "rule:project_member",
              "Send start, stop or abort to a job.", "POST",
              "/jobs/{job_id}/event"),
        _rule("jobs:get_all_projects", "rule:admin_or_service",
              "List the jobs of every project (all_projects=true).", "GET",
              "/jobs"),
        _rule("jobs:get_credentials", "rule:admin_or_service",
              "See the Keystone trust (user_credentials) of jobs the "
              "caller did not delegate: a central scheduler acts through "
              "it. A job's trustor always sees its own.", "GET",
              "/jobs/{job_id}")],
    "actions": _crud("actions", "action_id", True),
    "sessions": _crud("sessions", "session_id", True) + [
        _rule("sessions:action:create", "rule:project_member",
              "Start or end a job's run in a session.", "POST",
              "/sessions/{session_id}/action"),
        _rule("sessions:job:add", "rule:project_member",
              "Add a job to a session.", "PUT",
              "/sessions/{session_id}/jobs/{job_id}"),
        _rule("sessions:job:remove", "rule:project_member",
              "Remove a job from a session.", "DELETE",
              "/sessions/{session_id}/jobs/{job_id}")],
}


def list_rules():
    return list(itertools.chain(BASE, *RULES.values()))

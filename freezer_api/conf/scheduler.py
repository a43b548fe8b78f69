"""[centralized_scheduler]: Keystone trusts for central schedulers
(freezer-api 19's options, with its defaults)."""

from oslo_config import cfg

GROUP = "centralized_scheduler"
OPTS = [
    cfg.BoolOpt(
        "enabled", default=True,
        help="Create a Keystone trust for every job of a central client "
             "(one registered with is_central: a freezer-scheduler with "
             "centralized_scheduler = true that runs the jobs of many "
             "projects). The trust delegates the job owner's roles "
             "(trusts_delegated_roles) in the job's project to the "
             "service user of auth_section, and is stored in the job as "
             "user_credentials {trust_id, trustor_user_id}: the central "
             "scheduler acts for the owner through it. False: no trust is "
             "ever created. Needs auth_strategy = keystone."),
    cfg.BoolOpt(
        "enforce_trusts", default=False,
        help="Create a trust for every job, whatever its client."),
    cfg.StrOpt(
        "auth_section", default="keystone_authtoken",
        help="Config section with the keystoneauth options (auth_type, "
             "auth_url, username, ...) of the trustee: the service user "
             "the central scheduler authenticates as. The default is "
             "auth_token's own service user."),
    cfg.ListOpt(
        "trusts_delegated_roles", default=["member"],
        help="The roles a trust delegates; the job's owner must have "
             "them in the job's project. Empty: every role of the owner's "
             "token."),
    cfg.StrOpt(
        "service_user", deprecated_for_removal=True,
        deprecated_reason="The trustee is the user of auth_section.",
        help="Ignored (freezer-api 19 deprecated it too): the trustee is "
             "the user of auth_section."),
    cfg.StrOpt(
        "service_user_domain", default="default",
        deprecated_for_removal=True,
        deprecated_reason="The trustee is the user of auth_section.",
        help="Ignored, like service_user."),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

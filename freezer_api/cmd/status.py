"""``freezer-status upgrade check`` (oslo.upgradecheck).

Run it after installing new code and before restarting the service::

    freezer-status --config-file /etc/freezer/freezer-api.conf upgrade check

The exit status is 0 (success), 1 (a warning), 2 (a failure) or 255 (the
check itself broke).

The storage check asks the configured driver's ``schema_status()`` (a
driver method returning ``(at_head, details)``: the SQL driver compares the
Alembic revision with the code's, a search-engine driver checks its
indices); a driver without that method gets "not applicable".
"""

import sys

from oslo_config import cfg
from oslo_upgradecheck import common_checks
from oslo_upgradecheck import upgradecheck

from freezer_api import app as app_module
from freezer_api import config
from freezer_api import exceptions
from freezer_api import storage as storage_module

Code = upgradecheck.Code
Result = upgradecheck.Result


class Checks(upgradecheck.UpgradeCommands):
    """The checks, against the configuration being parsed."""

    def __init__(self, conf):
        self.conf = conf
        self._upgrade_checks = (
            ("Storage schema", Checks._check_storage_schema),
            ("Authentication", Checks._check_auth_strategy),
            ("API versions", Checks._check_api_versions),
            ("Policy File JSON to YAML Migration",
             (common_checks.check_policy_json, {"conf": conf})),
        )

    def _check_storage_schema(self):
        try:
            driver = storage_module.load_driver(self.conf)
        except Exception as exc:  # noqa: broad on purpose, it is reported
            return Result(Code.FAILURE, "The %s storage driver cannot be "
                          "loaded: %s" % (self.conf.storage.driver, exc))
        try:
            at_head, details = driver.schema_status()
            if at_head:
                return Result(Code.SUCCESS, details)
            if app_module.needs_auto_upgrade(self.conf):
                return Result(Code.SUCCESS, details + " The service does "
                              "it when it starts ([storage] auto_upgrade).")
            return Result(Code.FAILURE, details)
        except exceptions.FreezerError as exc:
            return Result(Code.FAILURE, "The storage backend cannot be "
                          "reached: %s" % exc)
        finally:
            driver.close()

    def _check_auth_strategy(self):
        if self.conf.auth_strategy == "noauth":
            return Result(Code.WARNING, "auth_strategy = noauth: the "
                          "X-User-Id, X-Project-Id and X-Roles headers are "
                          "trusted as sent, so anyone who reaches the API "
                          "can act as any user. Use keystone outside "
                          "development.")
        return Result(Code.SUCCESS)

    def _check_api_versions(self):
        if not (self.conf.enable_v1_api or self.conf.enable_v2_api):
            return Result(Code.FAILURE, "enable_v1_api and enable_v2_api "
                          "are both false: the service refuses to start.")
        return Result(Code.SUCCESS)


def main(argv=None):
    conf = config.new_conf()
    return upgradecheck.main(
        conf, project="freezer", upgrade_command=Checks(conf),
        argv=sys.argv[1:] if argv is None else argv,
        default_config_files=cfg.find_config_files("freezer", "freezer-api"))


if __name__ == "__main__":
    sys.exit(main())

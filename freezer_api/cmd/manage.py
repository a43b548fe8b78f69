"""``freezer-manage``: operator commands."""

import argparse
import sys

from freezer_api import config
from freezer_api import storage as storage_module


def _driver(conf):
    return storage_module.load_driver(conf)


def db_sync(conf, _args):
    driver = _driver(conf)
    driver.upgrade()
    print("schema of the %s driver is up to date" % driver.name)


def db_version(conf, _args):
    driver = _driver(conf)
    version = getattr(driver, "schema_version", lambda: "n/a")()
    print(version or "none (run 'freezer-manage db sync')")


COMMANDS = {("db", "sync"): db_sync, ("db", "upgrade"): db_sync,
            ("db", "version"): db_version}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="freezer-manage")
    parser.add_argument("--config-file", action="append", default=[],
                        help="configuration file (repeatable)")
    parser.add_argument("category", choices=["db"])
    parser.add_argument("command", choices=["sync", "upgrade", "version"])
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    conf = config.parse(args=[], config_files=args.config_file or None)
    COMMANDS[(args.category, args.command)](conf, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``freezer-manage``: operator commands.

::

    freezer-manage [--config-file FILE] db sync|upgrade|version
    freezer-manage [--config-file FILE] db update|update-settings|show
    freezer-manage [--config-file FILE] export [--output FILE]
    freezer-manage [--config-file FILE] import [--input FILE]
    freezer-manage migrate --from CONFIG-FILE|URL --to CONFIG-FILE|URL

``export``, ``import`` and ``migrate`` cover every document of every kind of
every tenant (see ``freezer_api.transfer``), show a progress bar on stderr
and end with a per-kind count check: the exit status is 1 when a count
differs, 130 when interrupted (run the same command again to resume).
"""

import argparse
import contextlib
import io
import os
import sys

import sqlalchemy as sa
from stevedore import exception as stevedore_exception

from freezer_api import config
from freezer_api import exceptions
from freezer_api import storage as storage_module
from freezer_api import transfer

OK, FAILED, INTERRUPTED = 0, 1, 130


class UsageError(Exception):
    """A bad argument: reported without a traceback, exit status 2."""


def _driver(conf):
    try:
        return storage_module.load_driver(conf)
    except stevedore_exception.NoMatches:
        raise UsageError("no storage driver named %r is installed"
                         % conf.storage.driver)


# -- db ---------------------------------------------------------------------
def db_sync(args, out):
    driver = _driver(_service_conf(args))
    try:
        driver.upgrade()
    finally:
        driver.close()
    print("schema of the %s driver is up to date" % driver.name, file=out)
    return OK


def db_version(args, out):
    driver = _driver(_service_conf(args))
    try:
        version = getattr(driver, "schema_version", lambda: "n/a")()
    finally:
        driver.close()
    print(version or "none (run 'freezer-manage db sync')", file=out)
    return OK


def db_show(args, out):
    """Upstream's ``db show`` (devstack runs it): the driver, the schema
    revision and whether it is the code's."""
    driver = _driver(_service_conf(args))
    try:
        version = getattr(driver, "schema_version", lambda: "n/a")()
        status = getattr(driver, "schema_status", None)
        at_head, details = status() if status else (True, "")
    finally:
        driver.close()
    print("driver: %s" % driver.name, file=out)
    print("schema: %s" % (version or "none"), file=out)
    if details:
        print(details, file=out)
    return OK if at_head else FAILED


# Upstream's names ('db update' in kolla's bootstrap and devstack, 'db
# update-settings') do what 'db sync' does: create or migrate the schema
# and apply the index settings.
DB_ACTIONS = {"sync": db_sync, "upgrade": db_sync, "update": db_sync,
              "update-settings": db_sync, "version": db_version,
              "show": db_show}


# -- backends ---------------------------------------------------------------
def _service_conf(args):
    return config.parse(args=[], config_files=args.config_file or None)


def backend_conf(spec):
    """The configuration of a ``--from``/``--to`` backend: a SQLAlchemy URL
    (``scheme://...``) for the sqlalchemy driver, or a configuration file
    (its ``[storage] driver`` and that driver's options)."""
    if "://" in spec:
        try:
            sa.engine.make_url(spec).get_dialect()
        except (sa.exc.ArgumentError, ValueError) as exc:
            raise UsageError("%s is not a database URL: %s"
                             % (describe(spec), exc))
        conf = config.parse(args=[], config_files=[])
        conf.set_override("driver", "sqlalchemy", "storage")
        conf.set_override("connection", spec, "database")
        return conf
    if not os.path.isfile(spec):
        raise UsageError("%s is neither a configuration file nor a "
                         "database URL (scheme://...)" % spec)
    return config.parse(args=[], config_files=[spec])


def describe(spec):
    """``spec`` fit for printing: a URL without its password."""
    if "://" not in spec:
        return spec
    try:
        return sa.engine.make_url(spec).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return spec.split("://", 1)[0] + "://..."


def _where(conf):
    """Where a configuration's documents live, for comparing two."""
    if conf.storage.driver == "sqlalchemy":
        url = sa.engine.make_url(conf.database.connection)
        if url.get_backend_name() == "sqlite" and url.database:
            url = url.set(database=os.path.realpath(url.database))
        return ("sqlalchemy", url.render_as_string(hide_password=True))
    return (conf.storage.driver, id(conf))


# -- export / import / migrate ------------------------------------------------
def _progress(args):
    return None if args.no_progress else sys.stderr


def _finish(reports, out, source_name, destination_name):
    print(transfer.summary(reports, source_name, destination_name), file=out)
    if all(r.ok for r in reports):
        return OK
    print("freezer-manage: the counts differ (MISMATCH above)",
          file=sys.stderr)
    return FAILED


def export(args, out):
    driver = _driver(_service_conf(args))
    try:
        if args.output in (None, "-"):
            sys.stdout.flush()
            output = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8",
                                      newline="\n")
            try:
                reports = transfer.export(driver, output, _progress(args),
                                          args.batch_size)
            finally:
                output.flush()
                output.detach()  # leave sys.stdout open
        else:
            with open(args.output, "w", encoding="utf-8",
                      newline="\n") as output:
                reports = transfer.export(driver, output, _progress(args),
                                          args.batch_size)
    finally:
        driver.close()
    # The lines went to stdout: the count table goes to stderr.
    table_out = sys.stderr if args.output in (None, "-") else out
    return _finish(reports, table_out, "source", "exported")


@contextlib.contextmanager
def _input(path):
    if path in (None, "-"):
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8",
                                  newline="\n")
        try:
            yield stream, None
        finally:
            stream.detach()  # leave sys.stdin open
        return
    with open(path, encoding="utf-8", newline="\n") as stream:
        # A file is checked whole before anything is written, and sizes
        # the progress bar.
        totals = transfer.scan(stream)
        stream.seek(0)
        yield stream, totals


def import_(args, out):
    driver = _driver(_service_conf(args))
    try:
        with _input(args.input) as (stream, totals):
            driver.upgrade()
            reports = transfer.import_(driver, stream, totals,
                                       _progress(args), args.batch_size)
    finally:
        driver.close()
    return _finish(reports, out, "lines", "destination")


def migrate(args, out):
    source_conf = backend_conf(args.source)
    destination_conf = backend_conf(args.destination)
    if _where(source_conf) == _where(destination_conf):
        raise UsageError("--from and --to name the same database")
    source = _driver(source_conf)
    try:
        destination = _driver(destination_conf)
        try:
            print("migrating from %s (%s) to %s (%s)" % (
                describe(args.source), source.name,
                describe(args.destination), destination.name),
                file=sys.stderr)
            destination.upgrade()
            reports = transfer.migrate(source, destination, _progress(args),
                                       args.batch_size)
        finally:
            destination.close()
    finally:
        source.close()
    return _finish(reports, out, "source", "destination")


# -- command line -------------------------------------------------------------
def _batch_size(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= transfer.MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(
            "must be an integer from 1 to %d" % transfer.MAX_PAGE_SIZE)
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="freezer-manage",
        description="Operator commands of freezer-api.")
    config_help = ("configuration file of the service (repeatable; "
                   "default: /etc/freezer/freezer-api.conf)")
    parser.add_argument("--config-file", action="append", default=[],
                        help=config_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     required=True)

    def command(name, handler, help_text, config_file=True):
        sub = commands.add_parser(name, help=help_text,
                                  description=help_text)
        sub.set_defaults(handler=handler)
        if config_file:
            # Also accepted after the command name.
            sub.add_argument("--config-file", action="append",
                             dest="sub_config_file", default=[],
                             help=config_help)
        return sub

    def copying(sub):
        sub.add_argument("--batch-size", type=_batch_size,
                         default=transfer.PAGE_SIZE,
                         help="documents read and written at a time "
                              "(default %d)" % transfer.PAGE_SIZE)
        sub.add_argument("--no-progress", action="store_true",
                         help="no progress bar on stderr")

    db = command("db", None, "the schema of the storage backend "
                 "(tables, or search-engine indices)")
    db.add_argument("action", choices=sorted(DB_ACTIONS),
                    help="sync (also upgrade, update, update-settings): "
                         "create or migrate the schema; version: print "
                         "its revision; show: the driver, the revision "
                         "and whether it is current (exit status 1 if "
                         "not)")

    sub = command("export", export, "write every document of every "
                  "tenant as JSON lines")
    sub.add_argument("--output", metavar="FILE",
                     help="file to write (default: stdout)")
    copying(sub)

    sub = command("import", import_, "insert the documents of an export "
                  "(those already present are skipped)")
    sub.add_argument("--input", metavar="FILE",
                     help="file to read (default: stdin)")
    copying(sub)

    sub = command("migrate", migrate, "copy every document from one "
                  "backend to another (re-run to resume)",
                  config_file=False)
    sub.add_argument("--from", dest="source", required=True,
                     metavar="CONFIG-FILE|URL",
                     help="source: a configuration file, or a SQLAlchemy "
                          "URL such as sqlite:////var/lib/freezer/"
                          "freezer-api.sqlite")
    sub.add_argument("--to", dest="destination", required=True,
                     metavar="CONFIG-FILE|URL",
                     help="destination: a configuration file, or a "
                          "SQLAlchemy URL such as postgresql+psycopg://"
                          "user:password@host/freezer")
    copying(sub)
    return parser


def main(argv=None, out=None):
    out = out or sys.stdout
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    args.config_file = args.config_file + getattr(args, "sub_config_file",
                                                  [])
    if args.command == "db":
        args.handler = DB_ACTIONS[args.action]
    try:
        return args.handler(args, out)
    except UsageError as exc:
        print("freezer-manage: error: %s" % exc, file=sys.stderr)
        return 2
    except (transfer.TransferError, exceptions.FreezerError,
            OSError) as exc:
        print("freezer-manage: error: %s" % exc, file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("\nfreezer-manage: interrupted; run the same command again to "
              "resume (documents already copied are skipped)",
              file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

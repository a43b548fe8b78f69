"""``freezer-manage``: operator commands.

::

    freezer-manage [--config-file FILE] db sync|upgrade|version
    freezer-manage [--config-file FILE] db update|update-settings|show
    freezer-manage [--config-file FILE] export [--output FILE]
    freezer-manage [--config-file FILE] import [--input FILE]
    freezer-manage migrate --from CONFIG-FILE|URL --to CONFIG-FILE|URL
    freezer-manage [--config-file FILE] import-upstream --from URL [--dry-run]

``import-upstream`` reads upstream freezer-api's own database or index
(``freezer_api.upstream_store``) into the configured backend.

``export``, ``import``, ``migrate`` and ``import-upstream`` cover every
document of every kind of every tenant (see ``freezer_api.transfer``), show
a progress bar on stderr and end with a per-kind count check: the exit
status is 1 when a count differs, 130 when interrupted (run the same
command again to resume).
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
from freezer_api import upstream_store
from freezer_api.domain import kinds

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
        version = driver.schema_version()
    finally:
        driver.close()
    print(version or "none (run 'freezer-manage db sync')", file=out)
    return OK


def db_show(args, out):
    """Upstream's ``db show`` (devstack runs it): the driver, the schema
    revision and whether it is the code's."""
    driver = _driver(_service_conf(args))
    try:
        version = driver.schema_version()
        at_head, details = driver.schema_status()
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


def _refusals(source):
    """Lines naming every row that cannot be imported, and why."""
    lines = []
    for kind in source.refusals:
        for refusal in source.refusals[kind]:
            lines.append("refused: %s %s: %s" % (kind, refusal.source_id,
                                                 refusal.reason))
    for hit_id, reason in getattr(source, "unknown", list)():
        lines.append("refused: document %s: %s" % (hit_id, reason))
    return lines


def _upstream_table(source):
    rows = [("kind", "upstream", "importable", "refused",
             "deleted upstream")]
    for kind in kinds.ALL_KINDS:
        rows.append((kind, str(source.live[kind]), str(source.count(kind)),
                     str(len(source.refusals[kind])),
                     str(source.deleted[kind])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in rows)


def import_upstream(args, out):
    source = upstream_store.open_source(args.source)
    try:
        print("reading %s: upstream %s" % (describe(args.source),
                                           source.layout), file=sys.stderr)
        if args.dry_run:
            for kind in kinds.ALL_KINDS:
                source.documents(kind)
            print(_upstream_table(source), file=out)
            for line in _refusals(source):
                print(line, file=out)
            print("dry run: nothing was written", file=out)
            return OK
        conf = _service_conf(args)
        if not upstream_store.is_search_engine_url(args.source) and \
                _where(conf) == _where(backend_conf(args.source)):
            # Both keep an alembic_version table: one database each.
            raise UsageError("--from names the database of this service; "
                             "import into another database")
        destination = _driver(conf)
        try:
            destination.upgrade()
            reports = transfer.migrate(source, destination, _progress(args),
                                       args.batch_size)
        finally:
            destination.close()
        print(_upstream_table(source), file=out)
        for line in _refusals(source):
            print(line, file=out)
        return _finish(reports, out, "importable", "destination")
    finally:
        source.close()


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

    sub = command("import-upstream", import_upstream, "import upstream "
                  "freezer-api's database or Elasticsearch index (18.0.0, "
                  "19.0.0) into the configured backend (re-run to resume)")
    sub.add_argument("--from", dest="source", required=True, metavar="URL",
                     help="upstream's [database] connection (SQLAlchemy URL, "
                          "e.g. mysql+pymysql://freezer:...@db/freezer) or "
                          "its search engine and index (http://host:9200/"
                          "freezer)")
    sub.add_argument("--dry-run", action="store_true",
                     help="only report what would be imported and what "
                          "cannot be, and why")
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

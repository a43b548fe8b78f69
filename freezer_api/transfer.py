"""Copying every document of every kind of every tenant between storage
drivers, or to and from JSON lines: ``freezer-manage export``, ``import``
and ``migrate``.

Only the ``StorageDriver`` interface is used (``search`` with
``Scope(all_projects=True)`` and ``Query(limit, offset)``, ``apply`` with
``Insert``, ``get``, ``count``), so every driver can be a source or a
destination.

Copies are idempotent and resumable. Documents are read oldest first and
inserted in that order, so the destination lists them in the same order.
A page is inserted with one ``apply``; when that fails with
``AlreadyExists`` (a re-run, or a run resumed after an interruption), the
destination's page at the same offset is read: when it is the same page,
nothing is to be done; otherwise each document of the page is looked up
and only the missing ones are inserted. Nothing is ever inserted twice:
ids are unique per kind and project in every driver. A document already
present with other content (changed at the source after it was copied, or
another document with that id) is kept as it is and reported.

Document versions (the ``ETag`` of ``GET``) are not copied: every document
starts again at version 1 at the destination.
"""

import dataclasses
import json
import sys
import time

from freezer_api import exceptions
from freezer_api.domain import kinds
from freezer_api.domain.search import Query
from freezer_api.storage.base import Insert, Scope

PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
EVERYONE = Scope(all_projects=True)
MAX_REPORTED = 10  # differing documents listed by id


class TransferError(exceptions.FreezerError):
    """The input is unusable (bad JSON line, unknown kind, ...)."""


# -- progress ---------------------------------------------------------------
class Progress:
    """A plain-text progress bar on ``stream`` (stderr).

    On a terminal the bar is redrawn in place, at most ten times a second;
    elsewhere (a log file) a line is written every ``every`` seconds and at
    the end.
    """

    WIDTH = 30

    def __init__(self, stream, label, total=None, every=10.0,
                 clock=time.monotonic):
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self.clock = clock
        self.started = self.last = clock()
        self.tty = stream is not None and getattr(stream, "isatty",
                                                  lambda: False)()
        self.every = 0.1 if self.tty else every

    def _line(self):
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = "%d docs/s" % (self.done / elapsed)
        if self.total is not None:
            share = min(1.0, self.done / self.total) if self.total else 1.0
            filled = int(self.WIDTH * share)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            return "%-9s [%s] %d/%d %3d%% %s" % (
                self.label, bar, self.done, self.total, int(100 * share),
                rate)
        return "%-9s %d %s" % (self.label, self.done, rate)

    def advance(self, count):
        self.done += count
        if self.stream is None:
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._write(final=False)

    def finish(self):
        if self.stream is not None:
            self._write(final=True)

    def _write(self, final):
        if self.tty:
            self.stream.write("\r\x1b[K" + self._line() +
                              ("\n" if final else ""))
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()


# -- reading ----------------------------------------------------------------
def pages(driver, kind, page_size=PAGE_SIZE):
    """Every document of ``kind`` of every tenant, oldest first, one page
    (a list) at a time."""
    offset = 0
    while True:
        docs = driver.search(kind, EVERYONE,
                             Query(limit=page_size, offset=offset))
        if not docs:
            return
        yield docs
        offset += len(docs)
        if len(docs) < page_size:
            return


def count(driver, kind):
    """The number of documents of ``kind``; counted page by page when the
    driver has no ``count``."""
    try:
        return driver.count(kind)
    except NotImplementedError:
        return sum(len(page) for page in pages(driver, kind, MAX_PAGE_SIZE))


# -- writing ----------------------------------------------------------------
@dataclasses.dataclass
class KindReport:
    """What happened to the documents of one kind."""

    kind: str
    source: int = 0        # documents at the source (or lines read)
    destination: int = 0   # documents at the destination afterwards
    copied: int = 0        # inserted by this run
    present: int = 0       # already there with the same content
    differing: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return self.source == self.destination and not self.differing


def _existing(driver, kind, doc):
    """The destination's Record of ``doc``'s id in ``doc``'s project, or
    None."""
    scope = Scope(project_id=doc.get("project_id") or "")
    try:
        return driver.get(kind, scope, kinds.doc_id(kind, doc))
    except exceptions.NotFound:
        return None


def _note_present(report, record, doc):
    if record.doc == doc:
        report.present += 1
    else:
        report.differing.append("%s/%s" % (doc.get("project_id") or "",
                                           kinds.doc_id(report.kind, doc)))


def write_page(driver, kind, docs, report, offset=None):
    """Insert ``docs`` (in order) unless they are already there.

    ``offset``: where ``docs`` start in the source's list of ``kind``.
    When a destination that started empty is filled again (a re-run, a
    resumed run), its page at that offset is the same page: one read then
    proves that all of them are there.
    """
    if not docs:
        return
    try:
        driver.apply([Insert(kind, doc) for doc in docs])
    except exceptions.AlreadyExists:
        pass
    else:
        report.copied += len(docs)
        return
    if offset is not None and driver.search(
            kind, EVERYONE, Query(limit=len(docs), offset=offset)) == docs:
        report.present += len(docs)
        return
    # Some are there already: look each one up, insert the others one by
    # one (in order, so the destination keeps the source's order).
    for doc in docs:
        record = _existing(driver, kind, doc)
        if record is None:
            try:
                driver.apply([Insert(kind, doc)])
            except exceptions.AlreadyExists:
                record = _existing(driver, kind, doc)
                if record is None:  # taken by a concurrent writer, gone
                    raise
            else:
                report.copied += 1
                continue
        _note_present(report, record, doc)


# -- the three operations ---------------------------------------------------
def _check_page_size(page_size):
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise TransferError("the page size must be 1 to %d" % MAX_PAGE_SIZE)


def migrate(source, destination, progress=sys.stderr, page_size=PAGE_SIZE):
    """Copy every document of ``source`` into ``destination``; return a
    ``KindReport`` per kind, counts included."""
    _check_page_size(page_size)
    reports = []
    for kind in kinds.ALL_KINDS:
        report = KindReport(kind)
        bar = Progress(progress, kind, count(source, kind))
        offset = 0
        for docs in pages(source, kind, page_size):
            write_page(destination, kind, docs, report, offset)
            offset += len(docs)
            bar.advance(len(docs))
        bar.finish()
        report.source = count(source, kind)
        report.destination = count(destination, kind)
        reports.append(report)
    return reports


def line_of(kind, doc):
    """One JSON line of an export."""
    return json.dumps({"kind": kind, "doc": doc}, ensure_ascii=False,
                      separators=(",", ":")) + "\n"


def export(source, output, progress=sys.stderr, page_size=PAGE_SIZE):
    """Write every document of ``source`` to the text stream ``output``
    as JSON lines; return a ``KindReport`` per kind (``destination``: the
    lines written)."""
    _check_page_size(page_size)
    reports = []
    for kind in kinds.ALL_KINDS:
        report = KindReport(kind)
        bar = Progress(progress, kind, count(source, kind))
        for docs in pages(source, kind, page_size):
            output.write("".join(line_of(kind, doc) for doc in docs))
            report.copied += len(docs)
            bar.advance(len(docs))
        bar.finish()
        report.source = count(source, kind)
        report.destination = report.copied
        reports.append(report)
    output.flush()
    return reports


def parse_line(text, number):
    """``(kind, doc)`` of one line of an export; TransferError naming the
    line when it is not one."""
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise TransferError("line %d: not JSON (%s)" % (number, exc))
    if not isinstance(item, dict) or set(item) != {"kind", "doc"}:
        raise TransferError('line %d: not a {"kind": ..., "doc": ...} '
                            "object" % number)
    kind, doc = item["kind"], item["doc"]
    if kind not in kinds.ALL_KINDS:
        raise TransferError("line %d: unknown kind %r (one of %s)"
                            % (number, kind, ", ".join(kinds.ALL_KINDS)))
    if not isinstance(doc, dict):
        raise TransferError("line %d: doc is not an object" % number)
    try:
        doc_id = kinds.doc_id(kind, doc)
    except (KeyError, TypeError, AttributeError):
        doc_id = None
    if not isinstance(doc_id, str) or not doc_id:
        raise TransferError("line %d: the %s document has no id" % (
            number, kind))
    if not isinstance(doc.get("user_id"), str) or \
            not isinstance(doc.get("project_id", ""), (str, type(None))):
        raise TransferError("line %d: user_id and project_id must be "
                            "strings" % number)
    return kind, doc


def _lines(stream):
    for number, text in enumerate(stream, 1):
        if text.strip():
            yield number, text


def scan(stream):
    """Check every line of an export; return the documents per kind."""
    totals = dict.fromkeys(kinds.ALL_KINDS, 0)
    for number, text in _lines(stream):
        kind, _doc = parse_line(text, number)
        totals[kind] += 1
    return totals


def import_(destination, stream, totals=None, progress=sys.stderr,
            page_size=PAGE_SIZE):
    """Insert the documents of an export read from ``stream`` (in its
    order, a page of one kind at a time); return a ``KindReport`` per kind
    (``source``: the lines of that kind). ``totals`` (from ``scan``) sizes
    the progress bar."""
    _check_page_size(page_size)
    reports = {kind: KindReport(kind) for kind in kinds.ALL_KINDS}
    bar = Progress(progress, "documents",
                   sum(totals.values()) if totals else None)
    page, page_kind = [], None
    offsets = dict.fromkeys(kinds.ALL_KINDS, 0)

    def flush():
        if page:
            write_page(destination, page_kind, page, reports[page_kind],
                       offsets[page_kind])
            offsets[page_kind] += len(page)
            bar.advance(len(page))
            page.clear()

    for number, text in _lines(stream):
        kind, doc = parse_line(text, number)
        reports[kind].source += 1
        if kind != page_kind or len(page) >= page_size:
            flush()
            page_kind = kind
        page.append(doc)
    flush()
    bar.finish()
    for report in reports.values():
        report.destination = count(destination, report.kind)
    return list(reports.values())


def summary(reports, source_name="source", destination_name="destination"):
    """The per-kind count table, and the differing documents."""
    rows = [("kind", source_name, destination_name, "copied",
             "already there", "")]
    for r in reports:
        rows.append((r.kind, str(r.source), str(r.destination),
                     str(r.copied), str(r.present),
                     "ok" if r.ok else "MISMATCH"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    for r in reports:
        if r.differing:
            shown = ", ".join(r.differing[:MAX_REPORTED])
            more = len(r.differing) - MAX_REPORTED
            lines.append(
                "%s: %d document(s) already at the destination with other "
                "content were kept as they are (project/id): %s%s"
                % (r.kind, len(r.differing), shown,
                   " and %d more" % more if more > 0 else ""))
    return "\n".join(lines)

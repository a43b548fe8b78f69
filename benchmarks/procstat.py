"""CPU time and memory of a server's processes, read from /proc.

On a shared, loaded machine, requests per second say more about the other
tenants than about the server; the CPU time its processes spent serving a
phase, divided by the requests of that phase, is the stable figure.
"""

import os

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid):
    """(ppid, pgid, utime + stime in ticks) of ``pid``, or None."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    # fields[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14,
    # stime 15 of proc(5).
    return int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12])


def tree(root):
    """``root`` and every live descendant of it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        pending.extend(children.get(pid, ()))
    return pids


def cpu_seconds(pids):
    """CPU time (user + system) the live processes ``pids`` have used."""
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            total += stat[2]
    return total / TICKS


def rss_mb(pid):
    """Resident set size of ``pid`` in MiB (0 if it is gone)."""
    try:
        with open("/proc/%d/statm" % pid) as statm:
            return int(statm.read().split()[1]) * PAGE / 2 ** 20
    except OSError:
        return 0.0


class Meter:
    """CPU of a process tree between ``start`` and ``stop``."""

    def __init__(self, root):
        self.root = root
        self.pids = []
        self.before = 0.0

    def start(self):
        self.pids = tree(self.root)
        self.before = cpu_seconds(self.pids)

    def stop(self):
        """Seconds of CPU used since ``start`` (by the processes alive at
        ``start``: a gunicorn worker replaced meanwhile would be missed,
        which the runner reports)."""
        return cpu_seconds(self.pids) - self.before

"""The test environment's command line.

    python -m tools.testenv start NAME...    install and start, side by side;
                                             one URL per line, in order
    python -m tools.testenv stop NAME...     stop (fine when not running)
    python -m tools.testenv status NAME...   exit 0 when all run and answer
    python -m tools.testenv url NAME         the URL (whether it runs or not)
    python -m tools.testenv env NAME...      `export` lines for the tests
    python -m tools.testenv list             the services' names
    python -m tools.testenv test [ARGS...]   `make test` (ARGS go to pytest)
    python -m tools.testenv prune [DAYS]     delete the cached venvs unused
                                             for DAYS days (30)

Only URLs and `export` lines go to stdout; what the services say goes to
stderr, so ``URL=$(python -m tools.testenv start postgres)`` works.
"""

import os
import shlex
import sys

from tools import testenv
from tools.testenv import base
from tools.testenv import parallel


def _services(names):
    unknown = [name for name in names if name not in testenv.SERVICES]
    if unknown or not names:
        raise SystemExit("unknown service(s) %s; one of: %s" % (
            " ".join(unknown) or "(none given)",
            " ".join(testenv.SERVICES)))
    return [testenv.service(name) for name in names]


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv else 2
    command, names = argv[0], argv[1:]
    if command == "list":
        print("\n".join(testenv.SERVICES))
        return 0
    if command == "test":
        from tools.testenv import suite
        return suite.main(names)
    if command == "prune" and len(names) <= 1:
        try:
            days = float(names[0]) if names else 30
        except ValueError:
            raise SystemExit("prune: DAYS must be a number, got %r"
                             % names[0])
        for path in base.prune_cache(days):
            base.say("prune", "deleted %s" % path)
        return 0
    try:
        if command == "start":
            results = parallel.start(_services(names))
            if not parallel.report(results):
                return 1
            for _service, url in results:
                print(",".join(url) if isinstance(url, list) else url)
        elif command == "stop":
            return 0 if parallel.report(parallel.stop(_services(names))) else 1
        elif command == "status":
            states = [(s, s.status()) for s in _services(names)]
            for service, up in states:
                service.say("running: %s" % service.url() if up
                            else "not running")
            return 0 if all(up for _s, up in states) else 1
        elif command == "url" and len(names) == 1:
            print(_services(names)[0].url())
        elif command == "env":
            for service in _services(names):
                for key, value in service.environment().items():
                    print("export %s=%s" % (key, shlex.quote(str(value))))
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    except base.ServiceError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        # The reader (``... env | head``) went away: not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush
        # does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)

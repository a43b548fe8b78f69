"""Starting and stopping several services at once.

Each service runs its start (or stop) in a thread of its own: the work is
waiting on subprocesses (apt-get, Maven, pip, a JVM booting), so threads
are enough, and one service's failure does not stop the others. The
results come back in the order the services were given: (service, URL)
or (service, the ServiceError).
"""

import concurrent.futures
import time

from tools.testenv import base


def _each(services, method):
    if not services:
        return []
    with concurrent.futures.ThreadPoolExecutor(len(services)) as pool:
        futures = [pool.submit(getattr(service, method))
                   for service in services]
        results = []
        for service, future in zip(services, futures):
            try:
                results.append((service, future.result()))
            except base.ServiceError as exc:
                results.append((service, exc))
            except Exception as exc:  # a bug in a service: say which one
                results.append((service, base.ServiceError(
                    "%s: %s: %s" % (method, type(exc).__name__, exc))))
    return results


def start(services):
    """Start every service side by side; [(service, URL or error)]."""
    return _each(services, "start")


def stop(services):
    """Stop every service side by side; [(service, None or error)]."""
    return _each(services, "stop")


def failed(results):
    return [(service, error) for service, error in results
            if isinstance(error, base.ServiceError)]


def report(results):
    """Say each failure (with its log's tail); True when none failed."""
    for service, error in failed(results):
        service.say("FAILED: %s" % error)
    return not failed(results)


def timed_start(services):
    """start(), and how long it took (s)."""
    began = time.monotonic()
    results = start(services)
    return results, time.monotonic() - began

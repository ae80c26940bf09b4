"""Name resolution the caller can stop waiting for.

``socket.getaddrinfo`` is a blocking C call with no timeout: no socket exists
yet, so neither a socket timeout nor the deadline's watchdog can cut it
short. :func:`resolve` runs it in a small pool of reusable daemon threads
and waits for the answer no longer than it is told; a lookup that takes
longer goes on in its thread (its answer is dropped) while the caller gets
:class:`LookupTimedOut` at once.

The lookup is ``socket.getaddrinfo`` as found when it runs, so the system
resolver, ``/etc/hosts`` and whatever patches that function (gevent, test
tools) keep working. At most ``MAX_WORKERS`` threads exist; they are made
when needed and never exit (they are daemons: a lookup still running never
holds up the interpreter's exit). A forked child starts with none.
"""

from __future__ import annotations

import ipaddress
import os
import queue
import socket
import threading
from typing import Any

__all__ = ["MAX_WORKERS", "LookupTimedOut", "is_literal", "resolve"]

#: Lookups that can run at once; more wait in line (within their bound).
MAX_WORKERS = 8


class LookupTimedOut(Exception):
    """The answer did not come within the wait."""


class _Job:
    __slots__ = ("done", "error", "family", "host", "port", "result")

    def __init__(self, host: str, port: int, family: int) -> None:
        self.host = host
        self.port = port
        self.family = family
        self.done = threading.Event()
        self.result: list[str] = []
        self.error: BaseException | None = None


_lock = threading.Lock()
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_workers = 0  # threads made; guarded by _lock
_idle = 0  # threads waiting for a job; guarded by _lock


def is_literal(host: str) -> bool:
    """An IP address needs no lookup."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, family: int, wait: float) -> list[str]:
    """The addresses of ``host``, in the resolver's order, within ``wait`` s.

    Raises:
        LookupTimedOut: no answer within ``wait``.
        socket.gaierror: the resolver's own error (an unknown name...).
    """
    global _workers
    job = _Job(host, port, family)
    with _lock:
        start = _idle == 0 and _workers < MAX_WORKERS
        if start:
            _workers += 1
    if start:
        threading.Thread(target=_work, name="requests-managed-dns", daemon=True).start()
    _jobs.put(job)
    if not job.done.wait(wait):
        raise LookupTimedOut
    if job.error is not None:
        raise job.error
    return job.result


def _work() -> None:
    global _idle
    jobs = _jobs
    while True:
        with _lock:
            _idle += 1
        job = jobs.get()
        with _lock:
            _idle -= 1
        try:
            job.result = _lookup(job.host, job.port, job.family)
        except BaseException as exc:  # handed to the caller, who raises it
            job.error = exc
        job.done.set()


def _lookup(host: str, port: int, family: int) -> list[str]:
    infos: list[Any] = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _after_fork_in_child() -> None:
    # The threads (and a lock a thread may have held) stayed in the parent.
    global _lock, _jobs, _workers, _idle
    _lock = threading.Lock()
    _jobs = queue.SimpleQueue()
    _workers = _idle = 0


os.register_at_fork(after_in_child=_after_fork_in_child)

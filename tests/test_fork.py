"""After fork, a child never uses a connection pooled by its parent."""

from __future__ import annotations

import gc
import multiprocessing
import weakref

import pytest

from requests_managed import CloseReason, ManagedSession

from .forking import in_child
from .server import Reply, Request, Server

pytestmark = pytest.mark.filterwarnings(
    # Python 3.12+ warns about fork() in a process with threads (our server's)
    "ignore:.*fork.*:DeprecationWarning"
)


def echo(request: Request) -> Reply:
    return Reply(body=f"{request.target} on {request.connection_id}".encode())


def test_child_opens_its_own_connection_and_parent_keeps_its_own(
    server: Server,
) -> None:
    server.handler = echo
    with ManagedSession() as session:
        assert session.get(server.url + "/parent").text == "/parent on 1"

        def child() -> str:
            text = session.get(server.url + "/child").text
            closed = session.pool_stats().total.closed
            return f"{text}|{text == '/child on 2' and closed == {CloseReason.FORK: 1}}"

        child_said = in_child(child)
        assert child_said == "/child on 2|True"
        # the parent's pooled connection is untouched and still reused
        assert session.get(server.url + "/parent-again").text == "/parent-again on 1"
    assert server.requests_per_connection() == {1: 2, 2: 1}


def _worker(url: str, session: ManagedSession, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(session.get(url + "/worker").text)


def test_multiprocessing_fork_workers_get_their_own_connections(
    server: Server,
) -> None:
    server.handler = echo
    context = multiprocessing.get_context("fork")
    with ManagedSession() as session:
        assert session.get(server.url + "/parent").text == "/parent on 1"
        queue = context.Queue()
        workers = [
            context.Process(target=_worker, args=(server.url, session, queue))
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        answers = sorted(queue.get(timeout=20) for _ in workers)
        for worker in workers:
            worker.join(20)
            assert worker.exitcode == 0
        assert session.get(server.url + "/parent").text == "/parent on 1"
    # no crossed responses: each worker got the answer to its own request
    assert [answer.split(" on ")[0] for answer in answers] == ["/worker"] * 3
    connection_ids = {answer.rsplit(" ", 1)[1] for answer in answers}
    assert "1" not in connection_ids
    assert len(connection_ids) == 3
    assert server.requests_per_connection()[1] == 2  # the parent's, reused


def test_fork_registry_does_not_keep_sessions_alive(server: Server) -> None:
    from requests_managed import _manager

    session = ManagedSession()
    session.get(server.url)
    session.close()
    manager = weakref.ref(session._rm_adapter._rm_manager)
    ref = weakref.ref(session)
    del session
    gc.collect()
    assert ref() is None
    assert manager() is None
    assert all(m is not None for m in _manager._managers)

"""The benchmark harness: its server, its measurements, its table.

Only the mechanics are tested here (counts, connections, ratios, output);
speed is measured in benchmarks/, never asserted.
"""

from __future__ import annotations

import io
import pathlib
import socket
import sys
from collections.abc import Iterator

import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "benchmarks"))

from benchserver import BenchServer
from harness import SCENARIOS, Scenario, format_table, run


@pytest.fixture(scope="module")
def bench_server() -> Iterator[BenchServer]:
    with BenchServer() as server:
        yield server


@pytest.mark.parametrize(("path", "size"), [("/small", 2), ("/64k", 65536)])
def test_server_answers_canned_bodies_on_one_connection(
    bench_server: BenchServer, path: str, size: int
) -> None:
    before = bench_server.connections()
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(bench_server.url(path), timeout=10)
            assert response.status_code == 200
            assert len(response.content) == size
    # One connection for the three requests, plus the query that read `before`.
    assert bench_server.connections() - before - 1 == 1


def test_server_answers_pipelined_requests_in_order(bench_server: BenchServer) -> None:
    with socket.create_connection(("127.0.0.1", bench_server.port), timeout=10) as s:
        s.sendall(
            b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n" * 2
            + b"GET /nope HTTP/1.1\r\n\r\n"
        )
        data = b""
        while data.count(b"HTTP/1.1") < 3:
            chunk = s.recv(65536)
            assert chunk, "server closed early"
            data += chunk
    assert data.count(b"200 OK") == 2
    assert data.endswith(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def test_server_process_stops_when_closed() -> None:
    server = BenchServer()
    process = server._process
    server.close()
    assert process.poll() is not None


def test_run_measures_every_client_and_reports_ratios() -> None:
    scenario = Scenario("tiny", "/small", 30)
    progress = io.StringIO()
    results = run(rounds=2, scale=1.0, scenarios=(scenario,), progress=progress)
    clients = {r.client for r in results}
    assert {"ManagedSession", "requests.Session", "urllib3.PoolManager"} <= clients
    for result in results:
        assert len(result.rps) == len(result.cpu_us) == 2
        assert all(rps > 0 for rps in result.rps)
        assert result.connections == [1, 1]  # sequential work: one connection
        assert result.discarded == 0
        if result.client == "requests.Session":
            assert result.ratios == [1.0, 1.0]
    assert progress.getvalue().count("round") == 2 * len(clients)
    table = format_table(results)
    for client in clients:
        assert f"| tiny | {client} |" in table


def test_threaded_scenario_opens_at_most_one_connection_per_thread() -> None:
    scenario = Scenario("threads", "/small", 64, threads=4)
    results = run(rounds=1, scenarios=(scenario,), progress=None)
    managed = next(r for r in results if r.client == "ManagedSession")
    assert 1 <= managed.connections[0] <= 4


def test_the_scenarios_are_the_ones_the_docs_describe() -> None:
    names = [s.name for s in SCENARIOS]
    assert names == [
        "small GETs, sequential",
        "small GETs, 2 threads",
        "small GETs, 8 threads",
        "small GETs, 32 threads",
        "64 KiB bodies",
        "1 MiB bodies",
        "small GETs, 200 extra env vars",
    ]

"""POSTs after pauses near a server's unannounced idle close: errors per client.

    python benchmarks/idle_learning.py [--trials 200] [--idle 2.0]

The issue 14 acceptance run at full size (tests/test_learning.py runs it
scaled to 0.4 s). Each run is one client against its own loopback server
that closes idle connections after ``--idle`` seconds and never says so (no
``Keep-Alive`` header, as gunicorn, uvicorn or nginx). It sends one POST,
then ``--trials`` POSTs, each after a pause spread evenly (shuffled, same
seed for every client) over 0.95-1.25 times the idle timeout (1.9-2.5 s for
2 s), and counts the POSTs that failed. Servers:

* ``eager``: the server closes the idle connection on time (a FIN the pool
  can see at check-out); a POST fails only when it is sent as the server
  closes.
* ``eager-sweep``: the same, with the pauses swept over +-0.5 % around the
  exact close moment, where that race is lost.
* ``race``: the server notices its limit only when the next request arrives
  and cuts it off, so a client sees nothing until it has sent (the race made
  certain: every reuse past the limit fails).

Clients: ``requests.Session``, ``ManagedSession`` with
``KeepAlivePolicy(learn_idle_timeout=False)`` and with learning on (the
default). Every run sleeps through its pauses, so all run at once, one
thread each: about ``trials * 1.1 * idle`` seconds in all (7.5 minutes for
the defaults).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from requests_managed import CloseReason, KeepAlivePolicy, ManagedSession
from tests.server import Server

CLIENTS = ("requests", "managed, learning off", "managed, learning on")
SERVERS = ("eager", "eager-sweep", "race")


def pauses(trials: int, idle: float, server: str) -> list[float]:
    low, high = (0.995, 1.005) if server == "eager-sweep" else (0.95, 1.25)
    spread = [idle * (low + (high - low) * i / (trials - 1)) for i in range(trials)]
    random.Random(14).shuffle(spread)
    return spread


def session_for(client: str) -> requests.Session:
    if client == "requests":
        return requests.Session()
    return ManagedSession(
        policy=KeepAlivePolicy(learn_idle_timeout=client.endswith("on"))
    )


def one_run(client: str, server_kind: str, trials: int, idle: float) -> str:
    race = server_kind == "race"
    with Server(idle_close_after=idle, idle_close_race=race, record=False) as server:
        session = session_for(client)
        failed = 0
        with session:
            for i, pause in enumerate([0.0, *pauses(trials, idle, server_kind)]):
                time.sleep(pause)
                try:
                    ok = session.post(server.url + "/items", data=b"x%d" % i).ok
                except requests.ConnectionError:
                    ok = False
                failed += 0 if ok or i == 0 else 1
            extra = ""
            if isinstance(session, ManagedSession):
                stats = session.pool_stats().for_url(server.url)
                learned = stats.learned_idle_timeout
                retired = stats.closed.get(CloseReason.LEARNED_IDLE_TIMEOUT, 0)
                extra = (
                    f" | {'-' if learned is None else f'{learned:.3f}'}"
                    f" | {stats.reuses} | {retired}"
                )
            else:
                extra = " | - | - | -"
    return f"| {server_kind} | {client} | {failed} / {trials}{extra} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="default: 200")
    parser.add_argument("--idle", type=float, default=2.0, help="default: 2.0 s")
    args = parser.parse_args()
    rows: dict[tuple[str, str], str] = {}

    def run(client: str, server_kind: str) -> None:
        rows[server_kind, client] = one_run(client, server_kind, args.trials, args.idle)

    threads = [
        threading.Thread(target=run, args=(client, kind))
        for kind in SERVERS
        for client in CLIENTS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"server idle timeout {args.idle} s (unannounced), {args.trials} POSTs "
        "after pauses, one run per row\n"
    )
    print("| server | client | POSTs failed | learned (s) | reuses | retired early |")
    print("|---|---|---|---|---|---|")
    for kind in SERVERS:
        for client in CLIENTS:
            print(rows[kind, client])
    return 0


if __name__ == "__main__":
    sys.exit(main())

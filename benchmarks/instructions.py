"""Instructions per operation, counted by valgrind: a measure that noise cannot move.

    python benchmarks/instructions.py [--quick] [--only TEXT ...] [--requests N]

Wall-clock and CPU times on a shared machine move by 10 % from one run to
the next. ``valgrind --tool=callgrind`` counts the instructions a process
executes in user space instead, which is the same from run to run for the
same code and inputs, whatever else the machine is doing. It does not count
the kernel's side of system calls, which is about the same for every client
here, so CPU-time ratios come out smaller than instruction ratios.

One run prints a markdown table per operation, side by side for
ManagedSession, requests.Session, httpx.Client and urllib3.PoolManager:

- ``get-http``: keep-alive GET of 2 bytes over HTTP, and four more
  ManagedSession / requests rows: ``send(prepared)`` (the request prepared
  once), and the learned keep-alive (``KeepAlivePolicy.learn_idle_timeout``)
  off, and with a learned idle timeout already in force for the host (60 s,
  so every request still reuses, and every check-out and release consults it);
- ``get-https``: the same over TLS (a loopback server with a certificate of a
  one-certificate CA from trustme, which every client is told to trust);
- ``post-1k``, ``post-1m``: keep-alive POSTs of a 1 KiB and a 1 MiB body;
- ``stream-64k``: 16 MiB responses read in 64 KiB chunks, per chunk;
- ``hosts-50``: GETs round-robin over 50 origins (50 ports of the server);
  with pooling over all of them, the 50 connections of the first round are
  the only ones;
- ``create``: constructing and closing a client, per client;
- ``one-shot``: ``requests_managed.get(url)`` against ``requests.get(url)``
  (and ``httpx.get``), each a new session and connection;
- ``tls-new``: a new TLS connection and a GET per operation (the server
  answers ``Connection: close``).

Each row is ``(count(BASE + N) - count(BASE)) / N``: two processes do BASE
and BASE + N operations, and their callgrind totals differ by N operations
only. By default one ``valgrind`` process imports everything and starts the
servers once, then forks the two processes of each row from that state (a
start-up costs 0.7 to 1.1 billion instructions, about 40 s under valgrind
on a small machine, and would otherwise be paid twice per row). A forked
process's total includes its parent's instructions up to the fork, so a
calibration pair doing nothing measures what the parent executes between
the two forks of a pair, and that is subtracted. ``--fresh`` runs each count
in a process of its own started from scratch instead (the same figures,
within about 0.1 %; many times slower). ``PYTHONHASHSEED=0`` throughout:
with a random seed, counts move by about 1 % from run to run.

The "connections" column is what the server saw opened during the BASE and
the BASE + N runs: equal numbers mean no new connection per operation.
``--only TEXT`` (repeatable) keeps the rows whose operation or client name
contains every TEXT, as in ``--only post --only httpx``. ``--quick`` uses a
smaller N per operation. Needs valgrind (Debian: ``apt install valgrind``)
and trustme; httpx is skipped when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import itertools
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import requests
import urllib3
from benchserver import BenchServer

import requests_managed
from requests_managed import KeepAlivePolicy, ManagedSession

Call = Callable[[], object]


@dataclasses.dataclass(frozen=True)
class Target:
    """The servers one counting process talks to, and the CA to trust."""

    server: BenchServer
    ca: str

    @property
    def http(self) -> str:
        return self.server.url("")

    @property
    def https(self) -> str:
        return self.server.tls_url("")


# A row: given the target, a context in which one call is one operation.
Factory = Callable[[Target], contextlib.AbstractContextManager[Call]]


# -- the clients, each able to GET, POST and stream ------------------------------


class _Client(Protocol):
    def get(self, url: str) -> bytes: ...
    def post(self, url: str, body: bytes) -> bytes: ...
    def stream(self, url: str, chunk: int) -> int: ...
    def close(self) -> None: ...


class _RequestsClient:
    """A requests.Session or a ManagedSession."""

    def __init__(self, session: requests.Session, **options: Any) -> None:
        self._session = session
        self._options = options

    def get(self, url: str) -> bytes:
        return self._session.get(url, **self._options).content

    def post(self, url: str, body: bytes) -> bytes:
        return self._session.post(url, data=body, **self._options).content

    def stream(self, url: str, chunk: int) -> int:
        with self._session.get(url, stream=True, **self._options) as response:
            return sum(1 for _ in response.iter_content(chunk))

    def close(self) -> None:
        self._session.close()


class _HttpxClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def get(self, url: str) -> bytes:
        return self._client.get(url).content  # type: ignore[no-any-return]

    def post(self, url: str, body: bytes) -> bytes:
        return self._client.post(url, content=body).content  # type: ignore[no-any-return]

    def stream(self, url: str, chunk: int) -> int:
        with self._client.stream("GET", url) as response:
            return sum(1 for _ in response.iter_bytes(chunk))

    def close(self) -> None:
        self._client.close()


class _Urllib3Client:
    def __init__(self, manager: urllib3.PoolManager) -> None:
        self._manager = manager

    def get(self, url: str) -> bytes:
        return self._manager.request("GET", url).data

    def post(self, url: str, body: bytes) -> bytes:
        return self._manager.request("POST", url, body=body).data

    def stream(self, url: str, chunk: int) -> int:
        response = self._manager.request("GET", url, preload_content=False)
        try:
            return sum(1 for _ in response.stream(chunk))
        finally:
            response.release_conn()

    def close(self) -> None:
        self._manager.clear()


def _managed(ca: str) -> _Client:
    session = ManagedSession()
    session.verify = ca
    return _RequestsClient(session)


def _requests(ca: str) -> _Client:
    session = requests.Session()
    session.verify = ca
    # The timeout every careful requests user passes anyway (as harness.py).
    return _RequestsClient(session, timeout=(5, 30))


def _httpx(ca: str) -> _Client:
    import httpx

    context = ssl.create_default_context(cafile=ca)
    return _HttpxClient(
        httpx.Client(timeout=httpx.Timeout(30, connect=5), verify=context)
    )


def _urllib3(ca: str) -> _Client:
    timeout = urllib3.Timeout(5, 30)
    return _Urllib3Client(urllib3.PoolManager(maxsize=10, timeout=timeout, ca_certs=ca))


def _has_httpx() -> bool:
    try:
        import httpx  # noqa: F401
    except ImportError:
        return False
    return True


CLIENTS: dict[str, Callable[[str], _Client]] = {
    "ManagedSession": _managed,
    "requests.Session": _requests,
    "urllib3.PoolManager": _urllib3,
}
if _has_httpx():
    CLIENTS["httpx.Client"] = _httpx


def _each_client(action: Callable[[_Client, Target], Call]) -> dict[str, Factory]:
    """One row per client, each doing ``action`` on a client of its own."""

    def factory(make: Callable[[str], _Client]) -> Factory:
        @contextlib.contextmanager
        def rows(target: Target) -> Iterator[Call]:
            client = make(target.ca)
            try:
                yield action(client, target)
            finally:
                client.close()

        return rows

    return {name: factory(make) for name, make in CLIENTS.items()}


def _plain(make: Callable[[Target], Call]) -> Factory:
    return lambda target: contextlib.nullcontext(make(target))


# -- keep-alive GET over HTTP: harness.py's clients, and rows of our own --------


@contextlib.contextmanager
def _managed_learning_off() -> Iterator[Callable[[str], bytes]]:
    policy = KeepAlivePolicy(learn_idle_timeout=False)
    with ManagedSession(policy=policy) as session:
        yield lambda url: session.get(url).content


@contextlib.contextmanager
def _managed_learned() -> Iterator[Callable[[str], bytes]]:
    from urllib3.util import parse_url

    from requests_managed._policy import IdleLearning

    with ManagedSession() as session:
        seeded = False

        def get(url: str) -> bytes:
            nonlocal seeded
            content = session.get(url).content
            if not seeded:
                # benchmark only: plant a learned 60 s idle timeout (private)
                parsed = parse_url(url)
                key = ("http", parsed.host, parsed.port)
                manager: Any = session._rm_adapter._rm_manager
                manager._counters[key].learning = IdleLearning((60.0, 60.5), 60.5)
                seeded = True
            return content

        yield get


def _send_prepared(
    make: Callable[[], requests.Session], **options: Any
) -> Callable[[], contextlib.AbstractContextManager[Callable[[str], bytes]]]:
    @contextlib.contextmanager
    def client() -> Iterator[Callable[[str], bytes]]:
        with make() as session:
            prepared: dict[str, requests.PreparedRequest] = {}

            def get(url: str) -> bytes:
                if url not in prepared:
                    request = requests.Request("GET", url)
                    prepared[url] = session.prepare_request(request)
                return session.send(prepared[url], **options).content

            yield get

    return client


def _get_http_rows() -> dict[str, Factory]:
    from harness import clients

    makers = dict(clients())
    makers["ManagedSession.send(prepared)"] = _send_prepared(ManagedSession)
    makers["requests.Session.send(prepared)"] = _send_prepared(
        requests.Session, timeout=(5, 30)
    )
    makers["ManagedSession, learning off"] = _managed_learning_off
    makers["ManagedSession, timeout learned"] = _managed_learned

    def factory(
        make: Callable[[], contextlib.AbstractContextManager[Callable[[str], bytes]]],
    ) -> Factory:
        @contextlib.contextmanager
        def rows(target: Target) -> Iterator[Call]:
            with make() as get:
                yield functools.partial(get, target.http + "/small")

        return rows

    return {name: factory(make) for name, make in makers.items()}


# -- the other operations -------------------------------------------------------


def _round_robin(client: _Client, target: Target) -> Call:
    urls = itertools.cycle(target.server.urls("/small"))
    return lambda: client.get(next(urls))


def _creations() -> dict[str, Factory]:
    rows: dict[str, Factory] = {
        "ManagedSession": _plain(lambda t: lambda: ManagedSession().close()),
        "requests.Session": _plain(lambda t: lambda: requests.Session().close()),
        "urllib3.PoolManager": _plain(lambda t: lambda: urllib3.PoolManager().clear()),
    }
    if _has_httpx():
        import httpx

        rows["httpx.Client"] = _plain(lambda t: lambda: httpx.Client().close())
    return rows


def _one_shots() -> dict[str, Factory]:
    rows: dict[str, Factory] = {
        "requests_managed.get": _plain(
            lambda t: lambda: requests_managed.get(t.http + "/small").content
        ),
        "requests.get": _plain(
            lambda t: lambda: requests.get(t.http + "/small", timeout=(5, 30)).content
        ),
    }
    if _has_httpx():
        import httpx

        rows["httpx.get"] = _plain(
            lambda t: lambda: httpx.get(t.http + "/small").content
        )
    return rows


@dataclasses.dataclass(frozen=True)
class Operation:
    key: str  # what --only matches, with the client's name
    title: str
    unit: str  # what the figure is per
    base: int
    count: int  # N
    quick: int  # N with --quick
    rows: Mapping[str, Factory]
    units_per_call: int = 1
    reference: str = "requests.Session"


CHUNK = 64 * 1024
STREAMED = 16 * 1024 * 1024  # the body of /16m


def _get_https(client: _Client, target: Target) -> Call:
    return functools.partial(client.get, target.https + "/small")


def _post(size: int) -> Callable[[_Client, Target], Call]:
    body = b"x" * size
    return lambda client, target: functools.partial(
        client.post, target.http + "/small", body
    )


def _stream(client: _Client, target: Target) -> Call:
    return functools.partial(client.stream, target.http + "/16m", CHUNK)


def _new_tls(client: _Client, target: Target) -> Call:
    return functools.partial(client.get, target.https + "/close")


OPERATIONS = (
    Operation(
        "get-http", "Keep-alive GET over HTTP", "request",
        base=10, count=100, quick=30, rows=_get_http_rows(),
    ),
    Operation(
        "get-https", "Keep-alive GET over HTTPS", "request",
        base=10, count=100, quick=30, rows=_each_client(_get_https),
    ),
    Operation(
        "post-1k", "Keep-alive POST, 1 KiB body", "request",
        base=10, count=100, quick=30, rows=_each_client(_post(1024)),
    ),
    Operation(
        "post-1m", "Keep-alive POST, 1 MiB body", "request",
        base=3, count=20, quick=8, rows=_each_client(_post(1024 * 1024)),
    ),
    Operation(
        "stream-64k", "Streaming 16 MiB responses in 64 KiB chunks", "64 KiB chunk",
        base=1, count=8, quick=3, rows=_each_client(_stream),
        units_per_call=STREAMED // CHUNK,
    ),
    Operation(
        "hosts-50", "GET round-robin over 50 hosts", "request",
        base=50, count=100, quick=50, rows=_each_client(_round_robin),
    ),
    Operation(
        "create", "Client construction and close", "creation",
        base=3, count=30, quick=10, rows=_creations(),
    ),
    Operation(
        "one-shot", "One-shot get(url)", "call",
        base=3, count=20, quick=8, rows=_one_shots(), reference="requests.get",
    ),
    Operation(
        "tls-new", "New TLS connection + GET (Connection: close)", "connection",
        base=3, count=20, quick=8, rows=_each_client(_new_tls),
    ),
)  # fmt: skip
_BY_KEY = {op.key: op for op in OPERATIONS}
_CALIBRATION = Operation("calibration", "", "", 0, 0, 0, rows={})


# -- one count: a process doing `count` operations ------------------------------


def _count(op: Operation, client: str, count: int, target: Target) -> int:
    """Do ``count`` operations; return the connections the server saw opened."""
    before = target.server.connections()
    if count:
        with op.rows[client](target) as call:
            for _ in range(count):
                call()
    # The query that read ``before`` is one of the connections counted after.
    return target.server.connections() - before - 1


def _counted_fork(op: Operation, client: str, count: int, target: Target) -> int:
    """Fork a process that does ``count`` operations, reports, and exits."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        gc.enable()
        opened = 0 if op is _CALIBRATION else _count(op, client, count, target)
        os.write(
            1, (json.dumps({"pid": os.getpid(), "opened": opened}) + "\n").encode()
        )
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _forking_runner(rows: list[tuple[str, str, int, int]], cert: str, ca: str) -> None:
    """Under valgrind: fork the two processes of every row from one start-up."""
    _progress("starting the servers")
    with BenchServer(50, cert) as first, BenchServer(50, cert) as second:
        targets = Target(first, ca), Target(second, ca)
        pairs = [("calibration", "", 0, 0), *rows, ("calibration", "", 0, 0)]
        for index, (key, client, base, count) in enumerate(pairs):
            op = _CALIBRATION if key == "calibration" else _BY_KEY[key]
            if op is not _CALIBRATION:
                _progress(f"[{index}/{len(rows)}] {key}, {client}")
                # Warm up in this process, so both forks inherit the imports,
                # caches and valgrind's translations of the code they run.
                _count(op, client, 1, targets[0])
            sys.stdout.flush()
            sys.stderr.flush()
            gc.collect()
            gc.disable()
            # The same instructions between the two forks for every pair.
            pids = [
                _counted_fork(op, client, n, t)
                for n, t in zip((base, base + count), targets, strict=True)
            ]
            statuses = [os.waitpid(pid, 0)[1] for pid in pids]
            gc.enable()
            print(json.dumps({"row": index, "pids": pids, "ok": not any(statuses)}))


def _fresh_child(key: str, client: str, count: int, cert: str, ca: str) -> None:
    """Under valgrind: start from scratch and do ``count`` operations."""
    with BenchServer(50, cert) as server:
        opened = _count(_BY_KEY[key], client, count, Target(server, ca))
    print(json.dumps({"pid": os.getpid(), "opened": opened}))


def _progress(text: str) -> None:
    sys.stderr.write(f"# {text}\n")
    sys.stderr.flush()


# -- the parent: valgrind, totals, tables ---------------------------------------


@dataclasses.dataclass
class Figure:
    op: Operation
    client: str
    count: int
    per_unit: float | None = None  # None: the row failed
    opened: tuple[int, int] = (0, 0)


def _environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    # Every client is given the test CA; these would override it in requests.
    # No proxy: all traffic goes to the loopback servers.
    for name in list(env):
        if name.upper() in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} or name.lower() in {
            "http_proxy",
            "https_proxy",
            "all_proxy",
        }:
            del env[name]
    return env


def _valgrind(
    arguments: list[str], log: Callable[[str], None] | None = None
) -> tuple[dict[int, int], list[dict[str, Any]], str]:
    """Run this script under callgrind: totals by pid, JSON lines, stderr."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        *arguments,
    ]
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.PIPE, text=True, env=_environment()
        )
        assert process.stderr is not None
        errors: list[str] = []
        for line in process.stderr:
            errors.append(line)
            if log is not None and line.startswith("# "):
                log(line[2:].rstrip())
        process.wait(timeout=3600)
        out.seek(0)
        lines = [json.loads(line) for line in out if line.startswith("{")]
    stderr = "".join(errors)
    totals = {
        int(pid): int(total)
        for pid, total in re.findall(r"==(\d+)== Collected : (\d+)", stderr)
    }
    if process.returncode:
        raise RuntimeError(f"valgrind run failed:\n{stderr[-4000:]}")
    return totals, lines, stderr


def _measure_forking(
    figures: list[Figure], cert: str, ca: str, log: Callable[[str], None]
) -> float:
    rows = [(f.op.key, f.client, f.op.base, f.count) for f in figures]
    totals, lines, _ = _valgrind(["--runner", json.dumps(rows), cert, ca], log)
    opened = {line["pid"]: line["opened"] for line in lines if "pid" in line}
    pairs = {line["row"]: line for line in lines if "row" in line}

    def difference(row: int) -> int:
        first, second = pairs[row]["pids"]
        return totals[second] - totals[first]

    between, between_after = difference(0), difference(len(figures) + 1)
    if between != between_after:
        log(f"calibration moved: {between:,} then {between_after:,} instructions")
    for index, figure in enumerate(figures, start=1):
        pair = pairs.get(index)
        if pair is None or not pair["ok"]:
            log(f"failed: {figure.op.key}, {figure.client}")
            continue
        figure.opened = (opened[pair["pids"][0]], opened[pair["pids"][1]])
        figure.per_unit = (
            (difference(index) - between) / figure.count / figure.op.units_per_call
        )
    return between


def _measure_fresh(
    figures: list[Figure], cert: str, ca: str, log: Callable[[str], None]
) -> None:
    for index, figure in enumerate(figures, start=1):
        log(f"[{index}/{len(figures)}] {figure.op.key}, {figure.client}")
        counts = []
        for n in (figure.op.base, figure.op.base + figure.count):
            child = ["--child", figure.op.key, figure.client, str(n), cert, ca]
            totals, lines, _ = _valgrind(child)
            ((total,),) = [totals.values()]
            counts.append((total, lines[0]["opened"]))
        figure.opened = (counts[0][1], counts[1][1])
        figure.per_unit = (
            (counts[1][0] - counts[0][0]) / figure.count / figure.op.units_per_call
        )


def _ratio(reference: float | None, count: float) -> str:
    if reference is None:
        return "-"
    if count == reference:
        return "1.00x"
    if count < reference:
        return f"{reference / count:.2f}x fewer"
    return f"{count / reference:.2f}x more"


def format_tables(figures: list[Figure]) -> str:
    lines: list[str] = []
    for op in OPERATIONS:
        mine = [f for f in figures if f.op is op]
        if not mine:
            continue
        reference = next((f.per_unit for f in mine if f.client == op.reference), None)
        lines.append(
            f"### {op.title}: instructions per {op.unit} "
            f"(`{op.key}`, BASE {op.base}, N {mine[0].count})\n"
        )
        lines.append(
            f"| client | instructions/{op.unit} | vs {op.reference} "
            "| connections opened (BASE / BASE+N) |"
        )
        lines.append("|---|---:|---:|---:|")
        for f in mine:
            if f.per_unit is None:
                lines.append(f"| {f.client} | failed | - | - |")
                continue
            lines.append(
                f"| {f.client} | {f.per_unit:,.0f} | {_ratio(reference, f.per_unit)} "
                f"| {f.opened[0]} / {f.opened[1]} |"
            )
        lines.append("")
    return "\n".join(lines)


def _versions(mode: str) -> str:
    try:
        import httpx

        httpx_version = httpx.__version__
    except ImportError:
        httpx_version = "not installed"
    urllib3_version = getattr(urllib3, "__version__", "?")
    valgrind = subprocess.run(
        ["valgrind", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"requests-managed {requests_managed.__version__}, requests "
        f"{requests.__version__}, urllib3 {urllib3_version}, httpx "
        f"{httpx_version}, Python {platform.python_version()}, {valgrind}, "
        f"PYTHONHASHSEED=0, {mode}"
    )


def _write_certificates(folder: Path) -> tuple[str, str]:
    """A one-certificate CA and the server's key and chain, as files."""
    import trustme

    ca = trustme.CA()
    cert, bundle = folder / "server.pem", folder / "ca.pem"
    ca.issue_cert(
        "127.0.0.1", "localhost"
    ).private_key_and_cert_chain_pem.write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(bundle))
    return str(cert), str(bundle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="rows whose operation or client contains TEXT (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smaller N per operation"
    )
    parser.add_argument(
        "--requests", type=int, metavar="N", help="N for every operation"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start every counting process from scratch (slow)",
    )
    parser.add_argument("--runner", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner:
        rows = [tuple(row) for row in json.loads(args.runner[0])]
        _forking_runner(rows, args.runner[1], args.runner[2])
        return 0
    if args.child:
        key, client, count, cert, ca = args.child
        _fresh_child(key, client, int(count), cert, ca)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured", file=sys.stderr)
        return 1
    figures = [
        Figure(op, client, args.requests or (op.quick if args.quick else op.count))
        for op in OPERATIONS
        for client in op.rows
        if all(text in op.key or text in client for text in args.only)
    ]
    if not figures:
        parser.error(f"no row matches {args.only!r}")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as folder:
        cert, ca = _write_certificates(Path(folder))
        if args.fresh:
            _measure_fresh(figures, cert, ca, log)
            mode = "a fresh process per count"
        else:
            between = _measure_forking(figures, cert, ca, log)
            mode = (
                f"forked counting processes ({between:,} instructions "
                "between the forks of a pair subtracted)"
            )
    print(_versions(mode) + "\n")
    print(format_tables(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

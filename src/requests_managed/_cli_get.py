"""``requests-managed get``: one request with a ``ManagedSession``, like a small curl.

It behaves as a Unix tool: the body goes to stdout as bytes (a binary body is
refused on a terminal, as curl does), diagnostics go to stderr, a reader that
stops early (``| head -1``) ends it quietly, and the exit code says what
happened: 0 done, 1 an error, 2 a usage error, 22 an HTTP error with
``--fail`` (curl's number), 130 interrupted, 141 the reader went away
(128 + SIGPIPE, as for ``cat``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any, BinaryIO, TextIO

from ._session import ManagedSession
from ._timeouts import Timeout

__all__ = ["add_parser", "run_get"]

#: curl's exit code for an HTTP error with ``--fail``.
EXIT_HTTP_ERROR = 22
#: 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141
#: Bodies at least this large (or of unknown length) get a progress bar.
PROGRESS_FROM = 1 << 20
#: The progress bar is redrawn at most this often (seconds).
PROGRESS_EVERY = 0.1
CHUNK = 65536

# RFC 9110 §5.6.2: a method and a header name are tokens.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

EXAMPLES = """\
examples:
  requests-managed get https://example.org/
      print the status line, the headers and the body
  requests-managed get https://example.org/ | head -1
      just the status line (stops quietly when head has read enough)
  requests-managed get -H 'Accept: application/json' -H 'X-Trace: 1' URL
      add request headers (-H, repeatable)
  requests-managed get -X DELETE https://example.org/items/1
      another method (-X)
  requests-managed get -d 'name=x&n=2' URL
      POST a form body (-d; -d @FILE sends a file, -d @- stdin)
  requests-managed get --timeout 2 --total 10 URL
      2 s to connect and between reads, 10 s for the whole exchange
  requests-managed get --fail URL || echo "HTTP error"
      exit 22 on an HTTP status >= 400, printing no body
  requests-managed get -o image.png https://example.org/image.png
      save the body (a progress bar on a terminal; --no-progress for none)
  requests-managed get -o - https://example.org/image.png | file -
      binary to stdout: refused on a terminal, written as-is to a pipe
  requests-managed get --stats URL
      then a table of connection facts on stderr

exit codes: 0 done, 1 error, 2 usage error, 22 HTTP error with --fail,
130 interrupted, 141 the reader of stdout went away
"""


def _seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, got {text!r}"
        )
    return value


def _header(text: str) -> tuple[str, str]:
    """argparse type: ``'Name: value'``."""
    name, colon, value = text.partition(":")
    if not colon or not _TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(f"must be 'Name: value', got {text!r}")
    return name, value.strip()


def _method(text: str) -> str:
    """argparse type: an HTTP method (a token), sent as given."""
    if not _TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"must be an HTTP method, got {text!r}")
    return text


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``get`` subcommand to ``commands`` (argparse's subparsers)."""
    get: argparse.ArgumentParser = commands.add_parser(
        "get",
        help="send a request (GET by default) and print status, headers and body",
        description="Send one request with a ManagedSession, like a small curl: "
        "the status line and headers on stdout, then the body as bytes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    get.add_argument("url")
    get.add_argument(
        "-X",
        "--method",
        type=_method,
        default=None,
        metavar="METHOD",
        help="the request method (default: GET, or POST with -d)",
    )
    get.add_argument(
        "-H",
        "--header",
        type=_header,
        action="append",
        default=[],
        dest="headers",
        metavar="'NAME: VALUE'",
        help="a request header; repeat for more",
    )
    get.add_argument(
        "-d",
        "--data",
        default=None,
        metavar="DATA",
        help="the request body, sent as given; @FILE reads a file, @- stdin "
        "(Content-Type application/x-www-form-urlencoded unless -H sets one)",
    )
    get.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="connect and read timeout (default: 5 s connect, 30 s read)",
    )
    get.add_argument(
        "--total",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="deadline for the whole exchange, body included (default: 300 s)",
    )
    get.add_argument(
        "--fail",
        action="store_true",
        help="on an HTTP status >= 400, print no body and exit 22",
    )
    get.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="write the body to FILE ('-': stdout, even a terminal)",
    )
    get.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar with -o FILE (shown only on a terminal)",
    )
    return get


def _timeout(args: argparse.Namespace) -> Timeout:
    timeout = Timeout()
    if args.timeout is not None:
        timeout = dataclasses.replace(timeout, connect=args.timeout, read=args.timeout)
    if args.total is not None:
        timeout = dataclasses.replace(timeout, total=args.total)
    return timeout


def _body(data: str | None, stdin: IO[bytes]) -> bytes | None:
    if data is None:
        return None
    if data == "@-":
        return stdin.read()
    if data.startswith("@"):
        with open(data[1:], "rb") as file:
            return file.read()
    return data.encode()


def _error(stderr: IO[str], message: str) -> None:
    print(f"requests-managed: error: {message}", file=stderr)


def run_get(
    args: argparse.Namespace,
    *,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``get`` with parsed ``args``; returns the exit code.

    ``requests`` errors and ``ValueError`` propagate (the caller prints them
    as one line); a reader closing stdout ends it quietly with 141.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        return _run(args, stdin or sys.stdin.buffer, stdout, stderr)
    except BrokenPipeError:
        # The reader went away (`| head -1`). Point stdout at /dev/null, so
        # that flushing it at exit does not raise a second time.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass  # not a real file (a test's capture): nothing to flush
        return EXIT_BROKEN_PIPE


def _run(
    args: argparse.Namespace, stdin: BinaryIO, stdout: TextIO, stderr: IO[str]
) -> int:
    headers = dict(args.headers)
    try:
        body = _body(args.data, stdin)
    except OSError as exc:
        _error(stderr, f"cannot read the -d file: {exc}")
        return 1
    if body is not None and not any(n.lower() == "content-type" for n in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    method = args.method or ("POST" if body is not None else "GET")
    timeout = _timeout(args)
    started = time.monotonic()
    with ManagedSession(timeout=timeout) as session:
        with session.request(
            method, args.url, headers=headers, data=body, stream=True
        ) as response:
            if args.fail and response.status_code >= 400:
                _error(
                    stderr,
                    f"HTTP {response.status_code} {response.reason} from "
                    f"{response.url} (--fail)",
                )
                return EXIT_HTTP_ERROR
            out = stdout.buffer
            version = response.raw.version / 10
            head = [f"HTTP/{version:.1f} {response.status_code} {response.reason}"]
            head += [f"{name}: {value}" for name, value in response.headers.items()]
            stdout.flush()
            # requests decodes header bytes as latin-1; this gives them back
            out.write(("\n".join(head) + "\n\n").encode("latin-1", "replace"))
            out.flush()
            chunks = response.iter_content(CHUNK)
            if args.output is None or args.output == "-":
                code = _to_stdout(chunks, out, stdout, stderr, args.output == "-")
            else:
                code = _to_file(chunks, args.output, response, args, stderr)
            if code:
                return code
        if args.stats:
            _print_stats(session, args.url, response, timeout, started, stderr)
    return 0


def _to_stdout(
    chunks: Iterable[bytes],
    out: BinaryIO,
    stdout: TextIO,
    stderr: IO[str],
    forced: bool,
) -> int:
    tty = stdout.isatty()
    last = b""
    for n, chunk in enumerate(chunks):
        if n == 0 and tty and not forced and b"\0" in chunk:
            # curl's rule: a NUL byte means binary, and binary can mess up
            # a terminal. Nothing of the body was written.
            _error(
                stderr,
                "the body is binary and stdout is a terminal; save it with "
                "-o FILE, or print it anyway with -o -",
            )
            return 1
        out.write(chunk)
        last = chunk or last
    if tty and last and not last.endswith(b"\n"):
        out.write(b"\n")  # the shell prompt on a line of its own
    out.flush()
    return 0


def _to_file(
    chunks: Iterable[bytes],
    path: str,
    response: Any,
    args: argparse.Namespace,
    stderr: IO[str],
) -> int:
    length_header = response.headers.get("Content-Length", "")
    length = int(length_header) if length_header.isdigit() else None
    show = not args.no_progress and stderr.isatty()
    progress = _Progress(stderr, length) if show else None
    try:
        file = open(path, "wb")  # noqa: SIM115 (closed below, also on errors)
    except OSError as exc:
        _error(stderr, f"cannot write {path!r}: {exc.strerror}")
        return 1
    with file:
        for chunk in chunks:
            file.write(chunk)
            if progress is not None:
                progress.update(len(chunk))
    if progress is not None:
        progress.finish()
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class _Progress:
    """A one-line progress bar on a terminal, for bodies from 1 MiB (or unknown)."""

    WIDTH = 30

    def __init__(self, stream: IO[str], length: int | None) -> None:
        self.stream = stream
        self.length = length
        self.done = 0
        self.started = time.monotonic()
        self.drawn_at = -math.inf
        self.drawn = False
        # a known length below PROGRESS_FROM never shows; an unknown one
        # shows once PROGRESS_FROM bytes have arrived
        self.visible = length is None or length >= PROGRESS_FROM

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.drawn_at >= PROGRESS_EVERY:
            self.drawn_at = now
            self._draw(now)

    def finish(self) -> None:
        self._draw(time.monotonic())
        if self.drawn:  # leave the final state on its own line
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if not self.visible or (self.length is None and self.done < PROGRESS_FROM):
            return
        rate = self.done / max(now - self.started, 1e-6)
        if self.length:
            share = min(self.done / self.length, 1.0)
            filled = round(share * self.WIDTH)
            bar = "#" * filled + " " * (self.WIDTH - filled)
            text = (
                f"[{bar}] {share:4.0%} {_size(self.done)} / {_size(self.length)}"
                f"  {_size(rate)}/s"
            )
        else:
            text = f"{_size(self.done)}  {_size(rate)}/s"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.drawn = True


def _print_stats(
    session: ManagedSession,
    url: str,
    response: Any,
    timeout: Timeout,
    started: float,
    stderr: IO[str],
) -> None:
    host = session.pool_stats().for_url(response.url or url)
    closed = ", ".join(f"{r.value}={n}" for r, n in host.closed.items())
    rows = [
        ("connections opened", str(host.opened)),
        ("requests", str(host.requests)),
        ("reused", str(host.reuses)),
        ("idle now", str(host.idle)),
        ("closed", closed or "none"),
        (
            "learned idle timeout",
            "none"
            if host.learned_idle_timeout is None
            else f"{host.learned_idle_timeout:.3g} s",
        ),
        ("time to headers", f"{response.elapsed.total_seconds() * 1000:.1f} ms"),
        ("total time", f"{(time.monotonic() - started) * 1000:.1f} ms"),
        ("timeout", repr(timeout)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n-- connection stats for {response.url or url}", file=stderr)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=stderr)

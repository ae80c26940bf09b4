from __future__ import annotations

import io
import pathlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from requests_managed.cli import main

from .server import Reply, Server


def test_demo_prints_the_comparison_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "requests_managed", "demo", "-n", "50"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    connections = next(line for line in lines if line.startswith("TCP connections"))
    assert connections.split()[3:] == ["50", "1"]
    assert any(line.startswith("timeout on every request") for line in lines)


def test_demo_with_defaults_prints_the_table_within_10_seconds() -> None:
    """Issue 2, acceptance 7: the default demo (200 requests each way)."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "requests_managed", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert time.monotonic() - start < 10  # the spec's bound; ~1.5 s here
    lines = result.stdout.splitlines()
    requests_line = next(line for line in lines if line.startswith("requests "))
    assert requests_line.split()[1:] == ["200", "200"]
    connections = next(line for line in lines if line.startswith("TCP connections"))
    assert connections.split()[3:] == ["200", "1"]


def test_get_prints_response_on_stdout_and_the_stats_table_on_stderr(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(body=b"hello", headers=[("X-A", "b")])
    assert main(["get", server.url + "/", "--stats"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("HTTP/1.1 200 OK\n")
    assert "X-A: b\n" in out and out.endswith("\n\nhello")  # the body as sent
    assert "connections" not in out
    table = dict(_row(line) for line in err.splitlines()[2:])
    assert table["connections opened"] == "1"
    assert table["requests"] == "1"
    assert table["reused"] == "0"
    assert table["idle now"] == "1"
    assert table["closed"] == "none"
    assert table["learned idle timeout"] == "none"
    assert table["timeout"] == "Timeout(connect=5.0, read=30.0, total=300.0)"
    assert table["time to headers"].endswith(" ms")


def _row(line: str) -> tuple[str, str]:
    """A stats table row: the name, two or more spaces, the value."""
    name, value = re.split(r"\s{2,}", line, maxsplit=1)
    return name, value


def test_bench_outside_a_checkout_says_how_to_run_it(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "requests_managed", "bench"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "source checkout" in result.stderr
    assert "python benchmarks/run.py" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["get", "not a url"], "error"),
        (["get", "http://127.0.0.1:1/"], "error"),
    ],
)
def test_user_errors_are_one_line_and_exit_nonzero(
    args: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert phrase in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


BINARY = bytes(range(256)) * 64  # every byte value, NULs included


class FakeTerminal(io.TextIOWrapper):
    """A text stream over bytes that says it is a terminal."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def isatty(self) -> bool:
        return True

    def value(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()  # type: ignore[attr-defined,no-any-return]


def _run_cli(
    *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "requests_managed", *args],
        capture_output=True,
        input=input,
        timeout=timeout,
    )


def test_get_writes_a_binary_body_to_a_pipe_byte_for_byte(server: Server) -> None:
    server.handler = lambda request: Reply(body=BINARY)
    result = _run_cli("get", server.url)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\n\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == BINARY
    assert result.stderr == b""


def test_get_refuses_a_binary_body_on_a_terminal(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(body=BINARY)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["get", server.url]) == 1
    assert terminal.value().endswith(b"\n\n")  # the status and headers only
    (err,) = capsys.readouterr().err.splitlines()
    assert "binary" in err and "-o FILE" in err and "-o -" in err


def test_get_prints_a_binary_body_on_a_terminal_with_output_dash(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.handler = lambda request: Reply(body=BINARY)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["get", "-o", "-", server.url]) == 0
    assert terminal.value().partition(b"\n\n")[2] == BINARY + b"\n"


def test_get_text_on_a_terminal_ends_with_a_newline(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["get", server.url]) == 0
    assert terminal.value().endswith(b"\n\nok\n")


def test_get_exits_quietly_when_the_reader_goes_away(server: Server) -> None:
    """`requests-managed get URL | head -1`: no BrokenPipeError traceback."""
    server.handler = lambda request: Reply(body=b"x" * (8 << 20))
    with subprocess.Popen(
        [sys.executable, "-m", "requests_managed", "get", server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            assert process.stdout.readline().startswith(b"HTTP/1.1 200")
            process.stdout.close()  # like head -1, after its line
            err = process.stderr.read()
            assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, as for cat
        finally:
            if process.poll() is None:
                process.kill()
    assert err == b""


@pytest.mark.parametrize("option", ["--timeout", "--total"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(
    option: str, value: str
) -> None:
    result = _run_cli("get", option, value, "http://127.0.0.1:1/")
    assert result.returncode == 2
    (line,) = result.stderr.decode().splitlines()
    assert "error:" in line and option in line and repr(value) in line


def test_header_option_sends_each_header(server: Server) -> None:
    assert main(["get", "-H", "X-One: 1", "--header", "X-Two:  two ", server.url]) == 0
    (request,) = server.requests
    assert request.headers["x-one"] == "1"
    assert request.headers["x-two"] == "two"


@pytest.mark.parametrize(
    "args",
    [["-H", "no colon"], ["-H", "bad name: x"], ["-X", "GET /"], ["-X", ""]],
    ids=["header without colon", "header name", "method with space", "no method"],
)
def test_malformed_header_or_method_is_a_usage_error(args: list[str]) -> None:
    result = _run_cli("get", *args, "http://127.0.0.1:1/")
    assert result.returncode == 2
    (line,) = result.stderr.decode().splitlines()
    assert "error:" in line and repr(args[1]) in line


def test_method_option_sends_that_method(server: Server) -> None:
    assert main(["get", "-X", "DELETE", server.url + "/items/1"]) == 0
    assert [(r.method, r.target) for r in server.requests] == [("DELETE", "/items/1")]


def test_data_option_posts_the_body_as_a_form(server: Server) -> None:
    assert main(["get", "-d", "name=x&n=2", server.url]) == 0
    (request,) = server.requests
    assert (request.method, request.body) == ("POST", b"name=x&n=2")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_data_from_a_file_or_stdin_with_another_method_and_type(
    server: Server, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(BINARY)
    json_type = ["-H", "Content-Type: application/json"]
    assert main(["get", "-X", "PUT", "-d", f"@{payload}", server.url]) == 0
    result = _run_cli("get", *json_type, "-d", "@-", server.url, input=b'{"a": 1}')
    assert result.returncode == 0, result.stderr
    first, second = server.requests
    assert (first.method, first.body) == ("PUT", BINARY)
    assert (second.method, second.body) == ("POST", b'{"a": 1}')
    assert second.headers["content-type"] == "application/json"


def test_data_from_a_missing_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "-d", f"@{tmp_path / 'missing'}", "http://127.0.0.1:1/"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot read the -d file" in line


def test_total_option_bounds_the_whole_exchange(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(dribble=0.05)  # never finishes
    started = time.monotonic()
    assert main(["get", "--total", "0.5", server.url]) == 1
    assert time.monotonic() - started < 5  # 10x the deadline
    (line,) = capsys.readouterr().err.splitlines()
    assert "requests-managed: error:" in line and "deadline" in line.lower()


def test_fail_option_exits_22_on_an_http_error_and_prints_no_body(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(status=404, body=b"not here")
    assert main(["get", server.url + "/x"]) == 0  # without --fail: printed
    assert capsys.readouterr().out.startswith("HTTP/1.1 404")
    assert main(["get", "--fail", server.url + "/x"]) == 22
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert "HTTP 404" in line and "/x" in line


def test_fail_option_passes_a_success(server: Server) -> None:
    assert main(["get", "--fail", server.url]) == 0


def test_output_option_writes_the_body_to_a_file_without_progress_off_a_terminal(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(body=BINARY * 64)  # 1 MiB
    target = tmp_path / "body.bin"
    assert main(["get", "-o", str(target), server.url]) == 0
    assert target.read_bytes() == BINARY * 64
    out, err = capsys.readouterr()
    assert out.startswith("HTTP/1.1 200") and out.endswith("\n\n")  # no body
    assert err == ""


@pytest.mark.parametrize(
    ("size", "chunked", "shown"),
    [(2 << 20, False, True), (2 << 20, True, True), (1000, False, False)],
    ids=["2 MiB", "2 MiB of unknown length", "small"],
)
def test_output_option_shows_a_progress_bar_on_a_terminal_for_large_bodies(
    size: int,
    chunked: bool,
    shown: bool,
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.handler = lambda request: Reply(body=b"x" * size, chunked=chunked)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["get", "-o", str(tmp_path / "out"), server.url]) == 0
    assert (tmp_path / "out").stat().st_size == size
    progress = terminal.value().decode()
    if not shown:
        assert progress == ""
        return
    final = progress.rstrip("\n").rsplit("\r", 1)[-1]
    assert "2.0 MiB" in final and "/s" in final
    if not chunked:
        assert "100%" in final and "[" + "#" * 30 + "]" in final
    assert progress.endswith("\n")


def test_no_progress_option_hides_the_bar(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.handler = lambda request: Reply(body=b"x" * (2 << 20))
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["get", "--no-progress", "-o", str(tmp_path / "o"), server.url]) == 0
    assert terminal.value() == b""


def test_output_to_an_unwritable_path_is_one_line_and_exit_1(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "out"
    assert main(["get", "-o", str(target), server.url]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot write" in line and repr(str(target)) in line


def test_get_help_has_an_example_for_each_option() -> None:
    result = _run_cli("get", "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    examples = text[text.index("examples:") :]
    for option in ["-H", "-X", "-d", "--timeout", "--total", "--fail", "-o"]:
        assert f" {option} " in examples, option
    for option in ["--no-progress", "--stats", "| head -1", "exit codes:"]:
        assert option in examples, option


ROOT = pathlib.Path(__file__).parents[1]


def test_bench_from_a_checkout_prints_a_table_and_shows_progress() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "requests_managed",
            "bench",
            "--rounds",
            "1",
            "--scale",
            "0.01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    assert "| small GETs, sequential | ManagedSession |" in result.stdout
    assert "| 1 MiB bodies | requests.Session |" in result.stdout
    assert "round 1/1" in result.stderr  # the progress lines


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["bench", "--rounds", "0"], "--rounds must be at least 1"),
        (["bench", "--scale", "-1"], "--scale must be in"),
    ],
)
def test_bench_rejects_bad_arguments(
    args: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert phrase in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["get", "--timeout", "abc", "http://127.0.0.1:1/"],
        ["get", "--timeout", "0", "http://127.0.0.1:1/"],
        ["nope"],
        ["get"],
    ],
    ids=["bad float", "zero timeout", "unknown command", "missing url"],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "requests_managed", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["demo", "get", "bench"])
def test_every_command_has_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "requests_managed", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith(f"usage: requests-managed {command}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from requests_managed import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"requests-managed {__version__}"

from __future__ import annotations

import subprocess
import sys
import time

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


def test_get_prints_response_and_stats(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.handler = lambda request: Reply(body=b"hello", headers=[("X-A", "b")])
    assert main(["get", server.url + "/", "--stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP/1.1 200")
    assert "X-A: b" in out and "hello" in out
    assert "connections opened: 1" in out


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["get", "not a url"], "error"),
        (["get", "http://127.0.0.1:1/"], "error"),
        (["get", "http://127.0.0.1:1/", "--timeout", "-1"], "timeout"),
    ],
)
def test_user_errors_are_one_line_and_exit_nonzero(
    args: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert phrase in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_bench_prints_a_table_and_shows_progress() -> None:
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
    [["get", "--timeout", "abc", "http://127.0.0.1:1/"], ["nope"], ["get"]],
    ids=["bad float", "unknown command", "missing url"],
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

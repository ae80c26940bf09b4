"""Every ```python block in README.md and docs/*.md runs, against loopback only.

The conventions (also in docs/contributing.md):

- Each block runs on its own, in a fresh namespace that already holds the
  names in ``PREAMBLE`` below: the usual imports, a ``session``, and
  ``base`` / ``url`` / ``urls`` pointing at a loopback server started for the
  block. ``https://api.example.com`` in a block stands for that server too:
  it is replaced by ``base`` before the block runs.
- A block runs in an empty temporary directory holding a ``report.csv``.
- ``<!-- script -->`` on the line before a block: the block runs as a script
  in a new interpreter (``__name__ == "__main__"``), under the ``spawn`` and
  ``forkserver`` start methods, with ``base``, ``url`` and ``urls`` defined
  in front of it. For samples that start processes.
- ``<!-- fragment: reason -->`` on the line before a block: not run; the
  test is skipped with that reason.
- A block importing a library that is not installed (the ``compat`` extra)
  is skipped, naming it.

Sessions a block leaves open are closed after it; ``install()``, logging
levels and the working directory are restored.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import logging
import multiprocessing
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import requests_managed
from requests_managed import ManagedSession

from .server import Reply, Request, Server

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_ORIGIN = "https://api.example.com"
START_METHODS = [
    method
    for method in ("spawn", "forkserver")
    if method in multiprocessing.get_all_start_methods()
]

#: What every in-process block starts with (``base`` is filled in).
PREAMBLE = """\
import io
import requests
import requests_managed
from requests.adapters import HTTPAdapter
from urllib3.util import Retry
from requests_managed import (
    DeadlineExceeded, KeepAlivePolicy, ManagedSession, PoolLimits, Timeout,
)
base = {base!r}  # a loopback server; https://api.example.com stands for it
url = f"{{base}}/items"
urls = [f"{{base}}/items/{{n}}" for n in range(8)]
ids = range(8)
session = ManagedSession()
out = io.BytesIO()  # where samples write bodies
"""

#: What a ``<!-- script -->`` block starts with.
SCRIPT_PREAMBLE = """\
base = {base!r}  # a loopback server; https://api.example.com stands for it
url = f"{{base}}/items"
urls = [f"{{base}}/items/{{n}}" for n in range(8)]
"""

_FENCE = re.compile(r"^```python\s*$")
_MARKER = re.compile(r"^<!--\s*(fragment|script)\s*(?::\s*(.*?))?\s*-->\s*$")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'`)]*")


@dataclasses.dataclass(frozen=True)
class Sample:
    page: Path
    line: int  # of the block's first line of code, 1-based
    code: str
    kind: str  # "run", "script" or "fragment"
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def samples(page: Path) -> Iterator[Sample]:
    """The ```python blocks of ``page``, with the marker before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    previous = ""  # the last non-blank line before the current one
    index = 0
    while index < len(lines):
        if _FENCE.match(lines[index]):
            end = next(
                (i for i in range(index + 1, len(lines)) if lines[i] == "```"), None
            )
            assert end is not None, f"{page}:{index + 1}: unclosed ```python block"
            code = "\n".join(lines[index + 1 : end]) + "\n"
            marker = _MARKER.match(previous)
            kind = marker.group(1) if marker else "run"
            reason = (marker.group(2) or "") if marker else ""
            if kind == "fragment":
                assert reason, f"{page}:{index}: a fragment marker needs a reason"
            yield Sample(page, index + 2, code, kind, reason)
            index = end
        elif lines[index].strip():
            previous = lines[index].strip()
        index += 1


ALL = [sample for page in PAGES for sample in samples(page)]
RUN = [s for s in ALL if s.kind in ("run", "fragment")]
SCRIPTS = [s for s in ALL if s.kind == "script"]


def _missing_imports(code: str) -> list[str]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return sorted(name for name in found if importlib.util.find_spec(name) is None)


def _prepared(sample: Sample, base: str) -> str:
    """The block with the example origin pointed at loopback, checked."""
    code = sample.code.replace(EXAMPLE_ORIGIN, base)
    outside = [
        u
        for u in _URL.findall(code)
        # a bare "https://" is a mount() prefix, not a destination
        if not u.startswith((base, "mock://")) and not u.endswith("://")
    ]
    assert not outside, f"{sample.id}: a sample may reach only loopback: {outside}"
    if sample.kind != "fragment":
        missing = _missing_imports(code)
        if missing:
            pytest.skip(
                f"needs {', '.join(missing)}, not installed "
                "(pip install -e '.[test,compat]')"
            )
    # padded, so that tracebacks and warnings give the line in the page
    return "\n" * (sample.line - 1) + code


def _answer(request: Request) -> Reply:
    return Reply(
        body=b'{"items": [1, 2], "ok": true}\n',
        headers=[("Content-Type", "application/json")],
    )


@pytest.fixture
def docs_server() -> Iterator[Server]:
    with Server(_answer) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "report.csv").write_text("name,n\nx,1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def opened_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every ManagedSession made meanwhile, held (so none is collected
    unclosed mid-sample) and closed afterwards."""
    made: list[Any] = []
    original = ManagedSession.__init__

    @functools.wraps(original)  # keeps the signature (requests-cache reads it)
    def tracking_init(self: ManagedSession, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ManagedSession, "__init__", tracking_init)
    yield made
    for session in made:
        session.close()


@pytest.fixture
def restored_globals() -> Iterator[None]:
    """install(), logging levels and root handlers as they were."""
    loggers = [logging.getLogger(), logging.getLogger("requests_managed")]
    levels = [logger.level for logger in loggers]
    handlers = list(logging.getLogger().handlers)
    try:
        yield
    finally:
        requests_managed.uninstall()
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        logging.getLogger().handlers[:] = handlers


def _third_party(url: str) -> types.SimpleNamespace:
    """Stands for a library that calls requests.get itself."""

    def sync_everything() -> None:
        requests.get(url).raise_for_status()

    return types.SimpleNamespace(sync_everything=sync_everything)


@pytest.mark.parametrize("sample", RUN, ids=[s.id for s in RUN])
@pytest.mark.usefixtures("workdir", "restored_globals")
def test_docs_sample_runs(
    sample: Sample, docs_server: Server, opened_sessions: list[Any]
) -> None:
    if sample.kind == "fragment":
        pytest.skip(f"fragment: {sample.reason}")
    code = _prepared(sample, docs_server.url)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(PREAMBLE.format(base=docs_server.url), namespace)
    namespace["third_party"] = _third_party(namespace["url"])
    exec(compile(code, str(sample.page), "exec"), namespace)


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("sample", SCRIPTS, ids=[s.id for s in SCRIPTS])
def test_docs_script_runs_as_a_script(
    sample: Sample, method: str, docs_server: Server, workdir: Path
) -> None:
    """Under spawn and forkserver a child re-imports the main module: a
    sample that starts processes must keep its work under
    ``if __name__ == "__main__":``."""
    code = _prepared(sample, docs_server.url).lstrip("\n")
    script = workdir / "sample.py"
    script.write_text(SCRIPT_PREAMBLE.format(base=docs_server.url) + code)
    runner = (
        "import multiprocessing, runpy, sys\n"
        "multiprocessing.set_start_method(sys.argv[1])\n"
        "runpy.run_path(sys.argv[2], run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", runner, method, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert docs_server.requests_served > 0  # it did reach the loopback server


def test_docs_have_samples_of_each_kind() -> None:
    kinds = {s.kind for s in ALL}
    assert kinds == {"run", "script", "fragment"}
    assert len(ALL) > 40


def test_markers_are_recognised_and_a_fragment_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- fragment: shows a signature -->\n\n```python\nf(x)\n```\n"
        "<!-- script -->\n```python\nmain()\n```\n"
        "text\n```python\nrun()\n```\n"
        "<!--fragment-->\n```python\nx\n```\n"
    )
    found = samples(page)
    assert [(s.kind, s.reason, s.line) for s in [next(found) for _ in range(3)]] == [
        ("fragment", "shows a signature", 4),
        ("script", "", 8),
        ("run", "", 12),
    ]
    with pytest.raises(AssertionError, match="needs a reason"):
        next(found)


def test_a_sample_reaching_beyond_loopback_fails() -> None:
    sample = Sample(
        ROOT / "README.md", 1, 'requests.get("http://example.org/")\n', "run"
    )
    with pytest.raises(AssertionError, match="only loopback"):
        _prepared(sample, "http://127.0.0.1:1")


def test_the_example_origin_is_pointed_at_loopback() -> None:
    sample = Sample(ROOT / "README.md", 3, f'get("{EXAMPLE_ORIGIN}/items")\n', "run")
    assert _prepared(sample, "http://127.0.0.1:9") == (
        '\n\nget("http://127.0.0.1:9/items")\n'
    )

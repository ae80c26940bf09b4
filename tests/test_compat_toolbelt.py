"""ManagedSession with requests-toolbelt: streamed multipart uploads, BaseUrlSession."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from requests_managed import ManagedSession, Timeout

from .compat import require
from .server import Reply, Server

MultipartEncoder = require("requests_toolbelt", "requests-toolbelt").MultipartEncoder
MultipartDecoder = require(
    "requests_toolbelt.multipart.decoder", "requests-toolbelt"
).MultipartDecoder
BaseUrlSession = require(
    "requests_toolbelt.sessions", "requests-toolbelt"
).BaseUrlSession


class _CountingReads(MultipartEncoder):
    """A MultipartEncoder that records the size of each read() requests makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)  # type: ignore[no-any-return]


def _fields() -> dict[str, Any]:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    return {
        "name": "report",
        "file": ("report.bin", payload, "application/octet-stream"),
    }


def test_toolbelt_multipart_encoder_streams_to_the_server(server: Server) -> None:
    boundary = "rm-test-boundary-7f3a"
    encoder = _CountingReads(fields=_fields(), boundary=boundary)
    expected = MultipartEncoder(fields=_fields(), boundary=boundary).to_string()
    with ManagedSession() as session:
        response = session.post(
            f"{server.url}/upload",
            data=encoder,
            headers={"Content-Type": encoder.content_type},
        )
    assert response.ok
    (received,) = server.requests
    assert received.headers["content-length"] == str(len(expected))
    assert received.headers["content-type"] == encoder.content_type
    assert received.body == expected
    # streamed: read in blocks, never as one string
    assert len(encoder.reads) > 1 and all(n > 0 for n in encoder.reads)
    parts = MultipartDecoder(received.body, received.headers["content-type"]).parts
    assert [p.content for p in parts] == [b"report", bytes(range(256)) * 4096]
    disposition = parts[1].headers[b"Content-Disposition"]
    assert b'filename="report.bin"' in disposition


class BaseUrlManagedSession(ManagedSession, BaseUrlSession):
    """toolbelt's BaseUrlSession mixed in after ManagedSession, so that the
    session's keyword arguments reach ManagedSession.__init__."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url


def test_toolbelt_base_url_session_mixes_in(server: Server) -> None:
    server.handler = lambda request: Reply(never_answer=request.path == "/api/hang")
    timeout = Timeout(connect=1, read=0.3, total=5)
    with BaseUrlManagedSession(f"{server.url}/api/", timeout=timeout) as session:
        assert session.get("items", params={"page": 2}).ok
        assert session.pool_stats().total.requests == 1
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            session.get("hang")
        assert time.monotonic() - started < 3
    assert [r.target for r in server.requests] == ["/api/items?page=2", "/api/hang"]

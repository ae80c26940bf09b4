"""A foreign adapter for tests: records each request's timeout, sends nothing."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import BaseAdapter


class RecordingAdapter(BaseAdapter):
    """Answers every request with an empty 204 and remembers its ``timeout``.

    Stands for any adapter a user mounts (requests-mock's, a custom one): it
    pickles, and it shows what the session hands to adapters it does not own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def send(
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.timeouts.append(kwargs["timeout"])
        response = requests.Response()
        response.status_code = 204
        response.request = request
        response._content = b""
        return response

    def close(self) -> None:
        pass

"""Access lines in the form the platform's uvicorn server writes them."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class UvicornAccessLogger(AbstractAccessLogger):
    """``INFO:     127.0.0.1:54321 - "GET /health HTTP/1.1" 200 OK 0.003s``: uvicorn's access
    line with the request's duration (seconds) after it, for the duration histogram."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        client = f"{peer[0]}:{peer[1]}" if peer else "-"
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        version = f"{request.version.major}.{request.version.minor}"
        line = f'{client} - "{request.method} {request.path_qs} HTTP/{version}" {response.status}'
        self.logger.info("%s %s %.6fs", line, phrase, time)

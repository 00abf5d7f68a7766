"""The HTTP API's OpenAPI 3 description (``openapi.yaml`` beside this module), served as JSON
at ``GET /api/v1/openapi.json`` without the token. Tests hold the routes and the description
to each other (``tests/remediator/test_openapi.py``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import yaml
from aiohttp import web

PATH = "/api/v1/openapi.json"


@cache
def document() -> bytes:
    """The description as JSON bytes (read once)."""
    text = resources.files("remediator").joinpath("openapi.yaml").read_text()
    return json.dumps(yaml.safe_load(text)).encode()


async def serve(request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.Response(body=document(), content_type="application/json")


def add_route(app: web.Application) -> None:
    """Serve the description."""
    app.router.add_get(PATH, serve)

"""The web chat page: ``GET /`` and its files under ``GET /static/<name>``.

The page is plain HTML, CSS and JavaScript from ``trioagent/server/static`` (package data)
and talks to the server over the WebSocket chat at ``/v1/ws`` (see `routes_ws`). It is
public, as its files hold no secret: a server with API keys asks for the key in the page,
which sends it in the ``hello`` frame.

Only the files the directory holds when the app is created are served: a name is looked up
in that table, never joined to a path, so no request can reach another file.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING

import attrs
from quart import Response, request
from werkzeug.exceptions import NotFound

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from .state import ServerState

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""The types of the files we serve; a file of another type is left out."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # 'self' covers ws(s) to the same host in CSP 3; ws: wss: for browsers before it.
        "connect-src 'self' ws: wss:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The page runs only its own script: a defence in depth behind app.js escaping model text."""


@attrs.frozen
class Asset:
    """One static file, read once."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of the static directory we can serve, by name."""
    assets = {}
    for entry in (resources.files(__package__ or "trioagent.server") / "static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES and not entry.name.startswith("."):
            body = entry.read_bytes()
            assets[entry.name] = Asset(
                body=body,
                content_type=CONTENT_TYPES[suffix],
                etag=hashlib.sha256(body).hexdigest()[:20],
            )
    return assets


def asset_response(asset: Asset) -> Response:
    """``asset``, or 304 when the browser's copy is current (``no-cache`` revalidates)."""
    if asset.etag in request.if_none_match:
        response = Response(b"", status=304)
    else:
        response = Response(asset.body, status=200, content_type=asset.content_type)
    response.set_etag(asset.etag)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_page_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the web chat page and its static files to ``app`` (both APIs have them).

    Raises:
        FileNotFoundError: the package was installed without its ``static`` files.
    """
    del state  # the page learns everything (agents, auth) over the WebSocket
    assets = load_assets()
    if "index.html" not in assets:
        raise FileNotFoundError(
            "trioagent/server/static/index.html is missing: reinstall "
            "trioagent (its package data was left out)"
        )

    @app.get("/")
    async def page() -> Response:
        response = asset_response(assets["index.html"])
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/static/<name>")
    async def static_file(name: str) -> Response:
        asset = assets.get(name)
        if asset is None or name == "index.html":
            raise NotFound()
        return asset_response(asset)

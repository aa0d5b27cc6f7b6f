"""The page's own CSS, JavaScript and icons, served by the daemon at ``/static/…``.

District intranets have no internet: every asset the page uses is one of these files, none
comes from a CDN.  They are package data (``bridge/web/static``), small (a few KB each) and
never change while the daemon runs, so they are read once and served from memory — no path
from a URL ever reaches the file system.

Cache busting: :func:`url_for` gives ``/static/app.css?v=<hash>``, the first 12 hex digits
of the file's SHA-256.  A request carrying the current hash is cacheable for a year
(``immutable``); one without it, or with an old hash, gets ``no-cache`` and an ETag, so a
browser revalidates and never keeps an old file past an upgrade.

The auth middleware must let ``/static/`` and :data:`PUBLIC_PATHS` through without a login:
the login page uses them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import mimetypes
from dataclasses import dataclass
from typing import Final

from aiohttp import web

__all__ = ["PREFIX", "PUBLIC_PATHS", "Asset", "assets", "setup", "url_for"]

PREFIX: Final = "/static/"
# Served without a login, like everything under PREFIX (browsers ask for it on their own).
PUBLIC_PATHS: Final = frozenset({"/favicon.ico"})
YEAR_S: Final = 365 * 24 * 3600
_TYPES: Final = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, in memory."""

    name: str
    body: bytes
    content_type: str
    version: str  # 12 hex digits of its SHA-256

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.name}?v={self.version}"


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file of ``bridge/web/static`` (flat: no subfolders), by name."""
    found: dict[str, Asset] = {}
    root = importlib.resources.files("bridge.web") / "static"
    for entry in root.iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        suffix = "." + entry.name.rpartition(".")[2]
        kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0]
        if kind is None:
            continue
        body = entry.read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        found[entry.name] = Asset(entry.name, body, kind, version)
    return found


def url_for(name: str) -> str:
    """The versioned URL of a static file; ``KeyError`` names a file that does not exist
    (a template's typo fails its test, not in front of an operator)."""
    try:
        return assets()[name].url
    except KeyError:
        raise KeyError(f"no static file {name!r} in bridge/web/static") from None


async def _serve(request: web.Request) -> web.Response:
    asset = assets().get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    etag = f'"{asset.version}"'
    current = request.query.get("v") == asset.version
    headers = {
        "Cache-Control": f"public, max-age={YEAR_S}, immutable" if current else "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset=charset, headers=headers
    )


async def _favicon(_: web.Request) -> web.Response:
    # Browsers ask for /favicon.ico on their own; the page names its SVG icon itself.
    raise web.HTTPFound(url_for("icon.svg"))


def setup(app: web.Application) -> None:
    """Add ``GET /static/{name}`` and ``/favicon.ico`` to ``app``."""
    app.router.add_get(PREFIX + "{name}", _serve, name="static")
    app.router.add_get("/favicon.ico", _favicon)

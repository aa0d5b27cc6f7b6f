"""Server-rendered pages: one jinja2 environment and :func:`render`, which every page handler
uses to answer with a template.

Rules the environment enforces:

- autoescape on for every template (``.html`` and ``.svg`` alike): camera, grid and user
  names come from inventory files and are untrusted.  Nothing untrusted is marked safe; the
  only markup inserted whole is what gridbridge builds itself with escaping (the map's SVG,
  through its ``__html__``).
- ``StrictUndefined``: a variable a template expects and the handler forgot fails the
  render (and its test) instead of printing nothing.
- every answer carries a Content-Security-Policy with no inline script or style — templates
  link ``/static/app.css`` and ``/static/app.js`` and have no ``style=`` or ``<script>``
  bodies — plus ``nosniff``, ``Referrer-Policy: same-origin`` and ``private, no-cache``
  (pages show one user's scope).

What :func:`render` puts in every template's context: ``t`` (:class:`~bridge.web.i18n.Texts`
of the page's language: ``t("nav.grid")``, ``t.state(s)``, ``t.ago(at)``), ``lang``,
``principal`` (or ``None``), ``csrf_token`` (or ``None``), ``nav`` (the sections the
principal's role may open, with the current one marked), ``lang_url`` (the same page in the
other language), ``path``; and the global ``static(name)`` (a static file's versioned URL).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import jinja2
from aiohttp import web

from bridge.web import i18n, static_files
from bridge.web.context import PRINCIPAL_KEY
from bridge.web.principal import Principal, Role

__all__ = [
    "CSP",
    "CSRF_KEY",
    "SECURITY_HEADERS",
    "NavItem",
    "environment",
    "error_page",
    "render",
    "wants_html",
]

# The request key under which the auth middleware leaves the session's CSRF token for forms.
CSRF_KEY: Final = web.RequestKey("gridbridge.csrf", str)

CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}
LANG_COOKIE_MAX_AGE_S: Final = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str  # the strings-table key of its label: nav.grid …
    href: str
    current: bool


# Main sections, the first segment of the paths each covers, and the roles that may open it.
_SECTIONS: Final = (
    ("nav.grid", "/grid", ("grid", "camera"), (Role.ADMIN, Role.OPERATOR)),
    ("nav.map", "/map", ("map",), (Role.ADMIN, Role.OPERATOR)),
    ("nav.orders", "/orders", ("orders", "order"), (Role.ADMIN, Role.OPERATOR, Role.CREW)),
    ("nav.reports", "/reports", ("reports",), (Role.ADMIN, Role.OPERATOR)),
)


@functools.cache
def environment() -> jinja2.Environment:
    """The one environment (templates are package data: ``bridge/web/templates``)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bridge.web", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "svg", "xml"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["static"] = static_files.url_for
    return env


def navigation(principal: Principal | None, path: str) -> list[NavItem]:
    """The sections ``principal`` may open (none when nobody is signed in)."""
    if principal is None:
        return []
    first = path.strip("/").partition("/")[0]
    return [
        NavItem(key, href, first in covers)
        for key, href, covers, roles in _SECTIONS
        if principal.role in roles
    ]


def page_context(request: web.Request, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
    """The context every page shares, and whether the language cookie must be set."""
    lang, remember = i18n.choose_language(
        request.query.get("lang"), request.cookies.get(i18n.COOKIE)
    )
    principal = request.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        principal = None
    csrf = request.get(CSRF_KEY)
    other = "en" if lang == "zh" else "zh"
    context: dict[str, Any] = {
        "t": i18n.Texts(lang, now),
        "lang": lang,
        "principal": principal,
        "csrf_token": csrf if isinstance(csrf, str) and csrf else None,
        "nav": navigation(principal, request.path),
        "lang_url": str(request.rel_url.update_query(lang=other)),
        "path": request.path,
    }
    return context, remember


def render(
    request: web.Request,
    template: str | jinja2.Template,
    *,
    status: int = 200,
    now: datetime | None = None,
    compress: bool = False,
    **context: Any,
) -> web.Response:
    """Answer with ``template`` (a name in ``bridge/web/templates``, or a template made
    from this environment) rendered with the page context and ``context``.

    ``compress``: gzip when the browser takes it — for big pages without secrets next to
    reflected input (the map: 200 KB of SVG → 27 KB); pages with forms stay uncompressed
    (BREACH: a CSRF token beside text from the URL)."""
    shared, remember = page_context(request, now)
    if isinstance(template, str):
        template = environment().get_template(template)
    html = template.render({**shared, **context})
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    if compress:
        response.enable_compression()
    response.headers.update(SECURITY_HEADERS)
    response.headers["Vary"] = "Cookie"
    if remember:
        response.set_cookie(
            i18n.COOKIE,
            shared["lang"],
            max_age=LANG_COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Lax",
        )
    return response


def wants_html(request: web.Request) -> bool:
    """Whether an error for this request should be a page rather than JSON: a browser
    asking for a page, not the API."""
    if request.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("Accept", "")


_ERROR_STATUSES: Final = frozenset({400, 401, 403, 404, 500, 503})


def error_page(
    request: web.Request, status: int, *, now: datetime | None = None, text_key: str = ""
) -> web.Response:
    """A friendly page for an error status (400, 401, 403, 404, 500, 503; others are shown
    as the nearest: 4xx as 400, 5xx as 500).  It never shows a traceback or the reason;
    ``text_key`` (a strings key) replaces the status's plain words when there is a better
    one (a stale form: 请刷新页面后重试)."""
    shown = status if status in _ERROR_STATUSES else (500 if status >= 500 else 400)
    text = text_key or f"error.{shown}.text"
    return render(request, "error.html", status=status, now=now, code=shown, text_key=text)

"""Who is asking: web sessions, API tokens, the login page and CSRF (docs/auth.md).

`Auth` gives the web server a middleware (`Auth.middleware`) and the ``/login``,
``/logout`` routes (`Auth.feature`).  For every request but the public ones (``/healthz``,
``/readyz``, ``/login``, ``/static/…``) the middleware finds the principal and stores it
for `bridge.web.context.principal_of`:

- ``Authorization: Bearer gbt_…`` — an API token (`bridge.users.tokens`) of a user who is
  not disabled, or the daemon's local token (`bridge.web.cli_token`).  A bearer token that
  lets nobody in is answered 401, whatever the path.  Other schemes are ignored (a proxy's
  Basic login must not get in the way): the cookie decides then.
- else the ``gb_session`` cookie (HttpOnly, SameSite=Lax — a link from a 企业微信/钉钉 chat
  opens signed in —, Secure when ``http.public_url`` is https, Path=/), looked up by its
  SHA-256.  A session lives ``http.session_hours`` after the last request: its end (and
  the cookie's Max-Age) moves on at most every `REFRESH_EVERY`, not at every request.
- nobody: ``/api/…`` and ``/metrics`` answer 401 JSON; pages 303 to ``/login?next=…``.

CSRF: a request signed in by cookie that changes something (POST, PUT, PATCH, DELETE)
must carry the session's token — header ``X-CSRF-Token`` or form field ``csrf_token``
(pages get it from `csrf_token_of`) — else 403.  Bearer requests carry no cookie and are
exempt.  The login form itself is protected by a double-submit token: ``GET /login`` sets
the ``gb_login_csrf`` cookie (HttpOnly, SameSite=Strict) and puts the same value in the
form; ``POST /login`` needs both to agree.  (Chosen over an Origin check: older browsers
on district workstations do not always send Origin on a form post.)

``/metrics`` is for admins (403 for others).  Failed logins are limited per name and per
address (`bridge.users.ratelimit`; 429 with the minutes to wait).  Logins, failures and
locks are logged with the user name and client address — never a password, token or
session id.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from bridge.store import StoreError
from bridge.users.model import CLI_PRINCIPAL, User, UserRuleError, WebSession, check_name
from bridge.users.passwords import (
    DUMMY_HASH,
    PasswordError,
    hash_password,
    needs_rehash,
    verify_password,
)
from bridge.users.ratelimit import LoginLimiter
from bridge.users.tokens import (
    digest,
    looks_like_session_id,
    looks_like_token,
    new_csrf_token,
    new_session_id,
)
from bridge.web import health_api, i18n, static_files
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import PRINCIPAL_KEY, set_principal
from bridge.web.login_page import CSRF_FIELD, LOGIN_CSRF_COOKIE, TEXTS, as_lang, login_page
from bridge.web.principal import Principal
from bridge.web.templating import CSRF_KEY, LANG_COOKIE_MAX_AGE_S, error_page, wants_html

__all__ = [
    "AUTH",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Auth",
    "csrf_token_of",
    "safe_next",
    "session_ttl",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "gb_session"
CSRF_HEADER = "X-CSRF-Token"
PUBLIC_PATHS = health_api.PUBLIC_PATHS | {"/login"}
PUBLIC_PREFIX = static_files.PREFIX
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
REFRESH_EVERY = timedelta(minutes=5)  # a session's end moves on at most this often
TOUCH_TOKEN_EVERY = timedelta(minutes=5)  # likewise a token's last_used_at
HASHES_AT_ONCE = 2  # scrypt takes 32 MiB and ~0.1 s of a core: logins queue, checks go on
MAX_NEXT_CHARS = 2000
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # reserved characters and %: left as they are in `next`
MAX_FIELD_CHARS = 256  # a user name field longer than any name is cut before use
LOGIN_REQUIRED = "需要登录 / login required"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Who:
    principal: Principal | None = None
    session: WebSession | None = None
    session_sha256: str = ""
    session_id: str = ""
    refused: bool = False  # a bearer token that lets nobody in


class Auth:
    """Sessions, tokens and logins against the store's users; the store, settings and
    clock come from the application's `WebContext`.

    ``cli_token_sha256``: the daemon's local token (`bridge.web.cli_token`), or None.
    ``limiter`` counts failed logins (default: on the monotonic clock).  Use `middleware`
    and `feature` with `bridge.web.server.WebServer`.
    """

    def __init__(
        self, *, cli_token_sha256: str | None = None, limiter: LoginLimiter | None = None
    ) -> None:
        self._cli_token_sha256 = cli_token_sha256
        self.limiter = limiter if limiter is not None else LoginLimiter(time.monotonic)
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)

    @property
    def middleware(self) -> Middleware:
        """The middleware that sets each request's principal (after the error middleware)."""

        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._handle(request, handler)

        return authenticate

    def feature(self, app: web.Application) -> None:
        """``GET``/``POST /login`` and ``POST /logout`` (a `bridge.web.server.Feature`)."""
        app[AUTH] = self
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)

    # --- every request ----------------------------------------------------------------------

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX):
            return await handler(request)
        ctx = context_of(request)
        try:
            who = await self._identify(ctx, request)
        except StoreError as exc:
            log.warning("cannot check who is asking for %s: %s", path, exc)
            return _json_error("数据库暂不可用 / store unavailable", 503)
        principal = who.principal
        if principal is None:
            if who.refused or _is_api(path):
                return _json_error(LOGIN_REQUIRED, 401, {"WWW-Authenticate": "Bearer"})
            target = "/login?next=" + quote(request.path_qs, safe="/")
            return web.Response(status=303, headers={"Location": target})
        session = who.session
        if (
            session is not None
            and request.method in UNSAFE_METHODS
            and not await _csrf_ok(request, session.csrf_token)
        ):
            log.warning(
                "%s %s by %s refused: CSRF token missing or wrong",
                request.method, path, principal.name,
            )  # fmt: skip
            if wants_html(request):  # a stale form in a browser: say what to do
                return error_page(request, 403, text_key="error.csrf.text")
            return _json_error("请刷新页面后重试 / CSRF token missing or wrong", 403)
        if path == "/metrics" and not principal.is_admin:
            return _json_error("无权操作 / not allowed: metrics are for admins", 403)
        set_principal(request, principal)
        if session is None:
            return await handler(request)
        request[CSRF_KEY] = session.csrf_token
        if not await self._extend(ctx, who):
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # As a header: an error answer is rebuilt by the error middleware, which keeps
            # headers, not cookies set on the exception.
            probe = web.Response()
            _set_session_cookie(ctx, probe, who.session_id)
            for morsel in probe.cookies.values():
                exc.headers.add(hdrs.SET_COOKIE, morsel.OutputString())
            raise
        if not response.prepared:  # a stream sent its headers already: the next answer will
            _set_session_cookie(ctx, response, who.session_id)
        return response

    async def _identify(self, ctx: WebContext, request: web.Request) -> _Who:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            principal = await self._bearer(ctx, credentials.strip())
            if principal is None:
                log.debug("API token refused from %s", _address(request))
                return _Who(refused=True)
            return _Who(principal)
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not looks_like_session_id(session_id):
            return _Who()
        sha256 = digest(session_id)
        session = await ctx.store.session_of(sha256, ctx.now())
        if session is None or session.user.disabled:
            return _Who()
        return _Who(session.user.principal, session, sha256, session_id)

    async def _bearer(self, ctx: WebContext, token: str) -> Principal | None:
        sha256 = digest(token)
        cli = self._cli_token_sha256
        if cli is not None and hmac.compare_digest(sha256, cli):
            return CLI_PRINCIPAL
        if not looks_like_token(token):
            return None
        use = await ctx.store.token_user(sha256)
        if use is None or use.user.disabled:
            return None
        now = ctx.now()
        if use.last_used_at is None or now - use.last_used_at >= TOUCH_TOKEN_EVERY:
            try:
                await ctx.store.touch_token(use.token_id, now)
            except StoreError as exc:  # the token is good; its use time is a nicety
                log.debug("token use of %s not recorded: %s", use.user.name, exc)
        return use.user.principal

    async def _extend(self, ctx: WebContext, who: _Who) -> bool:
        """Move the session's end on when it was last moved `REFRESH_EVERY` ago or more;
        True when it was (the cookie goes out again)."""
        session = who.session
        assert session is not None
        now, ttl = ctx.now(), session_ttl(ctx)
        if now < session.expires_at - ttl + REFRESH_EVERY:
            return False
        try:
            return await ctx.store.extend_session(who.session_sha256, now + ttl)
        except StoreError as exc:  # signed in all the same, until the old end
            log.warning("session of %s not extended: %s", session.user.name, exc)
            return False

    # --- the login page ---------------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.Response:
        lang, remember = i18n.choose_language(
            request.query.get("lang"), request.cookies.get(i18n.COOKIE)
        )
        secure = secure_cookies(context_of(request))
        page = login_page(request, secure, as_lang(lang), safe_next(request.query.get("next")))
        if remember:
            page.set_cookie(
                i18n.COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, path="/", httponly=True,
                samesite="Lax",
            )  # fmt: skip
        return page

    async def _login(self, request: web.Request) -> web.Response:
        ctx = context_of(request)
        form = await request.post()
        lang = as_lang(i18n.choose_language(_field(form, "lang"), None)[0])
        next_path = safe_next(_field(form, "next"))
        username = _field(form, "username")[:MAX_FIELD_CHARS]
        password = _field(form, "password", strip=False)
        address = _address(request)
        texts = TEXTS[lang]

        def again(message: str, status: int) -> web.Response:
            secure = secure_cookies(ctx)
            return login_page(request, secure, lang, next_path, message, username, status)

        page_token = _field(form, CSRF_FIELD)
        cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not (cookie_token and hmac.compare_digest(page_token.encode(), cookie_token.encode())):
            log.info("login form from %s without its token: shown again", address)
            return again(texts["expired"], 403)
        wait_s = self.limiter.wait_s(username, address)
        if wait_s > 0:
            log.debug(
                "login of %r from %s refused: locked %.0f s more", username[:64], address, wait_s
            )
            minutes = self.limiter.wait_minutes(username, address)
            page = again(texts["locked"].format(minutes=minutes), 429)
            page.headers["Retry-After"] = str(int(wait_s) + 1)
            return page
        try:
            user = await self._check_password(ctx, username, password)
            if user is None:
                self.limiter.failed(username, address)
                now_locked = self.limiter.wait_s(username, address) > 0
                log.warning(
                    "login failed: user %r from %s%s",
                    username[:64], address, " — locked now" if now_locked else "",
                )  # fmt: skip
                return again(texts["wrong"], 200)
            if user.disabled:
                log.warning("login refused: user %s from %s is disabled", user.name, address)
                return again(texts["disabled"], 403)
            session_id = new_session_id()
            now = ctx.now()
            await ctx.store.create_session(
                digest(session_id), user.name, new_csrf_token(), now, now + session_ttl(ctx)
            )
        except StoreError as exc:
            log.warning("login of %r from %s not possible: %s", username[:64], address, exc)
            return again(texts["unavailable"], 503)
        self.limiter.succeeded(username)
        log.info("login: %s (%s) from %s", user.name, user.role.value, address)
        response = web.Response(status=303, headers={"Location": next_path})
        _set_session_cookie(ctx, response, session_id)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    async def _check_password(self, ctx: WebContext, username: str, password: str) -> User | None:
        """The user when ``password`` is right, else None.  An unknown name costs the same
        scrypt as a wrong password (nobody learns which names exist)."""
        try:
            name: str | None = check_name(username)
        except UserRuleError:
            name = None
        record = await ctx.store.login_record(name) if name else None
        hashed = record[1] if record is not None else DUMMY_HASH
        async with self._hashing:
            right = await asyncio.to_thread(verify_password, password, hashed)
        if record is None or not right:
            return None
        user = record[0]
        if needs_rehash(hashed):
            await self._rehash(ctx, user.name, password)
        return user

    async def _rehash(self, ctx: WebContext, name: str, password: str) -> None:
        """A hash of older parameters, made again now that the password is known."""
        try:
            async with self._hashing:
                hashed = await asyncio.to_thread(hash_password, password)
            await ctx.store.set_password(name, hashed, end_sessions=False)
        except (PasswordError, StoreError) as exc:
            log.info("password hash of %s not renewed: %s", name, exc)

    async def _logout(self, request: web.Request) -> web.Response:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        store = context_of(request).store
        if looks_like_session_id(session_id) and await store.end_session(digest(session_id)):
            principal = request.get(PRINCIPAL_KEY)
            name = principal.name if isinstance(principal, Principal) else "?"
            log.info("logout: %s from %s", name, _address(request))
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response


AUTH = web.AppKey("auth", Auth)


def session_ttl(ctx: WebContext) -> timedelta:
    return timedelta(hours=ctx.settings.http.session_hours)


def secure_cookies(ctx: WebContext) -> bool:
    """Cookies only over HTTPS when the page is reached by HTTPS (``http.public_url``)."""
    return ctx.settings.http.public_url.lower().startswith("https://")


def _set_session_cookie(ctx: WebContext, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(session_ttl(ctx).total_seconds()),
        path="/",
        secure=secure_cookies(ctx),
        httponly=True,
        samesite="Lax",
    )


def csrf_token_of(request: web.Request) -> str | None:
    """The CSRF token a page puts into its forms (field ``csrf_token``) or its scripts send
    (header ``X-CSRF-Token``); None for a request not signed in by cookie."""
    token = request.get(CSRF_KEY)
    return token if isinstance(token, str) else None


def safe_next(value: object) -> str:
    """Where to go after the login: a local path (``/…``, not ``//…``), else ``/``.  No
    scheme, host, backslash or control character — no open redirect.  Characters a URL
    may not carry (Chinese, spaces) come back percent-encoded."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_NEXT_CHARS:
        return "/"
    if (
        value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return quote(value, safe=URL_SAFE)  # ASCII for the Location header; %XX kept as is


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in FORM_TYPES:
        given = _field(await request.post(), CSRF_FIELD) or None
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _field(form: Mapping[str, Any], key: str, *, strip: bool = True) -> str:
    value = form.get(key)
    if not isinstance(value, str):
        return ""  # absent, or a file where text belongs
    return value.strip() if strip else value


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path == "/metrics"


def _address(request: web.Request) -> str:
    return request.remote or "?"


def _json_error(
    message: str, status: int, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": message},
        status=status,
        headers=headers,
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
    )

"""The login form (`bridge.web.auth` decides what it says): Chinese first, English on
request, in the frame of every page (``base.html``, ``app.css`` — served without a login —
and the pages' Content-Security-Policy: no inline style or script), large type and high
contrast, for older operators.  No script is needed to sign in.

The form carries a login CSRF token that must equal the ``gb_login_csrf`` cookie set with
it (a double-submit token: docs/auth.md, "CSRF").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

from aiohttp import web

from bridge.users.tokens import looks_like_session_id, new_csrf_token
from bridge.web.i18n import Texts
from bridge.web.templating import SECURITY_HEADERS, environment, page_context

__all__ = ["CSRF_FIELD", "LOGIN_CSRF_COOKIE", "TEXTS", "Lang", "as_lang", "login_page"]

LOGIN_CSRF_COOKIE = "gb_login_csrf"
CSRF_FIELD = "csrf_token"
Lang = Literal["zh", "en"]

# The login page's words; Chinese first (docs/auth.md).
TEXTS: Mapping[Lang, Mapping[str, str]] = {
    "zh": {
        "heading": "请登录",
        "username": "用户名",
        "password": "密码",
        "submit": "登录",
        "wrong": "用户名或密码错误",
        "locked": "登录失败次数过多，请 {minutes} 分钟后再试。",
        "disabled": "此账号已停用，请联系管理员。",
        "expired": "页面已过期，请重新登录。",
        "unavailable": "系统暂时无法登录，请稍后再试。",
    },
    "en": {
        "heading": "Please sign in",
        "username": "User name",
        "password": "Password",
        "submit": "Sign in",
        "wrong": "Wrong user name or password.",
        "locked": "Too many failed sign-ins: try again in {minutes} minutes.",
        "disabled": "This account is disabled: ask your administrator.",
        "expired": "The page expired: please sign in again.",
        "unavailable": "Signing in is not possible just now: please try again later.",
    },
}
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def as_lang(lang: str) -> Lang:
    return "en" if lang == "en" else "zh"


def login_page(
    request: web.Request,
    secure: bool,
    lang: Lang,
    next_path: str,
    error: str = "",
    username: str = "",
    status: int = 200,
) -> web.Response:
    """The login form, with a login CSRF token in it and in its cookie (kept when the
    browser has one: two tabs of the login page must both work); ``secure``: the cookie
    only over HTTPS."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not looks_like_session_id(token):  # the same shape: 32 random bytes
        token = new_csrf_token()
    other: Lang = "en" if lang == "zh" else "zh"
    context, _ = page_context(request)
    context.update(
        t=Texts(lang),
        lang=lang,
        lang_url=f"/login?lang={other}&next={quote(next_path, safe='/')}",
        principal=None,  # /login is public: whoever asks, the form is for signing in
        csrf_token=None,
        nav=[],
        login=TEXTS[lang],
        error=error,
        username=username,
        next=next_path,
        login_csrf_field=CSRF_FIELD,
        login_csrf_token=token,
    )
    body = environment().get_template("login.html").render(context)
    response = web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={**PAGE_HEADERS, "Content-Language": "zh-CN" if lang == "zh" else "en"},
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
    return response

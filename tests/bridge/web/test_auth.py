"""The login: the real middleware and login page (`bridge.web.auth`) on the real aiohttp server
on 127.0.0.1, over a real store (SQLite under tmp_path) with real users, tokens and sessions.
A few test routes stand for the handlers others write; the session clock is pinned."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bridge.bus.topics import Topics
from bridge.cli.commands import UserError
from bridge.cli.crew import crew_step
from bridge.fleet import Fleet
from bridge.metrics import MetricSources, build_metrics
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password, needs_rehash
from bridge.users.tokens import digest, new_api_token
from bridge.web import metrics_api
from bridge.web.app_context import WebContext
from bridge.web.auth import Auth, csrf_token_of, safe_next
from bridge.web.cli_token import cli_token_file, cli_token_path, read_cli_token
from bridge.web.context import principal_of
from bridge.web.directory import CameraDirectory
from bridge.web.server import WebServer
from tests.bridge.web.support import T0, Clock, free_port

PASSWORD = "门卫室-Pass#2026"
HOUR = 3600


# --- what handlers written by others stand for ---------------------------------------------

routes = web.RouteTableDef()
seen_steps: list[tuple[str, str, dict[str, Any]]] = []


@routes.get("/api/whoami")
async def whoami(request: web.Request) -> web.Response:
    p = principal_of(request)
    return web.json_response({"name": p.name, "role": p.role.value, "scope": p.scope})


@routes.get("/api/csrf")
async def csrf(request: web.Request) -> web.Response:
    return web.json_response({"csrf": csrf_token_of(request)})


@routes.post("/api/echo")
async def echo(request: web.Request) -> web.Response:
    return web.json_response({"by": principal_of(request).name})


@routes.post("/api/workorders/{order_id}/steps")
async def step(request: web.Request) -> web.Response:
    p = principal_of(request)
    body = await request.json()
    seen_steps.append((p.name, p.role.value, body))
    return web.json_response({"id": request.match_info["order_id"], "state": body["step"]})


@routes.get("/grid")
async def grid_page(request: web.Request) -> web.Response:
    return web.Response(text=f"grid page for {principal_of(request).name}")


@routes.post("/grid/form")
async def grid_form(request: web.Request) -> web.Response:
    return web.Response(text="done")


@routes.get("/gone")
async def gone(request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text='{"error": "gone"}', content_type="application/json")


def stand_ins(app: web.Application) -> None:
    app.add_routes(routes)


@dataclass
class Site:
    base: str
    store: Store
    clock: Clock
    auth: Auth
    data_dir: Path

    async def add(self, name: str, role: Role, scope: str | None = None) -> str:
        await self.store.add_user(User(name, role, scope, False, T0), hash_password(PASSWORD))
        token = new_api_token()
        await self.store.add_token(name, digest(token), "test")
        return token


@asynccontextmanager
async def site(
    tmp_path: Path, public_url: str = "", store_started: bool = True
) -> AsyncIterator[Site]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}", public_url=public_url),
    )
    clock = Clock()
    store = Store(sqlite_url(tmp_path / "data"), SecretBox(SecretBox.generate_key()))
    if store_started:
        await store.start()
    try:
        ctx = WebContext(
            settings=settings,
            store=store,
            directory=CameraDirectory(Fleet(Topics("gb"))),
            metrics=build_metrics(MetricSources()),
            now=clock,
        )
        with cli_token_file(settings.store.data_dir) as local:
            auth = Auth(cli_token_sha256=local)
            server = WebServer(
                ctx,
                middlewares=[auth.middleware],
                features=[auth.feature, stand_ins, metrics_api.feature],
            )
            async with server:
                yield Site(f"http://{settings.http.listen}", store, clock, auth, tmp_path / "data")
    finally:
        await store.close()


def client() -> aiohttp.ClientSession:
    # unsafe: keep cookies of an IP address (127.0.0.1); no redirects followed by default.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_cookies(r: aiohttp.ClientResponse) -> dict[str, str]:
    """name → the raw Set-Cookie header of that name."""
    out = {}
    for header in r.headers.getall("Set-Cookie", []):
        out[header.split("=", 1)[0]] = header
    return out


def form_token(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m is not None, page
    return m.group(1)


async def login(
    s: aiohttp.ClientSession, base: str, name: str, password: str = PASSWORD, next_: str = "/"
) -> aiohttp.ClientResponse:
    async with s.get(f"{base}/login") as r:
        token = form_token(await r.text())
    form = {"username": name, "password": password, "next": next_, "csrf_token": token}
    async with s.post(f"{base}/login", data=form, allow_redirects=False) as r:
        await r.read()
        return r


# --- bearer tokens ---------------------------------------------------------------------------


async def test_a_bearer_token_signs_in_its_user_unless_bad_or_disabled(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        token = await st.add("op1", Role.OPERATOR, "419901001")
        async with s.get(f"{st.base}/api/whoami", headers=bearer(token)) as r:
            assert r.status == 200
            assert await r.json() == {"name": "op1", "role": "operator", "scope": "419901001"}
            assert "Set-Cookie" not in r.headers
        for bad in (new_api_token(), "gbt_short", token + "x", "", "Basic " + token):
            async with s.get(f"{st.base}/api/whoami", headers=bearer(bad)) as r:
                assert r.status == 401, bad
                assert await r.json() == {"error": "需要登录 / login required"}
        # A bad token is 401 on a page too: an integration gets an answer, not a form.
        async with s.get(f"{st.base}/grid", headers=bearer("gbt_nope"), allow_redirects=False) as r:
            assert r.status == 401
        await st.store.set_user_disabled("op1", True)
        async with s.get(f"{st.base}/api/whoami", headers=bearer(token)) as r:
            assert r.status == 401
        await st.store.set_user_disabled("op1", False)
        async with s.get(f"{st.base}/api/whoami", headers=bearer(token)) as r:
            assert r.status == 200
        await st.store.revoke_tokens("op1")
        async with s.get(f"{st.base}/api/whoami", headers=bearer(token)) as r:
            assert r.status == 401
        # Another scheme (a proxy's Basic login) is not ours: the cookie decides, and there is none.
        basic = {"Authorization": "Basic " + base64.b64encode(b"op1:" + PASSWORD.encode()).decode()}
        async with s.get(f"{st.base}/api/whoami", headers=basic) as r:
            assert r.status == 401


async def test_a_token_use_is_recorded_at_most_every_five_minutes(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        token = await st.add("prom", Role.ADMIN)
        for minutes, expected in ((0, 0), (3, 0), (6, 6)):
            st.clock.now = T0 + timedelta(minutes=minutes)
            async with s.get(f"{st.base}/api/whoami", headers=bearer(token)) as r:
                assert r.status == 200
            use = await st.store.token_user(digest(token))
            assert use is not None
            assert use.last_used_at == T0 + timedelta(minutes=expected)


async def test_the_local_token_is_the_cli_admin_and_the_crew_commands_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRIDBRIDGE_API_TOKEN", raising=False)
    async with site(tmp_path) as st, client() as s:
        path = cli_token_path(st.data_dir)
        assert path.stat().st_mode & 0o777 == 0o600
        local = read_cli_token(st.data_dir)
        async with s.get(f"{st.base}/api/whoami", headers=bearer(local)) as r:
            assert await r.json() == {"name": "cli", "role": "admin", "scope": None}
        settings = Settings(
            store=StoreSettings(data_dir=st.data_dir),
            http=HttpSettings(listen=st.base.removeprefix("http://")),
        )
        seen_steps.clear()
        order = argparse.Namespace(
            action="accept", order_id="WO-1", actor="张师傅", note=None, token=None
        )
        assert await crew_step(order, settings) == 0
        assert "接单" in capsys.readouterr().out
        # Signed in as cli, the actor stays the one the command names.
        assert seen_steps == [("cli", "admin", {"step": "accepted", "actor": "张师傅", "note": ""})]
        # --token and the environment win over the file; a refused one says so.
        order.token = "gbt_" + "a" * 52
        with pytest.raises(UserError, match="refused the token \\(--token\\)") as refused:
            await crew_step(order, settings)
        assert refused.value.exit_code == 2
        order.token = None
        monkeypatch.setenv("GRIDBRIDGE_API_TOKEN", await st.add("crew1", Role.CREW))
        assert await crew_step(order, settings) == 0
        assert seen_steps[-1][:2] == ("crew1", "crew")
    assert not path.exists()  # removed at a clean stop
    monkeypatch.delenv("GRIDBRIDGE_API_TOKEN")
    with pytest.raises(UserError, match="is the daemon running") as missing:
        await crew_step(order, settings)
    assert missing.value.exit_code == 1


def test_the_local_token_file_is_private_atomic_and_only_ours_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with cli_token_file(tmp_path / "new") as sha256:
        token = read_cli_token(tmp_path / "new")
        assert sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert [p.name for p in (tmp_path / "new").iterdir()] == ["cli.token"]  # no temp left
    assert not (tmp_path / "new" / "cli.token").exists()
    with cli_token_file(tmp_path) as first:
        with cli_token_file(tmp_path) as second:  # a second daemon on the same data_dir
            assert first != second
        assert not (tmp_path / "cli.token").exists()
    (tmp_path / "cli.token").write_text("another daemon's\n")
    with cli_token_file(tmp_path):
        (tmp_path / "cli.token").write_text("replaced meanwhile\n")
    assert (tmp_path / "cli.token").read_text() == "replaced meanwhile\n"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with cli_token_file(blocker / "sub") as none:  # data_dir cannot be made: no local token
        assert none is None
    assert "commands on this machine need --token" in caplog.text


# --- nobody signed in ----------------------------------------------------------------------


async def test_nobody_gets_401_json_for_the_api_and_303_to_the_login_for_pages(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as st, client() as s:
        for path in ("/api/whoami", "/api/nothing-here", "/metrics"):
            async with s.get(f"{st.base}{path}") as r:
                assert r.status == 401, path
                assert r.content_type == "application/json"
                assert await r.json() == {"error": "需要登录 / login required"}
        async with s.post(f"{st.base}/api/echo", json={}) as r:
            assert r.status == 401
        async with s.get(f"{st.base}/grid/419901001?lang=en", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/login?next=/grid/419901001%3Flang%3Den"
        for path in ("/healthz", "/login", "/static/icon.svg"):
            async with s.get(f"{st.base}{path}", allow_redirects=False) as r:
                assert r.status not in (401, 303), path


# --- the login page and sessions ---------------------------------------------------------


async def test_login_sets_the_session_cookie_and_goes_next(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("张三", Role.OPERATOR, "419901001")
        async with s.get(f"{st.base}/login?next=/grid%3Fx%3D1") as r:
            assert r.status == 200
            page = await r.text()
            for word in ("用户名", "密码", "登录"):
                assert word in page
            assert 'lang="zh-CN"' in page
            assert 'name="next" value="/grid?x=1"' in page
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Cache-Control"] == "no-store"
            pre = set_cookies(r)["gb_login_csrf"]
            assert "HttpOnly" in pre
            assert "SameSite=Strict" in pre
        r = await login(s, st.base, "张三", next_="/grid?x=1")
        assert r.status == 303
        assert r.headers["Location"] == "/grid?x=1"
        cookie = set_cookies(r)["gb_session"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Path=/" in cookie
        assert f"Max-Age={12 * HOUR}" in cookie
        assert "Secure" not in cookie  # public_url is not https
        async with s.get(f"{st.base}/grid", allow_redirects=False) as r:
            assert r.status == 200
            assert await r.text() == "grid page for 张三"
        async with s.get(f"{st.base}/api/whoami") as r:
            assert (await r.json())["name"] == "张三"


async def test_the_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    async with site(tmp_path, public_url="https://gb.district.example") as st, client() as s:
        await st.add("admin", Role.ADMIN)
        async with s.get(f"{st.base}/login") as r:
            assert "Secure" in set_cookies(r)["gb_login_csrf"]
            token = form_token(await r.text())
        form = {"username": "admin", "password": PASSWORD, "csrf_token": token}
        # The jar would not send a Secure cookie over http: post with the header by hand.
        headers = {"Cookie": f"gb_login_csrf={token}"}
        async with (
            aiohttp.ClientSession() as raw,
            raw.post(f"{st.base}/login", data=form, headers=headers, allow_redirects=False) as r,
        ):
            assert r.status == 303
            assert "Secure" in set_cookies(r)["gb_session"]


async def test_english_on_request(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        async with s.get(f"{st.base}/login?lang=en") as r:
            page = await r.text()
            assert "Sign in" in page
            assert "User name" in page
            assert 'lang="en"' in page
        async with s.get(f"{st.base}/login") as r:  # the choice sticks (the lang cookie)
            assert "Sign in" in await r.text()
        r = await login(s, st.base, "nobody", "wrong-password")
        assert r.status == 200


async def test_wrong_name_or_password_gets_one_answer(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        pages = []
        for name, password in (("zhang", "wrong-password"), ("nobody", PASSWORD), ("", "")):
            async with s.get(f"{st.base}/login") as r:
                token = form_token(await r.text())
            form = {"username": name, "password": password, "csrf_token": token}
            async with s.post(f"{st.base}/login", data=form, allow_redirects=False) as r:
                assert r.status == 200
                assert "gb_session" not in set_cookies(r)
                page = await r.text()
                assert "用户名或密码错误" in page
                pages.append(page.replace(f'value="{name}"', 'value=""'))
        assert pages[0] == pages[1]  # nothing tells a wrong name from a wrong password
        async with s.get(f"{st.base}/api/whoami") as r:
            assert r.status == 401


async def test_the_login_page_escapes_what_it_is_given(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        async with s.get(f"{st.base}/login") as r:
            token = form_token(await r.text())
        form = {"username": '"><script>alert(1)</script>', "password": "x" * 9, "csrf_token": token}
        async with s.post(f"{st.base}/login", data=form) as r:
            page = await r.text()
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;" in page


async def test_the_login_form_needs_its_own_token(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        form = {"username": "zhang", "password": PASSWORD, "csrf_token": "x" * 43}
        async with (
            aiohttp.ClientSession() as fresh,  # no pre-session cookie (another site)
            fresh.post(f"{st.base}/login", data=form, allow_redirects=False) as r,
        ):
            assert r.status == 403
            assert "页面已过期" in await r.text()
            assert "gb_session" not in set_cookies(r)
        async with s.get(f"{st.base}/login") as r:
            await r.read()  # the jar has the pre-session cookie now; the form's value is wrong
        async with s.post(f"{st.base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 403
        # Two tabs of the login page: both forms work (the cookie is kept, not replaced).
        async with s.get(f"{st.base}/login") as r:
            first = form_token(await r.text())
        async with s.get(f"{st.base}/login") as r:
            assert form_token(await r.text()) == first
        form["csrf_token"] = first
        async with s.post(f"{st.base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 303


@pytest.mark.parametrize(
    ("given", "goes"),
    [
        ("/grid/419901001?lang=en", "/grid/419901001?lang=en"),
        ("/grid/张三?q=东 门", "/grid/%E5%BC%A0%E4%B8%89?q=%E4%B8%9C%20%E9%97%A8"),
        ("/grid/%E5%BC%A0", "/grid/%E5%BC%A0"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/login", "/"),
        ("", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_next_is_a_local_path_only(given: str, goes: str) -> None:
    assert safe_next(given) == goes


async def test_no_open_redirect_after_login(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        r = await login(s, st.base, "zhang", next_="//evil.example/steal")
        assert r.status == 303
        assert r.headers["Location"] == "/"
        async with s.get(f"{st.base}/login?next=https://evil.example/") as r:
            assert 'name="next" value="/"' in await r.text()


async def test_sessions_expire_and_slide_at_most_every_five_minutes(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        await login(s, st.base, "zhang")
        sid_cookie = s.cookie_jar.filter_cookies(URL(st.base))["gb_session"].value
        sha = digest(sid_cookie)

        async def ends() -> datetime:
            session = await st.store.session_of(sha, st.clock.now)
            assert session is not None
            return session.expires_at

        assert await ends() == T0 + timedelta(hours=12)
        st.clock.now = T0 + timedelta(minutes=4)
        async with s.get(f"{st.base}/api/whoami") as r:
            assert r.status == 200
            assert "gb_session" not in set_cookies(r)  # no write at every request
        assert await ends() == T0 + timedelta(hours=12)
        st.clock.now = T0 + timedelta(minutes=6)
        async with s.get(f"{st.base}/grid") as r:
            assert r.status == 200
            assert f"Max-Age={12 * HOUR}" in set_cookies(r)["gb_session"]
        assert await ends() == T0 + timedelta(minutes=6, hours=12)
        # A handler that raises still sends the refreshed cookie.
        st.clock.now = T0 + timedelta(minutes=12)
        async with s.get(f"{st.base}/gone") as r:
            assert r.status == 404
            assert "gb_session" in set_cookies(r)
        assert await ends() == T0 + timedelta(minutes=12, hours=12)
        # Unused for the whole 12 hours: over.
        st.clock.now = T0 + timedelta(minutes=12, hours=12, seconds=1)
        async with s.get(f"{st.base}/api/whoami") as r:
            assert r.status == 401
        async with s.get(f"{st.base}/grid", allow_redirects=False) as r:
            assert r.status == 303


async def test_csrf_is_needed_for_changes_by_cookie_not_by_token(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        token = await st.add("zhang", Role.ADMIN)
        await login(s, st.base, "zhang")
        async with s.get(f"{st.base}/api/csrf") as r:
            csrf = (await r.json())["csrf"]
        assert isinstance(csrf, str)
        assert len(csrf) >= 32
        async with s.post(f"{st.base}/api/echo", json={}) as r:
            assert r.status == 403
            assert "CSRF" in (await r.json())["error"]
        async with s.post(f"{st.base}/api/echo", json={}, headers={"X-CSRF-Token": "x" * 43}) as r:
            assert r.status == 403
        async with s.post(f"{st.base}/api/echo", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        async with s.post(f"{st.base}/grid/form", data={"note": "修好了"}) as r:
            assert r.status == 403
        async with s.post(f"{st.base}/grid/form", data={"csrf_token": csrf, "note": "好"}) as r:
            assert r.status == 200
            assert await r.text() == "done"
        async with aiohttp.ClientSession() as other:  # no cookie, a token: no CSRF needed
            async with other.post(f"{st.base}/api/echo", json={}, headers=bearer(token)) as r:
                assert r.status == 200
            async with other.get(f"{st.base}/api/csrf", headers=bearer(token)) as r:
                assert (await r.json())["csrf"] is None


async def test_five_failures_lock_the_login_with_429(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        await st.add("li", Role.CREW)
        for _ in range(5):
            r = await login(s, st.base, "zhang", "wrong-password")
            assert r.status == 200
        async with s.get(f"{st.base}/login") as r:
            token = form_token(await r.text())
        form = {"username": "zhang", "password": PASSWORD, "csrf_token": token}
        async with s.post(f"{st.base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 429  # even with the right password
            assert "请 15 分钟后再试" in await r.text()
            assert 890 <= int(r.headers["Retry-After"]) <= 901
            assert "gb_session" not in set_cookies(r)
        r = await login(s, st.base, "li")  # another name, same address: 5 of 20 used
        assert r.status == 303


async def test_metrics_are_for_admins(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        admin = await st.add("admin", Role.ADMIN)
        for role, scope in ((Role.OPERATOR, "419901001"), (Role.CREW, None)):
            token = await st.add(f"u-{role.value}", role, scope)
            async with s.get(f"{st.base}/metrics", headers=bearer(token)) as r:
                assert r.status == 403
                assert "admins" in (await r.json())["error"]
        async with s.get(f"{st.base}/metrics", headers=bearer(admin)) as r:
            assert r.status == 200
            assert "process_resident_memory_bytes" in await r.text()


async def test_logout_ends_the_session(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        await login(s, st.base, "zhang")
        sha = digest(s.cookie_jar.filter_cookies(URL(st.base))["gb_session"].value)
        async with s.post(f"{st.base}/logout", allow_redirects=False) as r:
            assert r.status == 403  # a cross-site form must not sign people out either
        async with s.get(f"{st.base}/api/csrf") as r:
            csrf = (await r.json())["csrf"]
        async with s.post(
            f"{st.base}/logout", data={"csrf_token": csrf}, allow_redirects=False
        ) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/login"
            assert 'gb_session=""' in set_cookies(r)["gb_session"]
        assert await st.store.session_of(sha, st.clock.now) is None
        async with s.get(f"{st.base}/grid", allow_redirects=False) as r:
            assert r.status == 303


async def test_a_disabled_user_cannot_sign_in_and_its_session_ends(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        await st.add("zhang", Role.CREW)
        await login(s, st.base, "zhang")
        await st.store.set_user_disabled("zhang", True)
        async with s.get(f"{st.base}/api/whoami") as r:
            assert r.status == 401
        async with s.get(f"{st.base}/login") as r:
            token = form_token(await r.text())
        form = {"username": "zhang", "password": PASSWORD, "csrf_token": token}
        async with s.post(f"{st.base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 403
            assert "此账号已停用" in await r.text()


async def test_an_old_hash_is_renewed_at_login(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        salt = b"0123456789abcdef"
        old_digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
        b64 = base64.b64encode
        old = f"scrypt$16384$8$1${b64(salt).decode()}${b64(old_digest).decode()}"
        await st.store.add_user(User("old", Role.CREW, None, False, T0), old)
        r = await login(s, st.base, "old")
        assert r.status == 303
        record = await st.store.login_record("old")
        assert record is not None
        assert record[1] != old
        assert not needs_rehash(record[1])
        async with s.get(f"{st.base}/api/whoami") as r:
            assert r.status == 200  # the renewal kept the new session


async def test_a_store_that_does_not_answer_is_503(tmp_path: Path) -> None:
    async with site(tmp_path, store_started=False) as st, client() as s:
        async with s.get(f"{st.base}/api/whoami", headers=bearer(new_api_token())) as r:
            assert r.status == 503
        r = await login(s, st.base, "zhang")
        assert r.status == 503
        async with s.get(f"{st.base}/healthz") as r:
            assert r.status != 401


async def test_secrets_never_reach_logs_or_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    async with site(tmp_path) as st, client() as s:
        token = await st.add("zhang", Role.ADMIN)
        local = read_cli_token(st.data_dir)
        await login(s, st.base, "zhang", "wrong-" + PASSWORD)
        await login(s, st.base, "zhang")
        sid = s.cookie_jar.filter_cookies(URL(st.base))["gb_session"].value
        for headers in (bearer(token), bearer(local), bearer(token + "x"), {}):
            async with s.get(f"{st.base}/api/whoami", headers=headers) as r:
                bodies.append(await r.text())
                bodies.append(str(r.headers))
        async with s.get(f"{st.base}/login") as r:
            bodies.append(await r.text())
        await asyncio.sleep(0)
    logs = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "login: zhang (admin) from 127.0.0.1" in logs
    assert "login failed: user 'zhang' from 127.0.0.1" in logs
    # Everything at DEBUG, the database driver's statements too: their parameters carry
    # digests and hashes, never a password, token or session id.
    for secret in (PASSWORD, token, local, sid):
        assert secret not in logs
        for body in bodies:
            assert secret not in body

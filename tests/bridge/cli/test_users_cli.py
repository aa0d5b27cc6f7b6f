"""``gridbridge users …`` through `main`, against a real store (SQLite under tmp_path) with
the demo district's grid map: passwords from stdin or a prompt, scopes checked against the
map, tokens printed once and accepted by the real login middleware; the demo's admin."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.bootstrap import build_store
from bridge.bus.topics import Topics
from bridge.cli.main import main
from bridge.demo.login import PASSWORD_FILE, demo_admin
from bridge.fleet import Fleet
from bridge.settings import HttpSettings, Settings, load_settings
from bridge.users.model import Role, User
from bridge.users.passwords import verify_password
from bridge.users.tokens import digest, looks_like_token, new_session_id
from bridge.web.app_context import WebContext
from bridge.web.auth import Auth
from bridge.web.directory import CameraDirectory
from bridge.web.server import WebServer

DEMO = Path(__file__).resolve().parents[3] / "bridge" / "demo" / "district"
TOWN = "419901001"  # 东关街道 in the demo grid map
PASSWORD = "巡检-Pass#2026"


@pytest.fixture
def cfg(tmp_path: Path) -> list[str]:
    path = tmp_path / "gridbridge.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    argv = ["--config", str(path)]
    assert main(["grid", "load", str(DEMO / "grid.geojson"), *argv]) == 0
    return argv


def settings_of(cfg: list[str]) -> Settings:
    return load_settings(Path(cfg[1]))


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored(cfg: list[str], name: str) -> tuple[User, str] | None:
    async def read() -> tuple[User, str] | None:
        async with build_store(settings_of(cfg)) as store:
            return await store.login_record(name)

    return asyncio.run(read())


def users_json(capsys: pytest.CaptureFixture[str], cfg: list[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["users", "list", "--format", "json", *cfg]) == 0
    items: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return items


def test_add_takes_the_password_from_stdin_and_list_shows_no_hash(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(
        capsys, monkeypatch, "users", "add", "张三", "--role", "operator", "--scope", TOWN, *cfg,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, out) == (0, "")
    assert "added user 张三: operator (网格员), scope 419901001" in err
    record = stored(cfg, "张三")
    assert record is not None
    user, hashed = record
    assert (user.role, user.scope, user.disabled) == (Role.OPERATOR, TOWN, False)
    assert hashed.startswith("scrypt$")
    assert verify_password(PASSWORD, hashed)
    code, _, _ = run(
        capsys, monkeypatch, "users", "add", "crew1", "--role", "crew", *cfg,
        stdin=PASSWORD + "\r\n",  # a line from Windows: the line end is not the password
    )  # fmt: skip
    assert code == 0
    record = stored(cfg, "crew1")
    assert record is not None
    assert verify_password(PASSWORD, record[1])
    items = users_json(capsys, cfg)
    assert [(i["name"], i["role"], i["scope"], i["tokens"]) for i in items] == [
        ("crew1", "crew", None, 0),
        ("张三", "operator", TOWN, 0),
    ]
    assert set(items[0]) == {"name", "role", "scope", "disabled", "tokens", "created_at"}
    code, table, _ = run(capsys, monkeypatch, "users", "list", *cfg)
    assert "网格员" in table
    code, csv_out, _ = run(capsys, monkeypatch, "users", "list", "--format", "csv", *cfg)
    assert csv_out.splitlines()[0] == "name,role,scope,disabled,tokens,created_at"
    for text in (json.dumps(items), table, csv_out):
        assert "scrypt" not in text
        assert PASSWORD not in text


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["x1", "--role", "operator", "--scope", "999999999"],
            PASSWORD,
            "--scope 999999999: no such code",
        ),
        (["x1", "--role", "operator"], PASSWORD, "an operator needs --scope"),
        (["x1", "--role", "admin", "--scope", TOWN], PASSWORD, "admin sees everything"),
        (["zhang san", "--role", "crew"], PASSWORD, "' ' is not allowed"),
        (["cli", "--role", "admin"], PASSWORD, "reserved"),
        (["x1", "--role", "crew"], "short\n", "at least 8"),
        (["x1", "--role", "crew"], "", "no password on standard input"),
        (["x1", "--role", "crew"], "x" * 1100 + "\n", "at most 1024 bytes"),
    ],
)
def test_add_refuses_bad_input_with_exit_2_and_stores_nothing(
    cfg: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    code, out, err = run(capsys, monkeypatch, "users", "add", *argv, *cfg, stdin=stdin)
    assert code == 2
    assert message in err
    assert out == ""
    assert users_json(capsys, cfg) == []


def test_add_refuses_a_name_taken(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("users", "add", "zhang", "--role", "crew", *cfg)
    assert run(capsys, monkeypatch, *args, stdin=PASSWORD)[0] == 0
    code, _, err = run(capsys, monkeypatch, *args, stdin="another-password")
    assert code == 2
    assert "exists already" in err
    record = stored(cfg, "zhang")
    assert record is not None
    assert verify_password(PASSWORD, record[1])


def test_the_prompt_asks_twice(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("sys.stdin", Terminal())
    assert main(["users", "add", "zhang", "--role", "crew", *cfg]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["users", "add", "zhang", "--role", "crew", *cfg]) == 0
    record = stored(cfg, "zhang")
    assert record is not None
    assert verify_password(PASSWORD, record[1])


async def test_a_token_is_printed_once_and_lets_its_user_in(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["users", "add", "prom", "--role", "admin", "--token", "--label", "prometheus", *cfg]
    assert await asyncio.to_thread(main, argv) == 0  # main runs a loop of its own
    out, err = capsys.readouterr()
    [token] = out.splitlines()
    assert looks_like_token(token)
    assert "shown only this once" in err
    assert token not in err
    items = await asyncio.to_thread(users_json, capsys, cfg)
    assert items[0]["tokens"] == 1
    assert token not in json.dumps(items)
    settings = settings_of(cfg)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{s.getsockname()[1]}"
    settings = settings.model_copy(update={"http": HttpSettings(listen=listen)})
    async with build_store(settings) as store:
        use = await store.token_user(digest(token))
        assert use is not None
        assert use.user.name == "prom"
        ctx = WebContext(settings, store, CameraDirectory(Fleet(Topics("gb"))))
        auth = Auth()
        server = WebServer(ctx, middlewares=[auth.middleware], features=[auth.feature])
        async with server, aiohttp.ClientSession() as session:
            url = f"http://{listen}/api/anything"
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 404  # signed in: the route just does not exist
            async with session.get(url) as r:
                assert r.status == 401
            await asyncio.to_thread(main, ["users", "revoke-tokens", "prom", *cfg])
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401
    assert "revoked 1 API token(s) of prom" in capsys.readouterr().err


def test_passwd_token_disable_enable_remove(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        run(capsys, monkeypatch, "users", "add", "li", "--role", "crew", *cfg, stdin=PASSWORD)[0]
        == 0
    )

    async def with_session() -> str:
        sid = new_session_id()
        async with build_store(settings_of(cfg)) as store:
            now = (await store.list_users())[0][0].created_at
            await store.create_session(digest(sid), "li", "x", now, now.replace(year=2100))
        return digest(sid)

    async def session_alive(sha: str) -> bool:
        async with build_store(settings_of(cfg)) as store:
            return (
                await store.session_of(sha, (await store.list_users())[0][0].created_at) is not None
            )

    sha = asyncio.run(with_session())
    code, _, err = run(capsys, monkeypatch, "users", "passwd", "li", *cfg, stdin="new-password-1\n")
    assert code == 0
    assert "must sign in again" in err
    record = stored(cfg, "li")
    assert record is not None
    assert verify_password("new-password-1", record[1])
    assert not asyncio.run(session_alive(sha))
    code, out, _ = run(capsys, monkeypatch, "users", "token", "li", "--label", "手机", *cfg)
    assert code == 0
    assert looks_like_token(out.strip())
    assert run(capsys, monkeypatch, "users", "disable", "li", *cfg)[0] == 0
    assert users_json(capsys, cfg)[0]["disabled"] is True
    assert run(capsys, monkeypatch, "users", "enable", "li", *cfg)[0] == 0
    assert users_json(capsys, cfg)[0]["disabled"] is False
    assert run(capsys, monkeypatch, "users", "remove", "li", *cfg)[0] == 0
    assert users_json(capsys, cfg) == []
    for action in ("remove", "passwd", "token", "revoke-tokens", "disable", "enable"):
        code, _, err = run(capsys, monkeypatch, "users", action, "li", *cfg, stdin=PASSWORD)
        assert code == 2, action
        assert "no user li" in err, action


async def test_the_demo_admin_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = Settings.model_validate({"store": {"data_dir": str(tmp_path / "data")}})
    async with build_store(settings) as store:
        first = await demo_admin(store, tmp_path)
        path = tmp_path / PASSWORD_FILE
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() == first
        assert await demo_admin(store, tmp_path) == first  # a --keep run: the same login
        record = await store.login_record("admin")
        assert record is not None
        assert record[0].role is Role.ADMIN
        assert verify_password(first, record[1])
        path.unlink()  # lost: a new password, and the file again
        second = await demo_admin(store, tmp_path)
        assert second != first
        record = await store.login_record("admin")
        assert record is not None
        assert verify_password(second, record[1])
        assert path.read_text().strip() == second

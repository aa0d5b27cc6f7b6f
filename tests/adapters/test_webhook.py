"""post_json against real HTTP servers on 127.0.0.1:0 (aiohttp): receivers that accept,
refuse, stall, ramble, redirect, and robots that answer like 企业微信 and 钉钉 do.

The 钉钉 test robot checks "加签" by recomputing the HMAC from the platform's documented
recipe, written here independently of ``adapters.webhook``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from adapters.webhook import (
    DeliveryError,
    dingtalk_signed_url,
    json_signature_headers,
    post_json,
)

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"  # a 企业微信-style robot key
TOKEN = "0c23c0ffee4e1d5f6b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
BODY = json.dumps({"msgtype": "markdown", "markdown": {"content": "**工单**"}}).encode()
TIMEOUT_S = 2.0
SLACK_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``base = await serve(handler)``: an aiohttp server on 127.0.0.1:0 answering every
    method on every path with ``handler``; ``base`` is its http URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        # No access log: it would print the test receiver's view of the URL (key included).
        runner = web.AppRunner(
            app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (KEY, TOKEN, SECRET):
            assert secret not in text


async def failure(session: aiohttp.ClientSession, url: str, **kwargs: object) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await post_json(session, url, BODY, timeout_s=TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    assert_no_secret(str(caught.value), repr(caught.value))
    return caught.value


async def test_accepted_post_sends_json_and_returns_the_reply(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.content_type, await request.read()))
        return web.Response(status=202, text="queued")

    base = await serve(handler)
    reply = await post_json(session, f"{base}/hook?key={KEY}", BODY, timeout_s=TIMEOUT_S)
    assert (reply.status, reply.body, reply.truncated) == (202, b"queued", False)
    assert seen == [("POST", "application/json", BODY)]


@pytest.mark.parametrize(
    ("status", "retryable", "target_fault"),
    [
        (500, True, False),
        (502, True, False),
        (503, True, False),
        (408, True, False),
        (429, True, False),
        (400, False, False),
        (413, False, False),
        (401, False, True),
        (403, False, True),
        (404, False, True),
    ],
)
async def test_status_decides_retry(
    serve: Serve, session: aiohttp.ClientSession, status: int, retryable: bool, target_fault: bool
) -> None:
    async def handler(request: web.Request) -> web.Response:
        # A receiver that echoes the request URL (key included) in its error page.
        return web.Response(status=status, text=f"no: {request.url}")

    base = await serve(handler)
    error = await failure(session, f"{base}/hook?key={KEY}")
    assert (error.retryable, error.target_fault, error.status) == (retryable, target_fault, status)
    assert error.code == "http"
    assert str(status) in str(error)


async def test_retry_after_is_kept(serve: Serve, session: aiohttp.ClientSession) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "30"})

    error = await failure(session, await serve(handler))
    assert error.retryable
    assert error.retry_after_s == 30.0


async def test_silent_receiver_ends_at_the_deadline(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    base = await serve(handler)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        await post_json(session, f"{base}/?key={KEY}", BODY, timeout_s=0.3)
    assert time.monotonic() - started < 0.3 + SLACK_S
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


async def test_dripping_reply_ends_at_the_deadline(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """One byte every 0.2 s of a 2xx reply: the deadline still holds.  The receiver may
    have taken the message, but only a retry can make sure (at least once)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        while True:
            await response.write(b" ")
            await asyncio.sleep(0.2)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        await post_json(session, await serve(handler), BODY, timeout_s=0.5)
    assert time.monotonic() - started < 0.5 + SLACK_S
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


async def test_endless_reply_is_cut_at_the_cap(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(10_000):  # 640 MiB if anyone read it all
            await response.write(chunk)
        return response

    reply = await post_json(
        session, await serve(handler), BODY, timeout_s=TIMEOUT_S, max_reply_bytes=1000
    )
    assert (reply.status, len(reply.body), reply.truncated) == (200, 1000, True)


async def test_refused_port_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await failure(session, f"http://127.0.0.1:{port}/send?key={KEY}")
    assert (error.code, error.retryable) == ("unreachable", True)


async def test_connection_closed_without_reply_is_retryable(
    session: aiohttp.ClientSession,
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        error = await failure(session, f"http://127.0.0.1:{port}/send?key={KEY}")
    assert (error.code, error.retryable) == ("unreachable", True)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "not a url"])
async def test_only_http_urls(session: aiohttp.ClientSession, url: str) -> None:
    error = await failure(session, url)
    assert (error.retryable, error.target_fault) == (False, True)


async def test_redirect_followed_only_on_the_same_host(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    bodies: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/old":
            return web.Response(status=308, headers={"Location": f"/new?{request.query_string}"})
        if request.path == "/away":
            return web.Response(status=307, headers={"Location": "http://localhost:1/x"})
        if request.path == "/moved":
            return web.Response(status=301, headers={"Location": "/new"})
        bodies.append(await request.read())
        return web.Response(text="ok")

    base = await serve(handler)
    await post_json(session, f"{base}/old?key={KEY}", BODY, timeout_s=TIMEOUT_S)
    assert bodies == [BODY]  # re-sent to the new place
    away = await failure(session, f"{base}/away?key={KEY}")
    moved = await failure(session, f"{base}/moved?key={KEY}")
    assert not away.retryable
    assert not moved.retryable
    assert "another host" in str(away)
    assert "301" in str(moved)
    assert bodies == [BODY]


# --- 企业微信 group robot -------------------------------------------------------------


def wecom_robot(errcode: int, errmsg: str) -> Handler:
    """A robot answering like 企业微信: HTTP 200, the outcome in errcode.  Its errmsg
    quotes the key, as a hostile or careless receiver might."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        text = errmsg.replace("{key}", request.query.get("key", ""))
        return web.json_response({"errcode": errcode, "errmsg": text})

    return handler


async def test_wecom_ok(serve: Serve, session: aiohttp.ClientSession) -> None:
    base = await serve(wecom_robot(0, "ok"))
    reply = await post_json(
        session,
        f"{base}/cgi-bin/webhook/send?key={KEY}",
        BODY,
        timeout_s=TIMEOUT_S,
        platform="wecom",
    )
    assert reply.status == 200


@pytest.mark.parametrize(
    ("errcode", "retryable", "target_fault"),
    [(45009, True, False), (-1, True, False), (93000, False, True), (40058, False, False)],
)
async def test_wecom_errcodes(
    serve: Serve, session: aiohttp.ClientSession, errcode: int, retryable: bool, target_fault: bool
) -> None:
    base = await serve(wecom_robot(errcode, "invalid webhook url {key}, hint: [1755605200]"))
    error = await failure(session, f"{base}/cgi-bin/webhook/send?key={KEY}", platform="wecom")
    assert (error.errcode, error.retryable, error.target_fault) == (
        errcode,
        retryable,
        target_fault,
    )
    assert f"errcode {errcode}" in str(error)
    assert (error.retry_after_s == 60.0) == (errcode == 45009)


async def test_robot_url_that_is_no_robot(serve: Serve, session: aiohttp.ClientSession) -> None:
    async def portal(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    error = await failure(session, f"{await serve(portal)}/?key={KEY}", platform="wecom")
    assert (error.retryable, error.target_fault) == (False, True)


# --- 钉钉 custom robot with 加签 -------------------------------------------------------


def dingtalk_robot(secret: str, *, errcode: int = 0) -> Handler:
    """A robot checking 加签 like 钉钉: sign = urlencode(base64(HMAC-SHA256(secret,
    timestamp + "\\n" + secret))), timestamp in ms within an hour of its clock."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        if request.query.get("access_token") != TOKEN:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        stamp = request.query.get("timestamp", "")
        key = secret.encode()
        expected = base64.b64encode(
            hmac.new(key, f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        fresh = stamp.isdigit() and abs(int(stamp) - time.time() * 1000) < 3_600_000
        if not fresh or not hmac.compare_digest(request.query.get("sign", ""), expected):
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        return web.json_response({"errcode": errcode, "errmsg": "ok" if not errcode else "x"})

    return handler


async def test_dingtalk_signature_is_accepted(serve: Serve, session: aiohttp.ClientSession) -> None:
    base = await serve(dingtalk_robot(SECRET))
    now_ms = int(time.time() * 1000)
    url = dingtalk_signed_url(f"{base}/robot/send?access_token={TOKEN}", SECRET, now_ms)
    reply = await post_json(session, url, BODY, timeout_s=TIMEOUT_S, platform="dingtalk")
    assert reply.status == 200


async def test_dingtalk_wrong_secret_is_a_target_fault(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    base = await serve(dingtalk_robot(SECRET))
    now_ms = int(time.time() * 1000)
    url = dingtalk_signed_url(f"{base}/robot/send?access_token={TOKEN}", SECRET + "x", now_ms)
    error = await failure(session, url, platform="dingtalk")
    assert (error.errcode, error.retryable, error.target_fault) == (310000, False, True)


async def test_dingtalk_too_fast_is_retryable(serve: Serve, session: aiohttp.ClientSession) -> None:
    base = await serve(dingtalk_robot(SECRET, errcode=130101))
    url = dingtalk_signed_url(
        f"{base}/robot/send?access_token={TOKEN}", SECRET, int(time.time() * 1000)
    )
    error = await failure(session, url, platform="dingtalk")
    assert (error.errcode, error.retryable, error.retry_after_s) == (130101, True, 60.0)


# --- generic receivers: signature headers ----------------------------------------------


async def test_json_signature_verifies(serve: Serve, session: aiohttp.ClientSession) -> None:
    verdicts: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers["X-Gridbridge-Timestamp"]
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        verdicts.append(request.headers["X-Gridbridge-Signature"] == f"sha256={mac.hexdigest()}")
        return web.Response(status=204)

    headers = json_signature_headers(SECRET, BODY, int(time.time()))
    await post_json(session, await serve(handler), BODY, headers=headers, timeout_s=TIMEOUT_S)
    assert verdicts == [True]


async def test_nothing_secret_is_logged(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = await serve(wecom_robot(93000, "bad key {key}"))
    echoed = await failure(session, f"{base}/send?key={KEY}", platform="wecom")
    assert "bad key ***" in str(echoed)  # the robot did quote the key: it was masked
    ding = await serve(dingtalk_robot(SECRET))
    url = dingtalk_signed_url(f"{ding}/send?access_token={TOKEN}", "wrong", 1)
    await failure(session, url, platform="dingtalk")
    assert_no_secret(caplog.text)

"""Work-order webhooks: what each kind of target receives (`render`, pure) and the delivery
loop (`WebhookSender`) against real HTTP receivers on 127.0.0.1, with a fake clock so that
a five-minute outage takes milliseconds, and an in-memory `WebhookQueue`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridge.webhook_sender import RetryRules, WebhookSender, WebhookTarget, retry_delay_s
from bridge.workorders.webhook_format import ROBOT_MAX_BYTES, SCHEMA, render

KEY = "693a91f6-7aac-4bc4-97a0-0ec2b1fa5aaa"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
OUTAGE = timedelta(minutes=5)
REAL_DEADLINE_S = 20.0  # real seconds a whole delivery scenario may take
NO_JITTER = 0.5  # rand() giving the exact backoff

EVENT: dict[str, Any] = {
    "order_id": "WO-20261127-3F2A9C01",
    "event": "opened",
    "step": "open",
    "step_zh": "派单",
    "kind": "network",
    "kind_zh": "网络故障",
    "priority": "key",
    "priority_zh": "重点部位",
    "cameras": [
        {
            "id": "32100200001320000007",
            "name": "张塘社区东门",
            "address": "广陵区东关街88号",
            "grid_path": ["东关街道", "张塘社区", "网格3"],
        }
    ],
    "upstream": None,
    "faults": ["unreachable"],
    "faults_zh": ["网络不通"],
    "opened_at": "2026-11-27T13:40:00+00:00",
    "respond_by": "2026-11-27T15:40:00Z",
    "repair_by": "2026-11-28T13:40:00",  # naive: read as UTC
    "at": "2026-11-27T13:40:00+00:00",
    "actor": "system",
    "note": None,
    "snapshot_url": "http://10.1.2.3:8080/api/snapshots/32100200001320000007.jpg",
    "web_url": "http://10.1.2.3:8080/orders/WO-20261127-3F2A9C01",
}


def robot_text(kind: str, event: dict[str, Any]) -> str:
    message = json.loads(render(kind, event))  # type: ignore[arg-type]
    assert message["msgtype"] == "markdown"
    markdown = message["markdown"]
    return str(markdown["content"] if kind == "wecom" else markdown["text"])


# --- render ------------------------------------------------------------------------------


def test_json_is_the_event_with_its_schema() -> None:
    body = render("json", {**EVENT, "schema": "spoofed"})
    assert body.startswith(b'{"schema":"gridbridge.workorder_event/1"')
    assert "张塘社区东门".encode() in body  # UTF-8, not \\u escapes
    assert json.loads(body) == {**EVENT, "schema": SCHEMA}


def test_wecom_markdown_puts_the_important_line_first_in_china_time() -> None:
    lines = robot_text("wecom", EVENT).split("\n")
    assert lines[0] == "**【派单】东关街道 张塘社区 网格3 — 网络不通**"
    assert lines[1] == "工单 WO-20261127-3F2A9C01 ｜ 重点部位 ｜ 网络故障"
    assert lines[2] == "摄像机：张塘社区东门（32100200001320000007） ｜ 广陵区东关街88号"
    assert (
        lines[3] == "派单 11-27 21:40 ｜ 响应时限 11-27 23:40 ｜ 修复时限 11-28 21:40（北京时间）"
    )
    assert lines[4] == "处理人：system"
    assert lines[5].startswith("[查看工单](http://10.1.2.3:8080/orders/WO-20261127-3F2A9C01)")


def test_dingtalk_markdown_has_a_title_and_paragraphs() -> None:
    message = json.loads(render("dingtalk", EVENT))
    assert message["markdown"]["title"] == "【派单】东关街道 张塘社区 网格3 — 网络不通"
    text = message["markdown"]["text"]
    assert text.startswith("**【派单】东关街道 张塘社区 网格3 — 网络不通**\n\n工单 ")
    assert "工单" in text  # the keyword to configure when the robot uses 自定义关键词


def test_step_events_take_their_step_label_and_name_the_current_step() -> None:
    step = {**EVENT, "event": "step", "step": "accepted", "step_zh": "接单", "actor": "王师傅"}
    lines = robot_text("wecom", step).split("\n")
    assert lines[0].startswith("**【接单】")
    escalated = robot_text("wecom", {**step, "event": "escalated"}).split("\n")
    assert escalated[0].startswith("**【超时升级】")
    assert escalated[1].endswith("｜ 当前：接单")
    # A reopened order says 返修, the word the crews' list, the page and the export use.
    reopened = robot_text("wecom", {**EVENT, "event": "reopened"})
    assert reopened.startswith("**【返修】")


def test_people_cannot_inject_markup_or_lines() -> None:
    note = "已到场\n**【结案】** 点[这里](http://evil.example/x)<font color=warning>"
    text = robot_text("wecom", {**EVENT, "note": note, "web_url": "javascript:alert(1)"})
    assert "http://evil.example/x)" in text  # the text stays, inert
    assert "](http://evil" not in text
    assert "<font" not in text
    assert text.count("\n") == 5  # six lines, as without a note: none of its own
    assert "javascript:" not in text


def test_upstream_order_lists_cameras_up_to_the_cap() -> None:
    cameras = [
        {
            "id": f"C{i:04d}",
            "name": f"张塘社区第{i}路摄像机" + "长" * 30,
            "grid_path": f"东关街道/张塘社区/网格{i % 3}",
        }
        for i in range(400)
    ]
    event = {
        **EVENT,
        "kind": "upstream",
        "kind_zh": "上游设备故障",
        "cameras": cameras,
        "upstream": "NVR-03",
        "note": "说明" * 3000,
    }
    for kind in ("wecom", "dingtalk"):
        text = robot_text(kind, event)
        assert len(text.encode()) <= ROBOT_MAX_BYTES
        first = text.split("\n")[0]
        assert first == "**【派单】东关街道 张塘社区 — 网络不通（400路）**"
        assert "摄像机 400 路：" in text
        assert "…等390路" in text
        assert "上游设备：NVR-03" in text


def test_cap_holds_however_long_the_fields() -> None:
    event = {**EVENT, "faults_zh": ["很长的故障名称" * 50] * 50, "order_id": "W" * 5000}
    event["cameras"] = [{"id": "x" * 5000, "name": "名" * 5000, "grid_path": ["网" * 99] * 99}]
    for kind in ("wecom", "dingtalk"):
        assert len(robot_text(kind, event).encode()) <= ROBOT_MAX_BYTES


# --- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_to_the_ceiling_with_jitter() -> None:
    rules = RetryRules(first_delay_s=5, max_delay_s=600, jitter=0.2)
    exact = [retry_delay_s(rules, n, NO_JITTER, None) for n in range(1, 10)]
    assert exact == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert retry_delay_s(rules, 1, 0.0, None) == pytest.approx(4.0)
    assert retry_delay_s(rules, 1, 0.999999, None) == pytest.approx(6.0)
    assert retry_delay_s(rules, 1, NO_JITTER, 60.0) == 60.0  # a robot's rate window
    assert retry_delay_s(rules, 1, NO_JITTER, 86400.0) == 600.0


# --- the delivery loop ---------------------------------------------------------------------


class FakeClock:
    """Sleeps advance the time at once; idle waits wait for a notify() in real time."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)  # 钉钉 checks the signing time against real time
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await event.wait()


@dataclass
class Item:
    id: int
    target: str
    body: bytes
    next_at: datetime
    state: str = "pending"
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    settled_at: datetime | None = None


class MemoryQueue:
    """`WebhookQueue` in memory, with the contract the store must keep."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.items: list[Item] = []

    def put(self, target: str, body: bytes) -> int:
        item = Item(len(self.items) + 1, target, body, self.clock.now())
        self.items.append(item)
        return item.id

    def of(self, target: str) -> list[Item]:
        return [i for i in self.items if i.target == target]

    async def due(self, target: str, limit: int, now: datetime) -> list[tuple[int, bytes]]:
        pending = [i for i in self.of(target) if i.state == "pending"]
        if not pending or pending[0].next_at > now:
            return []
        return [(i.id, i.body) for i in pending[:limit]]

    def _item(self, item_id: int) -> Item:
        item = self.items[item_id - 1]
        assert item.state == "pending", f"item {item_id} settled twice"
        return item

    async def delivered(self, item_id: int, at: datetime) -> None:
        item = self._item(item_id)
        item.state, item.settled_at = "delivered", at

    async def retry(self, item_id: int, next_at: datetime, attempts: int, error: str) -> None:
        item = self._item(item_id)
        assert attempts == item.attempts + 1
        item.next_at, item.attempts = next_at, attempts
        item.errors.append(error)

    async def failed(self, item_id: int, at: datetime, error: str) -> None:
        item = self._item(item_id)
        item.state, item.settled_at = "failed", at
        item.errors.append(error)


Decide = Callable[[bytes], Awaitable[web.StreamResponse]]


class Receiver:
    """A real HTTP receiver on 127.0.0.1 whose answer ``decide(body)`` picks; it records
    the bodies it accepted (2xx, errcode 0) with the fake time of their arrival."""

    def __init__(self, clock: FakeClock, decide: Decide) -> None:
        self.clock = clock
        self.decide = decide
        self.accepted: list[tuple[datetime, bytes]] = []
        self.requests: list[web.Request] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(request)
        response = await self.decide(body)
        if response.status == 200 and getattr(response, "text", None) == '{"errcode":0}':
            self.accepted.append((self.clock.now(), body))
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = f"/cgi-bin/webhook/send?key={KEY}") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def ok() -> web.Response:
    return web.Response(text='{"errcode":0}', content_type="application/json")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> MemoryQueue:
    return MemoryQueue(clock)


@pytest.fixture
async def receivers(clock: FakeClock) -> AsyncIterator[Callable[[Decide], Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def make(decide: Decide) -> Receiver:
        receiver = Receiver(clock, decide)
        await receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


@contextlib.asynccontextmanager
async def running(sender: WebhookSender) -> AsyncIterator[None]:
    task = asyncio.create_task(sender.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(REAL_DEADLINE_S):
        while not condition():  # noqa: ASYNC110 (state of fakes, no event to wait on)
            await asyncio.sleep(0.005)


def bodies(n: int, tag: str = "") -> list[bytes]:
    return [render("wecom", {**EVENT, "order_id": f"WO-{tag}{i:03d}"}) for i in range(n)]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="bridge.webhook_sender")
    yield caplog
    for text in (caplog.text, *(str(r.args) for r in caplog.records)):
        assert KEY not in text
        assert SECRET not in text


def ours(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bridge.webhook_sender" and r.levelno == level
    ]


@pytest.mark.parametrize("outage", ["503", "hangup", "refused"])
async def test_receiver_down_five_minutes_loses_nothing(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
    logs: pytest.LogCaptureFixture,
    outage: str,
) -> None:
    """The acceptance test of the issue: the receiver refuses for 5 minutes (fake time),
    then every event is delivered, in order, exactly once — also those queued meanwhile."""
    back_at = clock.now() + OUTAGE
    receiver: Receiver

    async def decide(body: bytes) -> web.StreamResponse:
        if clock.now() < back_at:
            if outage == "hangup":  # drop the connection (RST), no reply at all
                transport = receiver.requests[-1].transport
                assert transport is not None
                transport.abort()
            return web.Response(status=503, text="maintenance")
        return ok()

    receiver = await receivers(decide)
    if outage == "refused":  # nothing listens on the port until the 5 minutes are over
        await receiver.stop()
    before, during = bodies(10, "a"), bodies(5, "b")
    for body in before:
        queue.put("crew", body)
    target = WebhookTarget("crew", "wecom", receiver.url(), min_interval_s=3.0, timeout_s=2.0)
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, queue, [target], clock=clock, rand=lambda: NO_JITTER)
        async with running(sender):
            await until(lambda: queue.items[0].attempts >= 3)
            for body in during:
                queue.put("crew", body)
                sender.notify("crew")
            if outage == "refused":
                await until(lambda: clock.now() >= back_at)
                await receiver.start()  # same port
            await until(lambda: all(i.state != "pending" for i in queue.items))
        status = sender.status()["crew"]
    assert [body for _, body in receiver.accepted] == before + during  # in order, once
    assert (status.delivered, status.given_up, status.down_since) == (15, 0, None)
    assert status.failed_attempts == queue.items[0].attempts
    assert all(i.state == "delivered" for i in queue.items)
    assert all(at >= back_at for at, _ in receiver.accepted)
    head = queue.items[0]
    expected = {"503": "HTTP 503", "hangup": "connection closed", "refused": "cannot connect"}
    assert all(expected[outage] in error for error in head.errors)
    assert head.attempts >= 6  # 5+10+20+40+80+160 s of backoff cover the 5 minutes
    assert all(i.attempts == 0 for i in queue.items[1:])  # nobody overtook the head
    gaps = [
        (b - a).total_seconds()
        for (a, _), (b, _) in zip(receiver.accepted, receiver.accepted[1:], strict=False)
    ]
    assert min(gaps) >= 3.0  # min_interval_s
    assert len(ours(logs, logging.WARNING)) == 1  # once per outage, not per attempt
    (recovered,) = ours(logs, logging.INFO)
    assert "answering again" in recovered
    assert not ours(logs, logging.ERROR)


async def test_a_target_has_its_own_backoff(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
) -> None:
    """``retry_first_s`` / ``retry_max_s`` of a target: its tries are that far apart (the
    waits the queue is told: 2, 4, 8, 8, 8 s), the sender's defaults for the others."""

    async def down(body: bytes) -> web.StreamResponse:
        return web.Response(status=503, text="maintenance")

    receiver = await receivers(down)
    queue.put("quick", b'{"n": 1}')
    waits: list[float] = []
    retry = queue.retry

    async def noted(item_id: int, next_at: datetime, attempts: int, error: str) -> None:
        waits.append((next_at - clock.now()).total_seconds())
        await retry(item_id, next_at, attempts, error)

    queue.retry = noted  # type: ignore[method-assign]
    target = WebhookTarget(
        "quick", "json", receiver.url("/hook"), min_interval_s=0, retry_first_s=2, retry_max_s=8
    )
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, queue, [target], clock=clock, rand=lambda: NO_JITTER)
        async with running(sender):
            await until(lambda: len(waits) >= 5)
    assert waits[:5] == [2.0, 4.0, 8.0, 8.0, 8.0]


async def test_refused_message_is_given_up_and_the_next_goes(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
    logs: pytest.LogCaptureFixture,
) -> None:
    async def decide(body: bytes) -> web.StreamResponse:
        if b"BAD" in body:
            return web.json_response({"errcode": 40058, "errmsg": "markdown.content exceed"})
        return ok()

    receiver = await receivers(decide)
    items = [b'{"n":1}', b'{"n":"BAD"}', b'{"n":3}']
    for body in items:
        queue.put("crew", body)
    target = WebhookTarget("crew", "wecom", receiver.url(), min_interval_s=0)
    async with (
        aiohttp.ClientSession() as session,
        running(WebhookSender(session, queue, [target], clock=clock)),
    ):
        await until(lambda: all(i.state != "pending" for i in queue.items))
    assert [i.state for i in queue.items] == ["delivered", "failed", "delivered"]
    assert [b for _, b in receiver.accepted] == [items[0], items[2]]
    assert len(receiver.requests) == 3  # the refused one was not retried
    (error,) = ours(logs, logging.ERROR)
    assert "webhook crew" in error
    assert "40058" in error
    assert "127.0.0.1" not in error


async def test_misconfigured_target_keeps_its_queue(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
    logs: pytest.LogCaptureFixture,
) -> None:
    """A wrong robot key (企业微信 93000) drops nothing: one ERROR, items stay queued and
    go out in order once the robot accepts the key again."""
    fixed_at = clock.now() + timedelta(hours=1)

    async def decide(body: bytes) -> web.StreamResponse:
        if clock.now() < fixed_at:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        return ok()

    receiver = await receivers(decide)
    items = bodies(4)
    for body in items:
        queue.put("crew", body)
    target = WebhookTarget("crew", "wecom", receiver.url(), min_interval_s=0)
    async with (
        aiohttp.ClientSession() as session,
        running(WebhookSender(session, queue, [target], clock=clock)),
    ):
        await until(lambda: all(i.state != "pending" for i in queue.items))
    assert [b for _, b in receiver.accepted] == items
    assert 5 <= queue.items[0].attempts <= 8  # every ~10 minutes for an hour
    (error,) = ours(logs, logging.ERROR)
    assert "webhook crew" in error
    assert "93000" in error
    assert not ours(logs, logging.WARNING)


async def test_targets_are_independent(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
    logs: pytest.LogCaptureFixture,
) -> None:
    async def down(body: bytes) -> web.StreamResponse:
        return web.Response(status=502)

    async def up(body: bytes) -> web.StreamResponse:
        return ok()

    dead, alive = await receivers(down), await receivers(up)
    items = bodies(5)
    for body in items:
        queue.put("dead", body)
        queue.put("alive", body)
    targets = [
        WebhookTarget("dead", "json", dead.url(), min_interval_s=0),
        WebhookTarget("alive", "wecom", alive.url(), min_interval_s=0),
    ]
    async with (
        aiohttp.ClientSession() as session,
        running(WebhookSender(session, queue, targets, clock=clock)),
    ):
        await until(lambda: all(i.state == "delivered" for i in queue.of("alive")))
        await until(lambda: queue.of("dead")[0].attempts >= 3)
    assert [b for _, b in alive.accepted] == items
    assert all(i.state == "pending" for i in queue.of("dead"))
    assert {r.url.path for r in dead.requests} == {"/cgi-bin/webhook/send"}
    (warning,) = ours(logs, logging.WARNING)
    assert "webhook dead" in warning


async def test_queue_failure_is_logged_once_and_outlived(
    clock: FakeClock,
    queue: MemoryQueue,
    receivers: Callable[[Decide], Awaitable[Receiver]],
    logs: pytest.LogCaptureFixture,
) -> None:
    """The store failing (a lost database connection) neither kills the task nor floods
    the log; delivery resumes when it works again."""

    class FlakyQueue(MemoryQueue):
        failures = 3

        async def due(self, target: str, limit: int, now: datetime) -> list[tuple[int, bytes]]:
            if self.failures:
                self.failures -= 1
                raise OSError("database is locked")
            return await super().due(target, limit, now)

    async def up(body: bytes) -> web.StreamResponse:
        return ok()

    flaky = FlakyQueue(clock)
    receiver = await receivers(up)
    flaky.put("crew", b'{"n":1}')
    target = WebhookTarget("crew", "wecom", receiver.url(), min_interval_s=0)
    async with (
        aiohttp.ClientSession() as session,
        running(WebhookSender(session, flaky, [target], clock=clock)),
    ):
        await until(lambda: flaky.items[0].state == "delivered")
    (warning,) = ours(logs, logging.WARNING)
    assert "database is locked" in warning


async def test_notify_wakes_an_idle_sender(
    clock: FakeClock, queue: MemoryQueue, receivers: Callable[[Decide], Awaitable[Receiver]]
) -> None:
    async def up(body: bytes) -> web.StreamResponse:
        return ok()

    receiver = await receivers(up)
    target = WebhookTarget("crew", "wecom", receiver.url(), min_interval_s=0)
    rules = RetryRules(idle_poll_s=3600)  # only notify() can wake it within the test
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, queue, [target], clock=clock, rules=rules)
        async with running(sender):
            await asyncio.sleep(0.05)  # idle now
            queue.put("crew", b'{"n":1}')
            sender.notify()
            async with asyncio.timeout(2.0):
                while queue.items[0].state == "pending":  # noqa: ASYNC110 (as in until)
                    await asyncio.sleep(0.005)
    assert len(receiver.accepted) == 1


async def test_dingtalk_is_signed_again_at_every_attempt(
    clock: FakeClock, queue: MemoryQueue, receivers: Callable[[Decide], Awaitable[Receiver]]
) -> None:
    """A message that waited is signed with the time it is sent: 钉钉 refuses a signature
    over an hour old, and an outage may last longer than that."""
    stamps: list[int] = []
    fixed_at = clock.now() + timedelta(minutes=2)
    receiver: Receiver

    async def decide(body: bytes) -> web.StreamResponse:
        query = receiver.requests[-1].query
        stamp = query["timestamp"]
        mac = hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(), hashlib.sha256)
        fresh = abs(int(stamp) - clock.now().timestamp() * 1000) < 1000
        if not fresh or query["sign"] != base64.b64encode(mac.digest()).decode():
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        stamps.append(int(stamp))
        if clock.now() < fixed_at:
            return web.json_response({"errcode": 130101, "errmsg": "send too fast"})
        return ok()

    receiver = await receivers(decide)
    queue.put("duty", b'{"msgtype":"markdown"}')
    url = receiver.url(f"/robot/send?access_token={KEY}")
    target = WebhookTarget("duty", "dingtalk", url, secret=SECRET, min_interval_s=0)
    async with (
        aiohttp.ClientSession() as session,
        running(WebhookSender(session, queue, [target], clock=clock)),
    ):
        await until(lambda: queue.items[0].state != "pending")
    assert queue.items[0].state == "delivered"
    assert len(stamps) >= 3
    assert len(set(stamps)) == len(stamps)
    assert all(later - earlier >= 60_000 for earlier, later in itertools.pairwise(stamps))


def test_target_repr_hides_url_and_secret() -> None:
    target = WebhookTarget(
        "duty",
        "dingtalk",
        f"https://oapi.dingtalk.com/robot/send?access_token={KEY}",
        secret=SECRET,
    )
    assert KEY not in repr(target)
    assert SECRET not in repr(target)


def test_an_unexpected_error_is_logged_without_the_url_or_secret() -> None:
    from bridge.webhook_sender import _scrubbed

    target = WebhookTarget("crew", "dingtalk", f"https://oapi.example/robot/send?access_token={KEY}",
                           secret=SECRET)  # fmt: skip
    exc = ValueError(f"bad URL {target.url} signed with {SECRET}")
    text = _scrubbed(exc, target)
    assert KEY not in text
    assert SECRET not in text
    assert text.startswith("ValueError: bad URL ***")


def test_an_unexpected_error_quoting_only_the_key_is_scrubbed() -> None:
    from bridge.webhook_sender import _scrubbed

    target = WebhookTarget("crew", "wecom", f"https://qyapi.example/cgi-bin/webhook/send?key={KEY}")
    text = _scrubbed(ValueError(f"bad query key={KEY}"), target)
    assert KEY not in text
    assert text == "ValueError: bad query ***"

"""The webhook outbox in the real store (SQLite and PostgreSQL): per-target order, a waiting
head holding up its target (also after a restart), the settling transitions, the backlog,
pruning, queueing in the same transaction as the work-order events — and the real
`WebhookSender` draining it into a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.store import Store
from bridge.store.webhooks import StoreWebhookQueue
from bridge.webhook_sender import RetryRules, WebhookSender, WebhookTarget
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.webhook_format import render
from tests.bridge.store.conftest import CameraFactory, RawSql

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
OFF, ON = CameraState.OFFLINE, CameraState.ONLINE
REAL_DEADLINE_S = 20.0


class Clock:
    """The store's ``now``, moved by hand."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
async def timed(store_url: str, secret_box: SecretBox) -> AsyncIterator[tuple[Store, Clock]]:
    """A started store whose rows are stamped by a hand-moved clock."""
    clock = Clock()
    async with Store(store_url, secret_box, now=clock) as store:
        yield store, clock


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_due_gives_each_target_its_own_rows_oldest_first(store: Store) -> None:
    items = [("crew", b"c1"), ("duty", b"d1"), ("crew", b"c2"), ("crew", b"c3"), ("duty", b"d2")]
    assert await store.enqueue_webhooks(items) == 5
    assert await store.enqueue_webhooks([]) == 0
    now = datetime.now(UTC)
    crew = await store.webhooks_due("crew", 10, now)
    assert [body for _, body in crew] == [b"c1", b"c2", b"c3"]
    assert [i for i, _ in crew] == sorted(i for i, _ in crew)
    assert [body for _, body in await store.webhooks_due("duty", 10, now)] == [b"d1", b"d2"]
    assert [body for _, body in await store.webhooks_due("crew", 2, now)] == [b"c1", b"c2"]
    assert await store.webhooks_due("nobody", 10, now) == []
    with pytest.raises(ValueError, match="limit"):
        await store.webhooks_due("crew", 0, now)


async def test_a_waiting_head_holds_up_its_target_also_after_a_restart(
    timed: tuple[Store, Clock], store_url: str, secret_box: SecretBox
) -> None:
    store, _ = timed
    await store.enqueue_webhooks([("crew", b"1"), ("crew", b"2"), ("crew", b"3"), ("duty", b"x")])
    (head, _), (second, _), _ = await store.webhooks_due("crew", 10, at(0))
    assert await store.webhook_retry(head, at(60), 1, "HTTP 503 from 企业微信 robot")
    assert await store.webhooks_due("crew", 10, at(59)) == []  # nobody overtakes the head
    assert [b for _, b in await store.webhooks_due("duty", 10, at(59))] == [b"x"]  # not held
    async with Store(store_url, secret_box) as restarted:  # a new daemon reads the same rows
        assert await restarted.webhooks_due("crew", 10, at(59)) == []
        assert [b for _, b in await restarted.webhooks_due("crew", 10, at(60))] == [
            b"1",
            b"2",
            b"3",
        ]
    # A row behind the head that is not due stops the batch there: never 1, 3 without 2.
    assert await store.webhook_retry(second, at(120), 1, "timeout")
    assert [b for _, b in await store.webhooks_due("crew", 10, at(60))] == [b"1"]
    assert await store.webhook_delivered(head, at(61))
    assert await store.webhooks_due("crew", 10, at(61)) == []
    assert [b for _, b in await store.webhooks_due("crew", 10, at(120))] == [b"2", b"3"]


async def test_rows_settle_once_with_attempts_and_a_short_error(
    store: Store, raw_sql: RawSql
) -> None:
    await store.enqueue_webhooks([("crew", b"1"), ("crew", b"2"), ("crew", b"3")])
    (one, _), (two, _), (three, _) = await store.webhooks_due("crew", 10, at(0))
    assert await store.webhook_retry(one, at(5), 1, "cannot connect")
    assert await store.webhook_retry(one, at(15), 2, "cannot connect")
    # After a restart the sender counts from 1 again; the row keeps counting.
    assert await store.webhook_retry(one, at(20), 1, "x" * 1000)
    assert await store.webhook_delivered(one, at(21))
    assert not await store.webhook_delivered(one, at(22))  # settled once
    assert not await store.webhook_retry(one, at(30), 4, "late")
    assert not await store.webhook_failed(one, at(30), "late")
    assert await store.webhook_failed(two, at(23), "HTTP 400: bad request")
    assert not await store.webhook_delivered(two, at(24))
    assert not await store.webhook_delivered(999_999, at(24))  # unknown: nothing happens
    assert [b for _, b in await store.webhooks_due("crew", 10, at(24))] == [b"3"]
    rows = await raw_sql(
        "SELECT id, attempts, delivered_at IS NOT NULL, failed_at IS NOT NULL, error "
        "FROM webhook_outbox ORDER BY id"
    )
    assert [(r[0], r[1], bool(r[2]), bool(r[3])) for r in rows] == [
        (one, 3, True, False),
        (two, 1, False, True),
        (three, 0, False, False),
    ]
    assert rows[0][4] == ""  # delivered: the last failure no longer matters
    assert rows[1][4] == "HTTP 400: bad request"
    await store.webhook_retry(three, at(25), 1, "y" * 1000)
    [(error,)] = await raw_sql("SELECT error FROM webhook_outbox WHERE id = :i", i=three)
    assert len(error) == 300
    assert error.endswith("…")
    with pytest.raises(ValueError, match="naive"):
        await store.webhook_retry(three, datetime(2026, 1, 1), 2, "")


async def test_backlog_counts_pending_and_prune_keeps_them(timed: tuple[Store, Clock]) -> None:
    store, clock = timed
    await store.enqueue_webhooks([("crew", b"1"), ("duty", b"a")])
    clock.t = at(600)
    await store.enqueue_webhooks([("crew", b"2"), ("crew", b"3"), ("duty", b"b")])
    assert await store.webhook_backlog() == {"crew": (3, at(0)), "duty": (2, at(0))}
    crew = await store.webhooks_due("crew", 10, at(600))
    duty = await store.webhooks_due("duty", 10, at(600))
    await store.webhook_delivered(crew[0][0], at(601))
    await store.webhook_failed(duty[0][0], at(602), "HTTP 413")
    await store.webhook_delivered(duty[1][0], at(700))
    assert await store.webhook_backlog() == {"crew": (2, at(600))}
    assert await store.prune_webhooks(at(650)) == 2  # settled before then; pending stay
    assert await store.prune_webhooks(at(650)) == 0
    assert await store.webhook_backlog() == {"crew": (2, at(600))}
    assert await store.prune_webhooks(at(10_000)) == 1
    assert [b for _, b in await store.webhooks_due("crew", 10, at(700))] == [b"2", b"3"]


def opened(book: OrderBook, camera_id: str) -> list[OrderEvent]:
    book.observe(camera_id, ON, (), at(0))
    events = book.observe(camera_id, OFF, ("unreachable",), at(60))
    return events + book.tick(at(300))


def bodies_for(events: list[OrderEvent], targets: list[str]) -> list[tuple[str, bytes]]:
    """One JSON body per event and target, the way the desk queues them."""
    return [
        (target, render("json", {"order_id": e.order_id, "event": e.kind.value, "seq": e.seq}))
        for e in events
        for target in targets
    ]


async def test_webhooks_are_queued_in_the_same_transaction_as_their_events(
    store: Store, make_camera: CameraFactory
) -> None:
    cam = make_camera(1)
    book = OrderBook(WorkOrderRules())
    events = opened(book, cam.id)
    [order] = book.orders()
    accepted = book.act(order.id, Step.ACCEPTED, actor="张师傅", note="出发", at=at(400))
    # A body the queue refuses (its target name is too long): the events go neither.
    bad = [*bodies_for(events, ["crew"]), ("x" * 65, b"{}")]
    with pytest.raises(ValueError, match="target name"):
        await store.record_order_events(events, book.episodes(), webhooks=bad)
    assert await store.get_order(order.id) is None
    assert await store.webhook_backlog() == {}
    good = bodies_for(events + accepted, ["crew", "duty"])
    assert await store.record_order_events(events + accepted, book.episodes(), webhooks=good) == 2
    assert [e.seq for e in await store.order_events(order.id)] == [1, 2]
    crew = await store.webhooks_due("crew", 10, datetime.now(UTC))
    assert [json.loads(b)["seq"] for _, b in crew] == [1, 2]
    assert [json.loads(b)["event"] for _, b in crew] == ["opened", "step"]
    assert (await store.webhook_backlog())["duty"][0] == 2


# --- the real sender over the store --------------------------------------------------------


class Receiver:
    """A JSON webhook receiver on 127.0.0.1:0: answers 503 to the first ``outage`` posts,
    400 to a body containing ``refuse``, 200 to the rest (recorded in arrival order)."""

    def __init__(self, outage: int, refuse: bytes) -> None:
        self.outage = outage
        self.refuse = refuse
        self.posts = 0
        self.accepted: list[bytes] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts += 1
        if self.posts <= self.outage:
            return web.Response(status=503, text="maintenance")
        if self.refuse in body:
            return web.Response(status=400, text="schema mismatch")
        self.accepted.append(body)
        return web.json_response({"ok": True})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook?token=k3y-s3cret"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_the_sender_drains_the_store_in_order_once(store: Store, raw_sql: RawSql) -> None:
    """Queued before and while the receiver is down (503 three times): each body arrives
    once, in order; a refused one is given up and the next goes; the store is left empty
    of pending rows with the head's failed attempts counted."""
    first = [render("json", {"order_id": f"WO-{i}", "event": "opened"}) for i in range(5)]
    later = [render("json", {"order_id": f"WO-{i}", "event": "step"}) for i in range(5, 8)]
    refused = render("json", {"order_id": "WO-REFUSED", "event": "opened"})
    await store.enqueue_webhooks([("platform", b) for b in [*first[:2], refused, *first[2:]]])
    rules = RetryRules(first_delay_s=0.02, max_delay_s=0.1, idle_poll_s=0.5, jitter=0.0)
    async with Receiver(outage=3, refuse=b"WO-REFUSED") as receiver:
        target = WebhookTarget("platform", "json", receiver.url, min_interval_s=0.0, timeout_s=2)
        async with aiohttp.ClientSession() as session:
            sender = WebhookSender(session, StoreWebhookQueue(store), [target], rules=rules)
            task = asyncio.create_task(sender.run())
            try:
                async with asyncio.timeout(REAL_DEADLINE_S):
                    while len(receiver.accepted) < 2:  # noqa: ASYNC110 (the receiver's count)
                        await asyncio.sleep(0.01)
                    await store.enqueue_webhooks([("platform", b) for b in later])
                    sender.notify("platform")
                    while await store.webhook_backlog():  # noqa: ASYNC110 (rows, no event)
                        await asyncio.sleep(0.02)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        status = sender.status()["platform"]
    assert receiver.accepted == first + later  # in order, each once, the refused one not
    assert (status.delivered, status.given_up, status.failed_attempts) == (8, 1, 3)
    rows = await raw_sql(
        "SELECT attempts, delivered_at IS NOT NULL, failed_at IS NOT NULL, error "
        "FROM webhook_outbox ORDER BY id"
    )
    assert [r[0] for r in rows] == [3, 0, 1, 0, 0, 0, 0, 0, 0]
    assert [bool(r[2]) for r in rows] == [False, False, True, *[False] * 6]
    assert all(bool(r[1]) != bool(r[2]) for r in rows)  # each settled, one way
    assert "HTTP 400" in rows[2][3]
    assert all("k3y-s3cret" not in r[3] for r in rows)

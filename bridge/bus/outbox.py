"""Getting messages out: drain the store's outbox, re-publish the retained view.

Independent of the MQTT client: both take a ``publish`` coroutine function that returns
once the broker acknowledged the message (QoS 1) or it was written (QoS 0), and raises
when the connection is lost.  `Publisher` passes its own.

- `drain` reads the unsent rows in id order, keeps only the newest retained message per
  topic (`coalesce`), publishes with a bounded number in flight (`publish_stream`) and
  marks rows sent once the broker acknowledged them — also the superseded ones.
- `republish` publishes everything an async iterator yields, the same way.

Both read ahead (the next batch while the last one is in flight), so the window never runs
dry between batches: with Mosquitto's default ``set_tcp_nodelay false`` every dry window
costs a ~40 ms delayed-ACK stall (measured: batches of 100 → ~1.9 k msgs/s instead of
~15 k).

Nothing here marks a row sent before its message (or the newer one that supersedes it) was
acknowledged: a connection lost mid-batch leaves the rest pending for the next connection
(delivery is at least once; a retained status sent twice is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.bus.message import Message

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_WINDOW",
    "DrainResult",
    "OutboxStore",
    "Planned",
    "PublishOne",
    "coalesce",
    "drain",
    "first_error",
    "publish_all",
    "publish_stream",
    "republish",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 20
"""QoS 1 publishes in flight at once.  Measured against Mosquitto 2.0 on loopback, 2 cores
(bench/bench_bus.py, 400-byte retained statuses): awaiting each ~6–7 k msgs/s and ~120 µs
of client CPU per message; a window of 10 ~12 k, 20 ~14 k (~65 µs), 50–100 ~15 k.  20 is
also Mosquitto's default Receive Maximum (its ``max_inflight_messages``), which paho does
not enforce: keep the window at or below the broker's."""

DEFAULT_BATCH = 1000
"""Outbox rows read (and marked sent) per transaction."""

PublishOne = Callable[[Message], Awaitable[None]]
"""Publishes one message; returns when it is acknowledged; raises when the connection is
lost.  It must hand the message to the client before its first suspension, so that
messages leave in the order they were given."""


class OutboxStore(Protocol):
    """What the publisher needs of the store (`bridge.store.Store` has it)."""

    async def pending(self, limit: int, after: int | None = None) -> list[tuple[int, Message]]: ...

    async def mark_sent(self, ids: Sequence[int], at: datetime) -> int: ...

    async def prune_sent(self, older_than: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """A message to publish and the outbox rows it settles (empty: not from the outbox)."""

    message: Message
    ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one `drain` did: messages published, rows settled without being published
    (superseded by a newer retained message of their topic), messages refused by the
    client (malformed; dropped and marked sent)."""

    published: int = 0
    superseded: int = 0
    dropped: int = 0


def coalesce(rows: Sequence[tuple[int, Message]]) -> list[Planned]:
    """The messages to publish for ``rows`` (``(id, message)``, id order).

    Of the retained messages of one topic only the newest (highest id) is kept, and it
    settles the older rows too: the broker would keep only the last one anyway.
    Non-retained messages (responses, work-order events) are all kept: each is an event.
    The result is ordered by the id of the row each message comes from.
    """
    newest: dict[str, int] = {}
    for row_id, message in rows:
        if message.retain:
            newest[message.topic] = row_id
    settles: dict[int, list[int]] = {}
    for row_id, message in rows:
        if message.retain:
            settles.setdefault(newest[message.topic], []).append(row_id)
    planned: list[Planned] = []
    for row_id, message in rows:
        if not message.retain:
            planned.append(Planned(message, (row_id,)))
        elif newest[message.topic] == row_id:
            planned.append(Planned(message, tuple(settles[row_id])))
    return planned


Fetch = Callable[[], Awaitable[Sequence[Planned]]]
"""Returns the next items to publish, in order; empty when there are no more."""


class _Feed:
    """Items for the publishing workers, fetched ahead: a refill starts as soon as fewer
    than ``low`` are buffered, so the window does not run dry while the next batch is read
    (at ~15 k msgs/s, 500 items last ~30 ms: longer than reading 1,000 outbox rows).

    Order: items leave in fetch order, and a worker hands its item to the client before its
    next suspension, so they reach the wire in that order too.
    """

    def __init__(self, fetch: Fetch, low: int) -> None:
        self._fetch = fetch
        self._low = low
        self._buffer: deque[Planned] = deque()
        self._exhausted = False
        self._refilling = asyncio.Lock()

    async def next(self) -> Planned | None:
        """The next item, or None when the source is exhausted and everything was taken."""
        while True:
            if len(self._buffer) < self._low and not self._exhausted:
                if not self._refilling.locked():
                    async with self._refilling:
                        items = await self._fetch()
                        self._buffer.extend(items)
                        self._exhausted = not items
                elif not self._buffer:
                    async with self._refilling:  # wait for the refill under way
                        pass
                    continue
            if self._buffer:
                return self._buffer.popleft()
            if self._exhausted:
                return None


async def publish_stream(
    publish: PublishOne,
    fetch: Fetch,
    window: int,
    settled: Callable[[Planned, bool], None] | None = None,
    after_each: Callable[[], Awaitable[None]] | None = None,
    *,
    prefetch: int = DEFAULT_BATCH // 2,
) -> None:
    """Publish everything ``fetch`` gives, in order, with at most ``window`` publishes
    unacknowledged at once — across fetches too (a window that runs dry between batches
    costs a delayed-ACK stall of ~40 ms when the broker does not set TCP_NODELAY, as
    Mosquitto's default ``set_tcp_nodelay false``).

    ``fetch`` is called again once fewer than ``prefetch`` (at least ``window``) fetched
    items wait, never twice at once.  ``settled(item, published)`` is called once an item
    is acknowledged (``True``) or
    refused by the client as malformed (``ValueError``/``TypeError``: logged, dropped,
    ``False``); then ``after_each()`` is awaited.  Any other error (the connection is
    lost, ``fetch`` failed) stops everything and is raised as is — a plain exception, not
    a group; items not settled by then were maybe not delivered.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window}")
    feed = _Feed(fetch, max(window, prefetch))

    async def worker() -> None:
        while (item := await feed.next()) is not None:
            try:
                await publish(item.message)
                published = True
            except (ValueError, TypeError) as exc:
                log.warning("bus message to %.120s dropped: %s", item.message.topic, exc)
                published = False
            if settled is not None:
                settled(item, published)
            if after_each is not None:
                await after_each()

    try:
        async with asyncio.TaskGroup() as group:
            for n in range(window):
                group.create_task(worker(), name=f"bus-publish-{n}")
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None


async def publish_all(
    publish: PublishOne,
    planned: Sequence[Planned],
    window: int,
    settled: Callable[[Planned, bool], None] | None = None,
) -> None:
    """`publish_stream` of the items ``planned``, with at most ``window`` in flight."""
    given = [list(planned)]

    async def fetch() -> Sequence[Planned]:
        return given.pop() if given else []

    await publish_stream(publish, fetch, max(1, min(window, len(planned))), settled)


def first_error(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a group that is not a cancellation (else the first one)."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [errors]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    for exc in leaves:
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return leaves[0]


async def drain(
    store: OutboxStore,
    publish: PublishOne,
    now: Callable[[], datetime],
    *,
    window: int = DEFAULT_WINDOW,
    batch: int = DEFAULT_BATCH,
) -> DrainResult:
    """Publish every pending outbox row until none is left (rows added meanwhile too).

    Rows are read ``batch`` at a time in id order (the next batch while the last one is
    still in flight), coalesced per batch, published by `publish_stream`, and marked
    sent once settled, ``batch`` ids per transaction — also when the connection is lost
    mid-way (then the error is raised after marking).  Store errors are raised to the
    caller (rows stay pending).  Returns the totals.
    """
    last_id: int | None = None
    settled_ids: list[int] = []
    counts = {True: 0, False: 0}
    superseded = 0
    marking = False

    async def fetch() -> Sequence[Planned]:
        nonlocal last_id
        rows = await store.pending(batch, after=last_id)
        if rows:
            last_id = rows[-1][0]
        return coalesce(rows)

    def settled(item: Planned, published: bool) -> None:
        nonlocal superseded
        settled_ids.extend(item.ids)
        counts[published] += 1
        superseded += len(item.ids) - 1

    async def mark_when_due() -> None:
        nonlocal marking
        if marking or len(settled_ids) < batch:
            return
        marking = True
        ids = settled_ids[:]
        settled_ids.clear()
        try:
            await store.mark_sent(ids, now())
        except BaseException:
            settled_ids.extend(ids)
            raise
        finally:
            marking = False

    try:
        await publish_stream(publish, fetch, window, settled, mark_when_due, prefetch=batch // 2)
    except BaseException:
        await _mark_quietly(store, settled_ids, now())
        raise
    if settled_ids:
        await store.mark_sent(settled_ids, now())
    return DrainResult(counts[True], superseded, counts[False])


async def _mark_quietly(store: OutboxStore, ids: Sequence[int], at: datetime) -> None:
    """Mark ``ids`` sent while another error is on its way up: a failure here is logged,
    never raised over that error (the rows are then sent again: at least once)."""
    if not ids:
        return
    try:
        await store.mark_sent(ids, at)
    except Exception as exc:
        log.warning("%d delivered bus messages not marked sent (sent again): %s", len(ids), exc)


async def republish(
    source: AsyncIterator[Message],
    publish: PublishOne,
    *,
    window: int = DEFAULT_WINDOW,
    chunk: int = DEFAULT_BATCH,
    fetch_timeout_s: float = 30.0,
) -> int:
    """Publish everything ``source`` yields with ``window`` in flight, reading ``chunk``
    messages ahead; returns how many were published.  Reading one chunk from ``source``
    is bounded by ``fetch_timeout_s`` (``TimeoutError``).  Errors of ``source`` and of
    ``publish`` are raised to the caller (after publishing what was read before a
    ``source`` error).  ``source`` is closed (``aclose``, when it has
    one, within ``fetch_timeout_s``) however this ends."""
    done = 0

    failure: Exception | None = None

    async def fetch() -> Sequence[Planned]:
        nonlocal failure
        if failure is not None:  # what was read before it failed went out first
            raise failure
        items: list[Planned] = []
        try:
            async with asyncio.timeout(fetch_timeout_s):
                async for message in source:
                    items.append(Planned(message))
                    if len(items) >= chunk:
                        break
        except Exception as exc:
            if not items:
                raise
            failure = exc
        return items

    def count(_: Planned, published: bool) -> None:
        nonlocal done
        done += published

    try:
        await publish_stream(publish, fetch, window, count, prefetch=chunk // 2)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(fetch_timeout_s):
                    await aclose()
    return done

"""Work-order events to webhooks: the delivery loop (`WebhookSender`) over a persistent
queue (`WebhookQueue`); the bodies are made by `bridge.workorders.webhook_format`.

Delivery promises of `WebhookSender` (at least once, in order, per target):

* Strict order per target: the oldest queued item is retried until it is delivered or
  given up; the ones behind it wait.  Targets are independent: one task each.
* A retryable failure (refused, timeout, 5xx, 429, a robot's rate limit) is retried
  forever with exponential backoff and jitter (`RetryRules`): a receiver down for an hour
  loses nothing.  One warning when a target starts failing, one info when it delivers
  again; each attempt in between is DEBUG only.
* A failure of the target's configuration (404, 401/403, 企业微信 93000, 钉钉 310000: every
  message would fail alike) keeps the items queued, retried every
  ``target_fault_delay_s``, with one ERROR naming the target: a person fixes the URL or
  secret and restarts; nothing is lost meanwhile.
* Any other refusal (400, a robot's content error) concerns that one message: it is
  marked failed, logged as an ERROR naming the target, and the next item goes.
* Posts to one target are at least ``min_interval_s`` apart (robots take 20 a minute).
* Logs and queue errors name the target, never its URL or secret.  Time (``now`` and
  sleeps) comes from an injectable `Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp

from adapters.webhook import (
    DeliveryError,
    dingtalk_signed_url,
    json_signature_headers,
    post_json,
    scrub_url,
)
from bridge.workorders.webhook_format import TargetKind

__all__ = [
    "Clock",
    "RetryRules",
    "SystemClock",
    "TargetStatus",
    "WebhookQueue",
    "WebhookSender",
    "WebhookTarget",
    "retry_delay_s",
]

log = logging.getLogger(__name__)

# --- how it is delivered -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One receiver.  ``url`` (robot keys and tokens live in its query) and ``secret``
    (钉钉 "加签" secret ``SEC…``; for ``json``, the HMAC key of `json_signature_headers`)
    never appear in repr, logs or errors."""

    name: str
    kind: TargetKind
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    min_interval_s: float = 3.5  # robots take 20 a minute; leave room for others
    timeout_s: float = 10.0
    # Its own backoff (the configuration's retry_first_s / retry_max_s); None: the sender's.
    retry_first_s: float | None = None
    retry_max_s: float | None = None


class WebhookQueue(Protocol):
    """The persistent queue of rendered messages, per target (the store implements it).

    ``due`` returns up to ``limit`` pending items of ``target`` as ``(item_id, body)``,
    oldest first — or none at all when the oldest pending item's next attempt is after
    ``now``: the items behind a waiting head must not overtake it (also after a restart).
    """

    async def due(self, target: str, limit: int, now: datetime) -> list[tuple[int, bytes]]: ...

    async def delivered(self, item_id: int, at: datetime) -> None: ...

    async def retry(self, item_id: int, next_at: datetime, attempts: int, error: str) -> None: ...

    async def failed(self, item_id: int, at: datetime, error: str) -> None: ...


class Clock(Protocol):
    """Time for the sender: ``now`` (aware), ``sleep``, and ``wait`` — until ``event`` is
    set or ``timeout_s`` passed, whichever comes first."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None: ...


class SystemClock:
    """The real clock (UTC) and the event loop's timers."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await event.wait()


@dataclass(frozen=True, slots=True)
class RetryRules:
    first_delay_s: float = 5.0  # after the first failure; doubles per failure
    max_delay_s: float = 600.0  # ceiling of the backoff (and of a receiver's Retry-After)
    jitter: float = 0.2  # ± fraction, so targets and restarts do not retry in step
    target_fault_delay_s: float = 600.0  # while the target's configuration is wrong
    idle_poll_s: float = 60.0  # look at the queue this often even without notify()
    queue_timeout_s: float = 30.0  # deadline of one call to the queue (the store)
    batch: int = 50  # items read per `due` call


def retry_delay_s(rules: RetryRules, attempts: int, rand: float, asked_s: float | None) -> float:
    """Seconds before attempt ``attempts + 1``: first_delay_s × 2^(attempts-1), capped,
    ± jitter (``rand`` uniform in [0, 1)), and at least what the receiver ``asked_s``."""
    base = min(rules.first_delay_s * 2.0 ** min(attempts - 1, 40), rules.max_delay_s)
    delay = base * (1 + rules.jitter * (2 * rand - 1))
    return max(delay, min(asked_s or 0.0, rules.max_delay_s))


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """What a target's task has done since start (for /metrics and /healthz): messages
    delivered and given up, failed attempts, and the current outage if any."""

    delivered: int
    given_up: int
    failed_attempts: int
    down_since: datetime | None
    misconfigured: bool


@dataclass(slots=True)
class _Lane:
    """Per-target state of the sender."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_post: datetime | None = None
    down_since: datetime | None = None
    down_fault: bool = False  # the outage is the target's configuration
    failures: int = 0  # failed attempts since the last delivery
    delivered: int = 0
    given_up: int = 0
    failed_attempts: int = 0


class WebhookSender:
    """Delivers queued messages to ``targets``, one task per target; see the module
    promises.  ``run()`` returns only by cancellation; ``notify()`` after an enqueue."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        queue: WebhookQueue,
        targets: Sequence[WebhookTarget],
        *,
        clock: Clock | None = None,
        rules: RetryRules | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("webhook target names must be unique")
        self._session = session
        self._queue = queue
        self._targets = tuple(targets)
        self._clock: Clock = clock or SystemClock()
        self._rules = rules or RetryRules()
        self._rand = rand
        self._lanes = {name: _Lane() for name in names}

    def notify(self, target: str | None = None) -> None:
        """Wake the task of ``target`` (all targets when None): something was queued."""
        for name, lane in self._lanes.items():
            if target is None or name == target:
                lane.wake.set()

    def status(self) -> dict[str, TargetStatus]:
        """Each target's `TargetStatus`, by name."""
        return {
            name: TargetStatus(
                lane.delivered,
                lane.given_up,
                lane.failed_attempts,
                lane.down_since,
                lane.down_fault,
            )
            for name, lane in self._lanes.items()
        }

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with asyncio.TaskGroup() as group:
            for target in self._targets:
                lane = self._lanes[target.name]
                group.create_task(self._serve(target, lane), name=f"webhook-{target.name}")

    async def _serve(self, target: WebhookTarget, lane: _Lane) -> None:
        broken = False  # the queue itself failed (store down): log once until it works
        while True:
            try:
                lane.wake.clear()  # before `due`, so a notify() during it is not lost
                async with asyncio.timeout(self._rules.queue_timeout_s):
                    items = await self._queue.due(target.name, self._rules.batch, self._clock.now())
                for item_id, body in items:
                    await self._deliver(target, lane, item_id, body)
                broken = False
            except Exception as exc:
                if not broken:  # the store, or a bug: the loop must outlive both
                    log.warning(
                        "webhook %s: delivery loop failed, retrying: %s",
                        target.name,
                        _scrubbed(exc, target),
                    )
                broken = True
                await self._clock.sleep(self._rules.first_delay_s)
                continue
            if not items:
                await self._clock.wait(lane.wake, self._rules.idle_poll_s)

    async def _deliver(self, target: WebhookTarget, lane: _Lane, item_id: int, body: bytes) -> None:
        """Settle one item: delivered, or given up; retried here (head of line) until then."""
        attempts = 0
        while True:
            if lane.last_post is not None:
                gap = (self._clock.now() - lane.last_post).total_seconds()
                if gap < target.min_interval_s:
                    await self._clock.sleep(target.min_interval_s - gap)
            now = lane.last_post = self._clock.now()
            try:
                await self._post(target, body, now)
            except DeliveryError as exc:
                attempts += 1
                if not (exc.retryable or exc.target_fault):
                    self._up(target, lane)  # it answered: reachable, only this one is refused
                    lane.given_up += 1
                    await self._settle(self._queue.failed(item_id, self._clock.now(), str(exc)))
                    log.error(
                        "webhook %s: order event %d refused, given up: %s",
                        target.name,
                        item_id,
                        exc,
                    )
                    return
                self._down(target, lane, exc)
                if exc.target_fault:
                    delay = self._rules.target_fault_delay_s * (1 + 0.1 * (2 * self._rand() - 1))
                else:
                    rules = self._rules_of(target)
                    delay = retry_delay_s(rules, attempts, self._rand(), exc.retry_after_s)
                next_at = self._clock.now() + timedelta(seconds=delay)
                await self._settle(self._queue.retry(item_id, next_at, attempts, str(exc)))
                await self._clock.sleep(delay)
                continue
            self._up(target, lane)
            lane.delivered += 1
            # Should this fail, the item is sent again later: delivery is at least once.
            await self._settle(self._queue.delivered(item_id, self._clock.now()))
            return

    async def _settle(self, call: Awaitable[None]) -> None:
        async with asyncio.timeout(self._rules.queue_timeout_s):
            await call

    async def _post(self, target: WebhookTarget, body: bytes, now: datetime) -> None:
        url, headers = target.url, {}
        if target.secret and target.kind == "dingtalk":
            url = dingtalk_signed_url(url, target.secret, int(now.timestamp() * 1000))
        elif target.secret and target.kind == "json":
            headers = json_signature_headers(target.secret, body, int(now.timestamp()))
        await post_json(
            self._session,
            url,
            body,
            headers=headers,
            timeout_s=target.timeout_s,
            platform=target.kind,
        )

    def _down(self, target: WebhookTarget, lane: _Lane, exc: DeliveryError) -> None:
        """Count a failed attempt; log when the target starts failing or the cause changes
        between "unreachable" and "misconfigured" — not on every attempt."""
        lane.failures += 1
        lane.failed_attempts += 1
        if lane.down_since is not None and lane.down_fault == exc.target_fault:
            log.debug("webhook %s: attempt %d failed: %s", target.name, lane.failures, exc)
            return
        if lane.down_since is None:
            lane.down_since = self._clock.now()
        lane.down_fault = exc.target_fault
        if exc.target_fault:
            log.error(
                "webhook %s: the receiver refuses this target (%s); fix its url/secret in "
                "the configuration — order events stay queued, tried again every %g s",
                target.name,
                exc,
                self._rules.target_fault_delay_s,
            )
        else:
            log.warning(
                "webhook %s: cannot deliver (%s); order events stay queued and are retried "
                "with backoff up to %g s",
                target.name,
                exc,
                self._rules_of(target).max_delay_s,
            )

    def _rules_of(self, target: WebhookTarget) -> RetryRules:
        """The sender's rules with the target's own backoff, when it has one."""
        first, most = target.retry_first_s, target.retry_max_s
        if first is None and most is None:
            return self._rules
        return replace(
            self._rules,
            first_delay_s=self._rules.first_delay_s if first is None else first,
            max_delay_s=self._rules.max_delay_s if most is None else most,
        )

    def _up(self, target: WebhookTarget, lane: _Lane) -> None:
        """The target answered: log the end of an outage, once."""
        if lane.down_since is not None:
            lasted = self._clock.now() - lane.down_since
            log.info(
                "webhook %s: answering again after %d s and %d failed attempts",
                target.name,
                lasted.total_seconds(),
                lane.failures,
            )
        lane.down_since = None
        lane.down_fault = False
        lane.failures = 0


def _scrubbed(exc: BaseException, target: WebhookTarget) -> str:
    """``exc`` for a log line without the target's URL or secret: an unexpected error (a
    library's, not a `DeliveryError`) may quote the URL, whose query holds the robot key."""
    text = f"{type(exc).__name__}: {exc}"
    for secret in (target.url, target.secret):
        if secret:
            text = text.replace(secret, "***")
    # The key alone (a library may quote the URL re-encoded, or only its query).
    with contextlib.suppress(ValueError, TypeError):  # an unparsable URL: nothing more
        text = scrub_url(text, target.url)
    return text

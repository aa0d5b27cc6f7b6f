"""The bus publisher: one MQTT connection (aiomqtt), kept up for the daemon's whole life.

After every (re)connect, in this order: bridge state ``online`` (retained, QoS 1; the last
will says ``offline``), the request subscription, the whole retained view from the injected
``republish()`` (a broker without persistence forgot it), then the outbox, drained in id
order and again on each `Publisher.notify` and every poll interval (other processes write
the outbox too).  Requests are answered meanwhile (`bridge.bus.requests`).

Connection: ``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` (system CA store, host name
checked), MQTT 5, or 3.1.1 once the broker refused 5.  Lost or refused connections are
retried with exponential backoff and jitter; the broker going away and coming back are
logged once each, not per retry.  The password is never logged: URLs are shown masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiomqtt

from bridge.bus import outbox
from bridge.bus.connection import (
    AUTH_REFUSED,
    AUTH_RETRY_DELAY_S,
    RECONNECT_FIRST_DELAY_S,
    RECONNECT_MAX_DELAY_S,
    V5_REFUSED,
    BrokerAddress,
    BusConfigError,
    OutageLog,
    PropertiesCache,
    make_client,
    parse_broker_url,
    reconnect_delay_s,
    refused_with,
)
from bridge.bus.message import Message
from bridge.bus.outbox import OutboxStore
from bridge.bus.payloads import bridge_state_payload
from bridge.bus.ratelimit import RequestLimits
from bridge.bus.requests import RequestHandler, Responder
from bridge.bus.topics import Topics
from bridge.settings import MqttSettings
from bridge.store.common import utcnow

__all__ = ["BusConfigError", "Publisher", "PublisherOptions", "Republish"]

log = logging.getLogger(__name__)

Republish = Callable[[], AsyncIterator[Message]]
"""Yields the daemon's whole retained view: every camera status, every summary."""


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    """Tuning of the publisher; the defaults suit a 20,000-camera district."""

    window: int = outbox.DEFAULT_WINDOW  # QoS 1 publishes in flight
    batch: int = outbox.DEFAULT_BATCH  # outbox rows per read; republish chunk
    poll_interval_s: float = 1.0  # outbox read without a notify (other writers)
    publish_timeout_s: float = 10.0  # one PUBACK / SUBACK
    republish_fetch_timeout_s: float = 30.0  # next message from republish()
    flush_timeout_s: float = 5.0  # close(graceful=True): outbox flush
    offline_timeout_s: float = 2.0  # close: "offline" published and acknowledged
    keep_sent_s: float = 86_400.0  # sent outbox rows kept this long, then pruned
    prune_interval_s: float = 3_600.0
    max_request_bytes: int = 4096
    request_timeout_s: float = 15.0  # one handle_request call
    max_concurrent_requests: int = 16
    limits: RequestLimits = field(default_factory=RequestLimits)
    reconnect_first_s: float = RECONNECT_FIRST_DELAY_S
    reconnect_max_s: float = RECONNECT_MAX_DELAY_S


class Publisher:
    """Publishes the outbox and the retained view on one MQTT connection; answers requests.

    The constructor only assigns.  `run` lives in the daemon's TaskGroup until `close` (or
    cancellation); `notify` wakes it after an enqueue.  One run per instance.  ``url``
    replaces ``settings.url`` (e.g. the embedded broker's).  ``now``, ``monotonic`` and
    ``rand`` are the clocks and the jitter source (tests pin them).
    """

    def __init__(
        self,
        settings: MqttSettings,
        store: OutboxStore,
        republish: Republish,
        handle_request: RequestHandler | None = None,
        *,
        url: str | None = None,
        options: PublisherOptions | None = None,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._url = settings.url if url is None else url
        self._topics = Topics(settings.root)
        self._store = store
        self._republish = republish
        self._opts = options or PublisherOptions()
        self._responder = Responder(
            self._topics,
            handle_request,
            self._opts.limits,
            max_request_bytes=self._opts.max_request_bytes,
            timeout_s=self._opts.request_timeout_s,
            monotonic=monotonic,
        )
        self._now = now
        self._monotonic = monotonic
        self._rand = rand
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._finished = asyncio.Event()
        self._graceful = True
        self._running = False
        self._protocol = aiomqtt.ProtocolVersion.V5
        self._connected = False
        self._outage = OutageLog(monotonic, reconnect_max_s=self._opts.reconnect_max_s)
        self._store_failing = False
        self._props = PropertiesCache()
        self._tls: ssl.SSLContext | None = None
        self._next_prune = 0.0  # monotonic time of the next prune of sent rows
        self._live: outbox.PublishOne | None = None  # the connected session's sender

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up (for readiness and metrics)."""
        return self._connected

    @property
    def protocol(self) -> str:
        """``"5"`` or ``"3.1.1"``: the MQTT version used (or tried next)."""
        return "5" if self._protocol is aiomqtt.ProtocolVersion.V5 else "3.1.1"

    def notify(self) -> None:
        """Wake the publisher: something was enqueued.  Cheap; callable any time."""
        self._wake.set()

    async def publish_now(self, messages: Sequence[Message]) -> int:
        """Publish volatile messages (thumbnails: QoS 0, not retained) on the live
        connection, bypassing the outbox; while the broker is away they are dropped, as a
        glance at a picture is worthless later.  Returns how many went out."""
        sent = 0
        for message in messages:
            send = self._live
            if send is None:
                break
            try:
                await send(message)
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.debug("volatile message to %s dropped: %s", message.topic, exc)
                break
            sent += 1
        return sent

    async def close(self, graceful: bool = True) -> None:
        """Stop `run`.  Graceful: flush the outbox within ``flush_timeout_s`` (what is left
        stays queued for the next start), then publish ``offline`` and disconnect.  Not
        graceful: ``offline`` and disconnect at once.  Returns once `run` ended, or after
        its deadlines passed (logged)."""
        self._graceful = graceful
        self._stop.set()
        self._wake.set()
        if not self._running:
            return
        o = self._opts
        deadline_s = o.flush_timeout_s + o.offline_timeout_s + o.publish_timeout_s + 1.0
        try:
            async with asyncio.timeout(deadline_s):
                await self._finished.wait()
        except TimeoutError:
            log.warning("bus publisher did not stop within %.0f s", deadline_s)

    async def run(self) -> None:
        """Connect, publish, reconnect, until `close`.  Raises `BusConfigError` at once when
        the settings cannot work; every other failure is logged and retried."""
        pw = self._settings.password
        address = parse_broker_url(
            self._url, self._settings.username, pw.get_secret_value() if pw else None
        )
        self._running = True
        try:
            failures = 0
            while not self._stop.is_set():
                outcome = await self._attempt(address)
                if outcome == "closed":
                    return
                if outcome == "downgrade":
                    continue
                failures = 1 if outcome == "dropped" else failures + 1
                o = self._opts
                delay = reconnect_delay_s(
                    failures, self._rand(), first_s=o.reconnect_first_s, max_s=o.reconnect_max_s
                )
                if outcome == "auth":
                    delay = AUTH_RETRY_DELAY_S
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop.wait()
        finally:
            self._connected = False
            self._running = False
            self._finished.set()

    async def _attempt(self, address: BrokerAddress) -> str:
        """One connection, from connect to loss or `close`: ``"closed"`` (by `close`),
        ``"dropped"`` (was up, then lost), ``"failed"`` (could not connect), ``"auth"``
        (credentials refused) or ``"downgrade"`` (MQTT 5 refused: retry with 3.1.1)."""
        failure: BaseException | None = None
        was_up = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await self._connect(address, stack)
                was_up = True
                await self._session(client)
        except* aiomqtt.MqttError as errors:
            failure = outbox.first_error(errors)
        except* Exception as errors:
            failure = outbox.first_error(errors)
            if not isinstance(failure, OSError | TimeoutError):  # a bug: log it, go on
                log.error("bus session failed", exc_info=failure)
        if failure is None or (self._stop.is_set() and was_up):
            return "closed"
        if not was_up and self._is_v5 and refused_with(failure, V5_REFUSED):
            log.info("broker %s refuses MQTT 5; using 3.1.1", address.masked())
            self._protocol = aiomqtt.ProtocolVersion.V311
            return "downgrade"
        auth = not was_up and refused_with(failure, AUTH_REFUSED)
        how = "auth" if auth else "dropped" if was_up else "failed"
        self._connected = False
        self._outage.down(address, failure, how)
        return how

    @property
    def _is_v5(self) -> bool:
        return self._protocol is aiomqtt.ProtocolVersion.V5

    async def _connect(
        self, address: BrokerAddress, stack: contextlib.AsyncExitStack
    ) -> aiomqtt.Client:
        if address.tls and self._tls is None:
            self._tls = ssl.create_default_context()
        client = make_client(
            address,
            client_id=self._settings.client_id,
            protocol=self._protocol,
            will=self._state_message(online=False),
            keepalive_s=self._settings.keepalive_s,
            timeout_s=self._opts.publish_timeout_s,
            window=self._opts.window,
            tls=self._tls,
        )
        async with asyncio.timeout(self._settings.connect_timeout_s):
            await stack.enter_async_context(client)
        self._connected = True
        self._outage.up(address, self.protocol)
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        """Everything done on one connection; returns after `close`, raises when lost."""
        o = self._opts
        send = self._sender(client)
        if self._stop.is_set():  # closed while connecting: nothing to start
            return
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(
                self._responder.serve(
                    client,
                    v5=self._is_v5,
                    publish_timeout_s=o.publish_timeout_s,
                    concurrency=o.max_concurrent_requests,
                ),
                name="bus-requests",
            )
            try:
                await send(self._state_message(online=True))
                if self._responder.enabled:
                    await client.subscribe(
                        self._topics.request_filter(), qos=1, timeout=o.publish_timeout_s
                    )
                await self._republish_all(send)
                await self._pump(send, first=True)
                self._live = send
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(o.poll_interval_s):
                            await self._wake.wait()
                    self._wake.clear()
                    await self._pump(send, first=False)
                await self._goodbye(send)
            except asyncio.CancelledError:
                if not listener.done():  # cancelled from outside, not by a lost connection
                    await self._say_offline_quietly(send)
                raise
            finally:
                self._live = None
            listener.cancel()

    def _state_message(self, *, online: bool) -> Message:
        return Message(self._topics.bridge_state(), bridge_state_payload(online), 1, True)

    def _sender(self, client: aiomqtt.Client) -> outbox.PublishOne:
        """Publishes one message on ``client`` (MQTT 5 properties by kind), bounded by
        ``publish_timeout_s``; raises ``aiomqtt.MqttError`` when the connection is lost."""
        v5 = self._is_v5
        timeout_s = self._opts.publish_timeout_s

        async def send(message: Message) -> None:
            properties = self._props.of(message) if v5 else None
            await client.publish(
                message.topic,
                message.payload,
                qos=message.qos,
                retain=message.retain,
                properties=properties,
                timeout=timeout_s,
            )

        return send

    async def _republish_all(self, send: outbox.PublishOne) -> None:
        """The whole retained view, after every connect.  A failing source is logged and
        skipped (the next connect tries again); a lost connection is raised."""
        o = self._opts
        started = self._monotonic()
        try:
            count = await outbox.republish(
                self._republish(),
                send,
                window=o.window,
                chunk=o.batch,
                fetch_timeout_s=o.republish_fetch_timeout_s,
            )
        except aiomqtt.MqttError:
            raise
        except Exception as exc:
            log.error("retained view not re-published: %s: %s", type(exc).__name__, exc)
            return
        took_s = self._monotonic() - started
        log.info("re-published %d retained messages in %.1f s", count, took_s)

    async def _pump(self, send: outbox.PublishOne, *, first: bool) -> None:
        """Drain the outbox once; prune old sent rows when due.  Store failures are logged
        once per outage and retried at the next poll; a lost connection is raised."""
        try:
            result = await self._drain(send)
        except aiomqtt.MqttError:
            raise
        except Exception as exc:
            if not self._store_failing:
                log.error("bus outbox not drained: %s: %s", type(exc).__name__, exc)
                self._store_failing = True
            return
        if self._store_failing:
            log.warning("bus outbox readable again")
            self._store_failing = False
        if result.published or result.dropped:
            log.log(
                logging.INFO if first else logging.DEBUG,
                "delivered %d queued bus messages (%d superseded, %d dropped)",
                result.published,
                result.superseded,
                result.dropped,
            )
        now_m = self._monotonic()
        if now_m >= self._next_prune:
            self._next_prune = now_m + self._opts.prune_interval_s
            try:
                await self._store.prune_sent(
                    self._now() - timedelta(seconds=self._opts.keep_sent_s)
                )
            except Exception as exc:
                log.warning("sent bus messages not pruned: %s: %s", type(exc).__name__, exc)

    async def _drain(self, send: outbox.PublishOne) -> outbox.DrainResult:
        o = self._opts
        return await outbox.drain(self._store, send, self._now, window=o.window, batch=o.batch)

    async def _goodbye(self, send: outbox.PublishOne) -> None:
        """On `close`: flush the outbox within its deadline (graceful), then ``offline``."""
        if self._graceful:
            try:
                async with asyncio.timeout(self._opts.flush_timeout_s):
                    await self._drain(send)
            except TimeoutError:
                log.warning(
                    "bus outbox not flushed within %.0f s; the rest is sent at the next start",
                    self._opts.flush_timeout_s,
                )
            except aiomqtt.MqttError:
                raise
            except Exception as exc:
                log.error("bus outbox not flushed: %s: %s", type(exc).__name__, exc)
        await self._say_offline_quietly(send)

    async def _say_offline_quietly(self, send: outbox.PublishOne) -> None:
        """Publish ``offline`` (bounded); a failure is logged, not raised: the broker then
        publishes the last will itself once it notices the connection is gone."""
        try:
            async with asyncio.timeout(self._opts.offline_timeout_s):
                await send(self._state_message(online=False))
        except (aiomqtt.MqttError, TimeoutError) as exc:
            log.debug("bridge state offline not published: %s", type(exc).__name__)
        self._connected = False

"""Answering workstation requests (``…/camera/{id}/request`` → ``…/response``).

Requests are untrusted input.  Each one is read (`bridge.bus.payloads.parse_request`: size
cap, JSON object, known action), rate limited (`bridge.bus.ratelimit`), handed to the
daemon's handler under a deadline, and answered on the camera's response topic — or, on
MQTT 5, on the request's response topic with its correlation data.  A malformed,
oversized, refused or failing request gets an error response; nothing a request does can
end the connection or the publisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridge.bus.message import CONTENT_JSON
from bridge.bus.payloads import MAX_REQUEST_BYTES, RequestError, parse_request, response_payload
from bridge.bus.ratelimit import RequestLimits, RequestRateLimiter
from bridge.bus.topics import GridPath, Topics

__all__ = ["MAX_CORRELATION_BYTES", "Reply", "RequestHandler", "Responder"]

log = logging.getLogger(__name__)

RequestHandler = Callable[[GridPath, str, bytes, Mapping[str, str]], Awaitable[bytes | None]]
"""``handle_request(path, camera_id, payload, client_props)`` → the response payload (from
`bridge.bus.payloads.response_payload`), or None for no response.  ``payload`` is the
request as received (already checked by ``parse_request``); ``client_props`` the MQTT 5
user properties (empty on 3.1.1)."""

MAX_CORRELATION_BYTES = 256  # longer correlation data is not echoed
MAX_USER_PROPERTIES = 16
MAX_PROPERTY_CHARS = 256
CLIENT_PROPERTY = "client"  # MQTT 5 user property naming the asking client (rate limits)
MAX_CLIENT_CHARS = 64  # a longer client name is cut: it is a rate-limit key kept in memory
RATE_LIMITED = "rate limited"


@dataclass(frozen=True, slots=True)
class Reply:
    """A response to publish (QoS 1, not retained)."""

    topic: str
    payload: bytes
    correlation: bytes | None = None


class Responder:
    """Turns request messages into replies; `serve` runs it on a connection.

    Without a handler it answers nothing, but `serve` still watches the connection (its
    message stream is how a lost connection shows).  ``monotonic`` is the clock of the
    rate limits.
    """

    def __init__(
        self,
        topics: Topics,
        handler: RequestHandler | None,
        limits: RequestLimits,
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        timeout_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topics = topics
        self._handler = handler
        self._limiter = RequestRateLimiter(limits)
        self._max_bytes = max_request_bytes
        self._timeout_s = timeout_s
        self._monotonic = monotonic

    @property
    def enabled(self) -> bool:
        """Whether requests are answered (a handler was given)."""
        return self._handler is not None

    async def serve(
        self, client: aiomqtt.Client, *, v5: bool, publish_timeout_s: float, concurrency: int
    ) -> None:
        """Answer each request arriving on ``client``, at most ``concurrency`` at once,
        until the connection is lost (then raises ``aiomqtt.MqttError``).  Waiting for the
        next message is bounded by the connection's keepalive."""
        slots = asyncio.Semaphore(concurrency)
        async with asyncio.TaskGroup() as group:
            async for message in client.messages:
                if not self.enabled:
                    continue
                await slots.acquire()  # held at most request deadline + publish deadline
                task = group.create_task(
                    self._one(client, message, v5, publish_timeout_s), name="bus-request"
                )
                task.add_done_callback(lambda _: slots.release())

    async def _one(
        self, client: aiomqtt.Client, message: aiomqtt.Message, v5: bool, timeout_s: float
    ) -> None:
        topic = str(message.topic)
        try:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            reply = await self.answer(topic, payload, message.properties if v5 else None)
            if reply is None:
                return
            properties = None
            if v5:
                properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                properties.ContentType = CONTENT_JSON
                if reply.correlation is not None:
                    properties.CorrelationData = reply.correlation
            await client.publish(
                reply.topic, reply.payload, 1, False, properties, timeout=timeout_s
            )
        except aiomqtt.MqttError as exc:  # the connection's own watcher reports the loss
            log.debug("response to %.120s not published: %s", topic, exc)
        except Exception:
            log.exception("request on %.120s failed", topic)

    async def answer(
        self, topic: str, payload: bytes, properties: Properties | None = None
    ) -> Reply | None:
        """The reply to one request message, or None (not a request topic; no answer
        wanted; a refusal past the refusals limit).  Never raises but ``CancelledError``."""
        parsed = self._topics.parse_request(topic)
        if parsed is None:
            log.debug("message on %.120s is no request; ignored", topic)
            return None
        path, camera_id = parsed
        user = _user_properties(properties)
        reply_to, correlation = self._reply_to(properties, self._topics.response(path, camera_id))

        def error(request_id: str | None, action: str | None, why: str) -> Reply:
            body = response_payload(request_id, False, action=action, error=why)
            return Reply(reply_to, body, correlation)

        try:
            request = parse_request(payload, max_bytes=self._max_bytes)
        except RequestError as exc:
            client = user.get(CLIENT_PROPERTY, "")[:MAX_CLIENT_CHARS]
            refused = self._limiter.admit(None, client, self._monotonic())
            if refused is not None:
                return self._refusal(error(exc.request_id, None, RATE_LIMITED), camera_id, refused)
            log.debug("bad request for camera %s: %s", camera_id, exc.message)
            return error(exc.request_id, None, exc.message)
        client = (user.get(CLIENT_PROPERTY) or request.client or "")[:MAX_CLIENT_CHARS]
        refused = self._limiter.admit(camera_id, client, self._monotonic())
        if refused is not None:
            reply = error(request.id, request.action, RATE_LIMITED)
            return self._refusal(reply, camera_id, refused)
        if self._handler is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                body = await self._handler(path, camera_id, payload, user)
        except TimeoutError:
            log.warning("%s request for camera %s timed out", request.action, camera_id)
            return error(request.id, request.action, "request timed out")
        except Exception:
            log.exception("%s request for camera %s failed", request.action, camera_id)
            return error(request.id, request.action, "internal error")
        return None if body is None else Reply(reply_to, body, correlation)

    def _refusal(self, reply: Reply, camera_id: str, limit: str) -> Reply | None:
        if self._limiter.may_answer_refusal(self._monotonic()):
            log.debug("request for camera %s refused: %s limit", camera_id, limit)
            return reply
        return None

    def _reply_to(self, properties: Properties | None, default: str) -> tuple[str, bytes | None]:
        """Where to answer: the request's MQTT 5 response topic when acceptable, else
        ``default``; and the correlation data to echo (None when absent or too long).

        Accepted response topics: ``default`` itself or below it, or any topic outside our
        root (the workstation's own; the broker's ACL decides whether we may write it).
        Refused: wildcards, ``$`` topics, and anything else under our root — a request
        must not make the bridge write over its own status or summary topics.
        """
        correlation = getattr(properties, "CorrelationData", None)
        if not isinstance(correlation, bytes) or len(correlation) > MAX_CORRELATION_BYTES:
            correlation = None
        wanted = getattr(properties, "ResponseTopic", None)
        if not isinstance(wanted, str) or not wanted or len(wanted) > 1024:
            return default, correlation
        if any(ch in wanted for ch in "+#\x00") or wanted.startswith("$"):
            return default, correlation
        root = self._topics.root
        own_tree = wanted == root or wanted.startswith(root + "/")
        if own_tree and wanted != default and not wanted.startswith(default + "/"):
            return default, correlation
        return wanted, correlation


def _user_properties(properties: Properties | None) -> dict[str, str]:
    """The MQTT 5 user properties (the first of each name; at most 16, values cut)."""
    pairs = getattr(properties, "UserProperty", None)
    out: dict[str, str] = {}
    if not isinstance(pairs, list):
        return out
    for pair in pairs[:MAX_USER_PROPERTIES]:
        if isinstance(pair, tuple) and len(pair) == 2:
            name, value = pair
            if isinstance(name, str) and isinstance(value, str):
                out.setdefault(name[:MAX_PROPERTY_CHARS], value[:MAX_PROPERTY_CHARS])
    return out

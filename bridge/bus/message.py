"""One message for the bus, as the outbox stores it and the publisher sends it.

Pure: no I/O, no MQTT client.  The store imports this module, so it must stay light.

A `Message` carries only what the outbox table keeps (topic, payload, QoS, retain flag).
The MQTT 5 properties a message gets on the wire follow from its topic and payload
(`wire_properties`): the bus contract fixes them per kind of topic (DESIGN §4), so they
need not be stored with every row.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTENT_JPEG",
    "CONTENT_JSON",
    "CONTENT_TEXT",
    "MAX_PAYLOAD_BYTES",
    "SNAPSHOT_EXPIRY_S",
    "Message",
    "WireProperties",
    "wire_properties",
]

CONTENT_JSON = "application/json"
CONTENT_JPEG = "image/jpeg"
CONTENT_TEXT = "text/plain"

SNAPSHOT_EXPIRY_S = 300
"""MQTT 5 message expiry of a thumbnail: a picture older than this is not worth delivering
to a workstation that reconnects late."""

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
"""Largest payload accepted into a message (JPEG cap of DESIGN §12; MQTT allows 256 MiB)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message to publish: ``topic``, ``payload`` (bytes), ``qos`` (0, 1 or 2), ``retain``.

    Construction checks the shape only: a non-empty topic without wildcards or NUL, bytes
    payload within `MAX_PAYLOAD_BYTES`, a valid QoS.  Raises ``ValueError`` (``TypeError``
    for a payload that is not bytes).  An empty retained payload clears the retained
    message of its topic at the broker.
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise ValueError("message topic is empty")
        if any(ch in self.topic for ch in "+#\x00"):
            raise ValueError(f"message topic {self.topic[:80]!r} holds a wildcard or NUL")
        if not isinstance(self.payload, bytes):
            raise TypeError(f"message payload must be bytes, not {type(self.payload).__name__}")
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"message payload is {len(self.payload)} bytes, too large")
        if self.qos not in (0, 1, 2):
            raise ValueError(f"message QoS must be 0, 1 or 2, not {self.qos!r}")


@dataclass(frozen=True, slots=True)
class WireProperties:
    """MQTT 5 properties of a message: content type and expiry (None: not sent)."""

    content_type: str | None
    expiry_s: int | None


_NONE = WireProperties(None, None)
_JSON = WireProperties(CONTENT_JSON, None)
_TEXT = WireProperties(CONTENT_TEXT, None)
_SNAPSHOT = WireProperties(CONTENT_JPEG, SNAPSHOT_EXPIRY_S)


def wire_properties(message: Message) -> WireProperties:
    """The MQTT 5 properties the bus contract gives ``message``.

    - ``…/snapshot``: ``image/jpeg``, expiring after `SNAPSHOT_EXPIRY_S`;
    - ``…/bridge/state``: ``text/plain``;
    - any other payload that starts with ``{`` (status, summary, response, work order):
      ``application/json``;
    - an empty payload (a cleared retained message) or anything else: none.
    """
    if not message.payload:
        return _NONE
    topic = message.topic
    if topic.endswith("/snapshot"):
        return _SNAPSHOT
    if topic.endswith("/bridge/state"):
        return _TEXT
    if message.payload[:1] == b"{":
        return _JSON
    return _NONE

"""The pure parts of reaching the broker: URLs, retry delays, outage logging, MQTT 5
properties by kind of message."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bridge.bus.connection import (
    BusConfigError,
    OutageLog,
    parse_broker_url,
    reconnect_delay_s,
)
from bridge.bus.message import Message, wire_properties
from bridge.bus.topics import Topics
from tests.bridge.bus.conftest import (
    PATH,
    status,
)

# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.example", ("broker.example", 1883, False, None, None)),
        ("mqtts://broker.example", ("broker.example", 8883, True, None, None)),
        ("mqtt://10.0.0.5:1884/", ("10.0.0.5", 1884, False, None, None)),
        ("MQTT://[::1]:1885", ("::1", 1885, False, None, None)),
        ("mqtt://gb:p@ss#w/rd@h:1", ("h", 1, False, "gb", "p@ss#w/rd")),
        (" mqtts://gb:p%40ss@h ", ("h", 8883, True, "gb", "p@ss")),
    ],
)
def test_parse_broker_url(url: str, expected: tuple[Any, ...]) -> None:
    a = parse_broker_url(url)
    assert (a.host, a.port, a.tls, a.username, a.password) == expected
    assert "ss" not in a.masked().split("@")[0].split(":", 2)[-1]  # password masked


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "expected mqtt://"),
        ("broker:1883", "expected mqtt://"),
        ("ws://h:1", "scheme"),
        ("mqtt://h:0", "port"),
        ("mqtt://h:99999", "port"),
        ("mqtt://h:x", "expected"),
        ("mqtt://h/topic", "no path"),
        ("mqtt://h?x=1", "no path"),
        ("tcp://u:hunter2@h", "scheme"),
    ],
)
def test_bad_broker_urls(url: str, why: str) -> None:
    with pytest.raises(BusConfigError, match=why) as caught:
        parse_broker_url(url)
    assert "hunter2" not in str(caught.value)


def test_settings_credentials_win_over_the_url() -> None:
    a = parse_broker_url("mqtt://u:url-pw@h", "bridge", "settings-pw")
    assert (a.username, a.password) == ("bridge", "settings-pw")
    assert a.masked() == "mqtt://bridge:***@h:1883"
    assert "settings-pw" not in repr(a)


def test_reconnect_delay_grows_with_jitter_up_to_the_cap() -> None:
    mids = [reconnect_delay_s(n, 0.5) for n in range(1, 8)]
    assert mids[:4] == [1.0, 2.0, 4.0, 8.0]
    assert mids[4:] == [15.0, 15.0, 15.0]  # RECONNECT_MAX_DELAY_S
    assert reconnect_delay_s(1, 0.0) == pytest.approx(0.75)
    assert reconnect_delay_s(1, 0.999999) == pytest.approx(1.25)
    assert reconnect_delay_s(10_000, 0.5) == 15.0


def test_wire_properties_follow_the_contract() -> None:
    t = Topics("gb")

    def props(message: Message) -> tuple[str | None, int | None]:
        wire = wire_properties(message)
        return wire.content_type, wire.expiry_s

    assert props(status(t, "c", "online")) == ("application/json", None)
    assert props(Message(t.snapshot(PATH, "c"), b"\xff\xd8", 0, False)) == ("image/jpeg", 300)
    assert props(Message(t.bridge_state(), b"online", 1, True)) == ("text/plain", None)
    assert props(Message(t.status(PATH, "c"), b"", 1, True)) == (None, None)  # a clear


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.bus.connection")
    clock = [100.0]
    outage = OutageLog(lambda: clock[0], reconnect_max_s=60)
    address = parse_broker_url("mqtt://bridge:pw@h")
    outage.up(address, "5")
    for how in ("dropped", "failed", "failed", "auth", "auth", "failed"):
        clock[0] += 10
        outage.down(address, OSError("no route"), how)
    clock[0] += 10
    outage.up(address, "5")
    loud = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert loud == [
        ("INFO", "connected to MQTT broker mqtt://bridge:***@h:1883 (MQTT 5)"),
        (
            "WARNING",
            "MQTT broker mqtt://bridge:***@h:1883 connection lost: no route; "
            "reconnecting with backoff up to 60 s",
        ),
        (
            "ERROR",
            "MQTT broker mqtt://bridge:***@h:1883 refused our credentials (no route); "
            "retrying every 300 s",
        ),
        (
            "WARNING",
            "MQTT broker mqtt://bridge:***@h:1883 unreachable: no route; "
            "reconnecting with backoff up to 60 s",
        ),
        ("INFO", "MQTT broker mqtt://bridge:***@h:1883 is back after 60 s"),
    ]
    assert len([r for r in caplog.records if "still unreachable" in r.getMessage()]) == 3

"""The generated broker accounts against a real Mosquitto (DESIGN §4, issue 4 item 4), and
Mosquitto's password hash format (checked against lines written by ``mosquitto_passwd``).

Each test starts its own ``mosquitto`` on a free 127.0.0.1 port with the shipped
``deploy/mosquitto/mosquitto.conf`` (its site-specific lines — listener, file paths, log
destination — replaced) and the ``acl`` and ``passwd`` that ``gridbridge broker-accounts``
wrote for a small two-township map.  Every received message is checked on topic, payload,
retain flag and QoS together.

"Only its own" is asserted without sleeping: a subscriber's retained messages are queued at
SUBSCRIBE time, so once a marker published *after* SUBACK arrives, everything the broker was
ever going to send it has arrived.  Likewise Mosquitto keeps one publisher's messages in
order, so a forbidden publish followed by an allowed one has been dropped when the allowed
one arrives first.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from bridge.bootstrap import build_store
from bridge.bus.embedded import find_mosquitto
from bridge.bus.mosquitto_passwd import (
    PASSWORD_ALPHABET,
    PasswordFileError,
    check_username,
    format_password_file,
    hash_password,
    new_password,
    parse_password_file,
    verify_password,
)
from bridge.bus.topics import UNMAPPED, GridPath, Topics
from bridge.cli.accounts import broker_accounts, read_accounts_csv
from bridge.model import GridCell, Level
from bridge.settings import MqttSettings, Settings, StoreSettings
from tests.support import peer_missing

ROOT = "gbtest"
TOPICS = Topics(ROOT)
SHIPPED_CONF = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "mosquitto.conf"
SITE_KEYS = {"listener", "acl_file", "password_file", "pid_file", "log_dest", "certfile", "keyfile"}
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
LEVELS = {"T": Level.TOWNSHIP, "V": Level.VILLAGE, "G": Level.GRID}
TREE = "T1<D V1<T1 G1<V1 G2<V1 V2<T1 G3<V2 T2<D V3<T2 G4<V3"  # code<parent
CELLS = [
    GridCell(code, f"cell {code}", LEVELS[code[0]], parent, SQUARE)
    for code, parent in (item.split("<") for item in TREE.split())
]
CAMERAS = {  # camera id → where the bridge publishes it
    "cam-g1": GridPath("T1", "V1", "G1"),
    "cam-g2": GridPath("T1", "V1", "G2"),
    "cam-g3": GridPath("T1", "V2", "G3"),
    "cam-v1": GridPath("T1", "V1", "_"),
    "cam-t1": GridPath("T1", "_", "_"),
    "cam-g4": GridPath("T2", "V3", "G4"),
    "cam-unmapped": UNMAPPED,
}
Received = tuple[str, bytes, bool, int]  # topic, payload, retain, QoS


def status_body(camera: str) -> bytes:
    return b'{"schema":"gridbridge.status/1","id":"%s","state":"online"}' % camera.encode()


def mosquitto_exe() -> Path:
    exe = find_mosquitto()
    if exe is None:
        peer_missing("mosquitto is not installed (apt-get install mosquitto)")
    return exe


def site_config(port: int, acl: Path, passwd: Path, log: Path) -> str:
    """The shipped config with its site-specific lines replaced for this test."""
    kept = [
        line
        for line in SHIPPED_CONF.read_text(encoding="utf-8").splitlines()
        if line.split(" ", 1)[0] not in SITE_KEYS
    ]
    return "\n".join(
        [
            *kept,
            f"listener {port} 127.0.0.1",
            f"acl_file {acl}",
            f"password_file {passwd}",
            f"log_dest file {log}",
            # Started as root, Mosquitto would drop to the `mosquitto` user before reading the
            # 0600 files in pytest's private tmp dir; run it as whoever runs the tests.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "",
        ]
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Broker:
    port: int
    passwords: dict[str, str]

    def client(
        self,
        user: str,
        password: str | None = None,
        protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V311,
    ) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            username=user,
            password=self.passwords[user] if password is None else password,
            identifier=f"{user}-{time.monotonic_ns()}",
            protocol=protocol,
            timeout=5,
        )


def start_mosquitto(
    exe: Path, tmp: Path, acl: Path, passwd: Path
) -> tuple[subprocess.Popen[bytes], int]:
    log = tmp / "mosquitto.log"
    for _ in range(3):  # a free port may be taken before Mosquitto binds it
        port = free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(site_config(port, acl, passwd, log), encoding="utf-8")
        log.write_bytes(b"")
        proc = subprocess.Popen(
            [str(exe), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            said = log.read_text(encoding="utf-8", errors="replace")
            if "running" in said:
                return proc, port
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        else:
            proc.kill()
            proc.wait()
            pytest.fail(f"mosquitto did not start: {log.read_text(errors='replace')}")
        errors = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if "Address already in use" not in said + errors:
            pytest.fail(f"mosquitto exited {proc.returncode}: {said} {errors}")
    pytest.fail("no free port for mosquitto after 3 tries")


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A real Mosquitto with the shipped config and the accounts of ``CELLS``."""
    exe = mosquitto_exe()
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"), mqtt=MqttSettings(root=ROOT)
    )
    async with build_store(settings) as store:
        await store.replace_grid(CELLS)
    out = tmp_path / "broker"
    command = argparse.Namespace(
        out=out, bridge_user=None, password_length=None, rotate=None, format="table"
    )
    assert await broker_accounts(command, settings) == 0
    proc, port = start_mosquitto(exe, tmp_path, out / "acl", out / "passwd")
    try:
        yield Broker(port, read_accounts_csv(out / "accounts.csv"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


async def publish_statuses(broker: Broker) -> None:
    async with broker.client("gridbridge") as bridge:
        await bridge.publish(TOPICS.bridge_state(), b"online", qos=1, retain=True)
        for camera, path in CAMERAS.items():
            await bridge.publish(
                TOPICS.status(path, camera), status_body(camera), qos=1, retain=True
            )


async def received_until(client: aiomqtt.Client, marker: str) -> list[Received]:
    """Messages until one on ``marker`` arrives (the marker itself is left out)."""
    got: list[Received] = []
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            if message.topic.value == marker:
                assert (message.payload, message.retain, message.qos) == (b"marker", False, 1)
                return got
            got.append((message.topic.value, message.payload, message.retain, message.qos))
    raise AssertionError("unreachable")


def expected_statuses(cameras: list[str]) -> list[Received]:
    retained = [(TOPICS.bridge_state(), b"online", True, 1)]
    retained += [(TOPICS.status(CAMERAS[c], c), status_body(c), True, 1) for c in cameras]
    return sorted(retained)


@pytest.mark.parametrize(
    ("user", "marker", "cameras"),
    [
        ("ws-G1", TOPICS.grid_summary(GridPath("T1", "V1", "G1")), ["cam-g1"]),
        ("ws-V1", TOPICS.village_summary("T1", "V1"), ["cam-g1", "cam-g2", "cam-v1"]),
        (
            "ws-T1",
            TOPICS.town_summary("T1"),
            ["cam-g1", "cam-g2", "cam-g3", "cam-v1", "cam-t1"],
        ),
        ("ws-T2", TOPICS.town_summary("T2"), ["cam-g4"]),
    ],
)
@pytest.mark.parametrize("wide", [True, False], ids=["subscribe-everything", "subscribe-own"])
async def test_a_workstation_receives_only_its_own_subtree(
    broker: Broker, user: str, marker: str, cameras: list[str], wide: bool
) -> None:
    await publish_statuses(broker)
    own = marker.removesuffix("/summary") + "/#"
    async with broker.client(user) as station, broker.client("gridbridge") as bridge:
        await station.subscribe(f"{ROOT}/#" if wide else own, qos=1)
        if not wide:
            await station.subscribe(TOPICS.bridge_state(), qos=1)
        await bridge.publish(marker, b"marker", qos=1, retain=False)
        got = await received_until(station, marker)
    assert sorted(got) == expected_statuses(cameras)


async def test_the_bridge_account_receives_everything(broker: Broker) -> None:
    await publish_statuses(broker)
    marker = TOPICS.town_summary("T2")
    async with broker.client("gridbridge") as bridge:
        await bridge.subscribe(f"{ROOT}/#", qos=1)
        await bridge.publish(marker, b"marker", qos=1, retain=False)
        got = await received_until(bridge, marker)
    assert sorted(got) == expected_statuses(list(CAMERAS))


@pytest.mark.parametrize("password", ["wrong", ""])
async def test_a_wrong_password_is_refused(broker: Broker, password: str) -> None:
    with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
        async with broker.client("ws-G1", password):
            pass
    broker.passwords["ws-nobody"] = broker.passwords["ws-G1"]
    with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
        async with broker.client("ws-nobody"):
            pass


@pytest.mark.parametrize("protocol", [aiomqtt.ProtocolVersion.V311, aiomqtt.ProtocolVersion.V5])
async def test_a_grid_account_publishes_requests_only_for_its_own_cameras(
    broker: Broker, protocol: aiomqtt.ProtocolVersion
) -> None:
    body = b'{"action":"recheck","id":"r1"}'
    own = TOPICS.request(CAMERAS["cam-g1"], "cam-g1")
    forbidden = [
        TOPICS.request(CAMERAS["cam-g2"], "cam-g2"),  # the sibling grid's camera
        TOPICS.request(CAMERAS["cam-v1"], "cam-v1"),  # a camera of its village, not its grid
        TOPICS.request(CAMERAS["cam-g4"], "cam-g4"),  # another township's
        TOPICS.status(CAMERAS["cam-g1"], "cam-g1"),  # forging its own camera's status
        TOPICS.response(CAMERAS["cam-g1"], "cam-g1"),  # or a response
        TOPICS.bridge_state(),
    ]
    async with broker.client("gridbridge") as bridge:
        await bridge.subscribe(f"{ROOT}/#", qos=1)
        async with broker.client("ws-G1", protocol=protocol) as station:
            for topic in forbidden:
                # Accepted on the wire (MQTT 5: PUBACK reason 135), dropped by the broker.
                await station.publish(topic, body, qos=1)
            await station.publish(own, body, qos=1)
        async with asyncio.timeout(10):
            first = await anext(aiter(bridge.messages))
    assert isinstance(first.payload, bytes)
    assert (first.topic.value, first.payload, first.retain, first.qos) == (own, body, False, 1)


async def test_a_township_account_requests_anywhere_in_its_township(broker: Broker) -> None:
    body = b'{"action":"snapshot","id":7}'
    mine = [TOPICS.request(CAMERAS[c], c) for c in ("cam-t1", "cam-v1", "cam-g3")]
    other = TOPICS.request(CAMERAS["cam-g4"], "cam-g4")
    async with broker.client("gridbridge") as bridge:
        await bridge.subscribe(TOPICS.request_filter(), qos=1)
        async with broker.client("ws-T1") as station:
            for topic in [other, *mine]:
                await station.publish(topic, body, qos=1)
        got: list[Received] = []
        async with asyncio.timeout(10):
            async for message in bridge.messages:
                assert isinstance(message.payload, bytes)
                got.append((message.topic.value, message.payload, message.retain, message.qos))
                if len(got) == len(mine):
                    break
    assert got == [(topic, body, False, 1) for topic in mine]


# --- Mosquitto password hashes (pure, plus mosquitto_passwd itself) -----------------------

# Written by the real `mosquitto_passwd -b pw alice 's3cret:x'` (Mosquitto 2.0.11).
MOSQUITTO_LINE = (
    "alice:$7$101$8/CmwMtvq1KfoKnt$we0RYS3yekR02Oe3X88UTzbKwxNH1hzvYsbffROEJTihMyd1ioIuwZn/"
    "zBkfmipAzEgqqcBHFsLGMqswvvIbVA=="
)


def test_verifies_a_hash_written_by_mosquitto_passwd() -> None:
    entries = parse_password_file(MOSQUITTO_LINE + "\n")
    assert verify_password("s3cret:x", entries["alice"])
    assert not verify_password("s3cret:y", entries["alice"])


def test_hash_reproduces_mosquitto_passwd_from_its_salt() -> None:
    encoded = MOSQUITTO_LINE.split(":", 1)[1]
    salt = base64.b64decode(encoded.split("$")[3])
    assert hash_password("s3cret:x", salt=salt) == encoded


def test_hash_format_and_round_trip() -> None:
    encoded = hash_password("pässwörd")
    kind, iterations, salt, digest = encoded.split("$")[1:]
    assert (kind, iterations) == ("7", "101")
    assert len(base64.b64decode(salt)) == 12
    assert len(base64.b64decode(digest)) == 64
    assert verify_password("pässwörd", encoded)
    assert hash_password("pässwörd") != encoded  # a fresh salt each time


def test_verify_reads_the_old_sha512_form_and_rejects_junk() -> None:
    salt = b"0123456789ab"
    digest = hashlib.sha512(b"pw" + salt).digest()
    old = f"$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("pw", old)
    for junk in ("", "$7$", "$7$x$y$z", "$7$101$!!$??", "$7$0$AAAA$AAAA", "plain", "$6$a"):
        assert not verify_password("pw", junk)
    assert not verify_password("p\x00w", hash_password("pw"))


def test_password_file_round_trip_and_errors() -> None:
    text = format_password_file({"a": hash_password("1"), "ws-東": hash_password("2")})
    assert list(parse_password_file("# comment\n\n" + text)) == ["a", "ws-東"]
    with pytest.raises(PasswordFileError, match="line 2"):
        parse_password_file("a:$7$x\nno-colon\n")
    with pytest.raises(PasswordFileError, match="twice"):
        parse_password_file("a:$7$x\na:$7$y\n")
    with pytest.raises(ValueError, match="contains ':'"):
        format_password_file({"a:b": hash_password("1")})
    with pytest.raises(ValueError, match="contains"):
        check_username("a\tb")


def test_new_passwords() -> None:
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 24 and set(p) <= set(PASSWORD_ALPHABET) for p in passwords)
    assert not set("0O1lI") & set(PASSWORD_ALPHABET)
    assert len(new_password(40)) == 40
    with pytest.raises(ValueError, match="at least 12"):
        new_password(8)


def test_hashes_made_by_mosquitto_passwd_verify(tmp_path: Path) -> None:
    """``mosquitto_passwd -U`` hashes a plain-text file; our verifier accepts every line."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        peer_missing("mosquitto_passwd is not installed (apt-get install mosquitto)")
    # -U cuts a plain-text password at a second ":" (its own quirk; `-b` keeps it, see the
    # known line in test_accounts.py), so none here.
    plain = {"ws-1": "Abc123xyz789", "ws-東": "pässwörd with space"}
    path = tmp_path / "passwd"
    path.write_text("".join(f"{u}:{p}\n" for u, p in plain.items()), encoding="utf-8")
    subprocess.run([tool, "-U", str(path)], check=True, capture_output=True, timeout=30)
    hashes = parse_password_file(path.read_text(encoding="utf-8"))
    assert hashes.keys() == plain.keys()
    for user, password in plain.items():
        assert hashes[user].startswith("$7$101$")
        assert verify_password(password, hashes[user])
        assert not verify_password(password + "x", hashes[user])

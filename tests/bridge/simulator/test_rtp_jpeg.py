"""The RTP/JPEG packetiser (RFC 2435) on JPEGs made by OpenCV, as the simulator makes them."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from bridge.simulator.rtp_jpeg import (
    MAX_PAYLOAD,
    JpegError,
    interleave,
    packetise,
    parse_jpeg,
    rtp_packet,
)

BASELINE_420 = [
    cv2.IMWRITE_JPEG_QUALITY, 80,
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
]  # fmt: skip

SAMPLING_444 = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]


def picture(width: int = 640, height: int = 360) -> np.ndarray:
    rng = np.random.default_rng(7)
    image = cv2.resize(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8),
                       (width, height), interpolation=cv2.INTER_CUBIC)  # fmt: skip
    return image


def encode(image: np.ndarray, params: list[int] = BASELINE_420) -> bytes:
    ok, data = cv2.imencode(".jpg", image, params)
    assert ok
    return data.tobytes()


def unpack(packet: bytes) -> dict[str, int | bytes]:
    """RTP header + RFC 2435 main header (+ quantisation table header when present)."""
    first, second, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    _, off_hi, off_lo, kind, q, w8, h8 = struct.unpack("!BBHBBBB", packet[12:20])
    offset = off_hi << 16 | off_lo
    fields: dict[str, int | bytes] = {
        "version": first >> 6, "marker": second >> 7, "pt": second & 0x7F, "seq": seq,
        "ts": ts, "ssrc": ssrc, "offset": offset, "type": kind, "q": q, "w": w8 * 8,
        "h": h8 * 8, "data": packet[20:],
    }  # fmt: skip
    if offset == 0 and q >= 128:
        _, precision, length = struct.unpack("!BBH", packet[20:24])
        fields.update(precision=precision, qtables=packet[24 : 24 + length])
        fields["data"] = packet[24 + length :]
    return fields


def test_parse_keeps_what_rfc_2435_sends() -> None:
    data = encode(picture())
    frame = parse_jpeg(data)
    assert (frame.width, frame.height, frame.type) == (640, 360, 1)  # 4:2:0 is type 1
    assert len(frame.qtables) == 128
    dqt = data.index(b"\xff\xdb")
    assert frame.qtables[:64] == data[dqt + 5 : dqt + 69]  # luma table as written in DQT
    sos = data.index(b"\xff\xda")
    assert frame.scan == data[sos + 2 + 12 : -2]  # after the 12-byte SOS header, EOI stripped


def test_4_2_2_is_type_0() -> None:
    params = [*BASELINE_420[:2], cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]  # fmt: skip
    assert parse_jpeg(encode(picture(), params)).type == 0


def test_packets_reassemble_to_the_original_jpeg() -> None:
    data = encode(picture(1280, 720))
    frame = parse_jpeg(data)
    packets = packetise(frame, sequence=65530, timestamp=2**32 - 10, ssrc=0xDEADBEEF)
    fields = [unpack(p) for p in packets]
    assert len(packets) > 10
    assert all(len(p) - 12 <= MAX_PAYLOAD for p in packets)
    assert [f["seq"] for f in fields][:8] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    assert {f["ts"] for f in fields} == {2**32 - 10}
    assert {(f["version"], f["pt"], f["ssrc"], f["q"], f["type"]) for f in fields} == {
        (2, 26, 0xDEADBEEF, 255, 1)
    }
    assert [f["marker"] for f in fields] == [0] * (len(packets) - 1) + [1]
    assert {(f["w"], f["h"]) for f in fields} == {(1280, 720)}
    assert fields[0]["qtables"] == frame.qtables
    assert fields[0]["precision"] == 0
    assert all("qtables" not in f for f in fields[1:])  # tables in the first packet only
    scan = b""
    for f in fields:
        assert f["offset"] == len(scan)  # contiguous fragments
        payload = f["data"]
        assert isinstance(payload, bytes)
        scan += payload
    assert scan == frame.scan
    # What a receiver rebuilds: headers (here the original ones) + the scan + EOI.
    sos = data.index(b"\xff\xda")
    assert data[: sos + 14] + scan + b"\xff\xd9" == data


def test_a_tiny_frame_is_one_packet_with_the_marker() -> None:
    frame = parse_jpeg(encode(np.full((16, 16, 3), 128, np.uint8)))
    (packet,) = packetise(frame, sequence=1, timestamp=0, ssrc=1)
    assert unpack(packet)["marker"] == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a", "not a JPEG"),
        (encode(picture(), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), "only baseline"),
        (encode(picture(), [cv2.IMWRITE_JPEG_RST_INTERVAL, 4]), "restart markers"),
        (encode(cv2.cvtColor(picture(), cv2.COLOR_BGR2GRAY)), "three-component"),
        (encode(picture(), SAMPLING_444), "4:2:0 and 4:2:2"),
        (encode(picture(100, 64)), "width 100 must be a multiple of 8"),
        (encode(picture(2048, 64)), "width 2048 must be a multiple of 8 up to 2040"),
        (encode(picture())[:400], "damaged JPEG"),
    ],
)
def test_what_rfc_2435_cannot_carry_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(JpegError, match=message):
        parse_jpeg(data)


def test_interleaved_framing() -> None:
    packet = rtp_packet(8, 70000, 2**33 + 5, 7, b"\xd5" * 3, False)
    assert packet[:12] == struct.pack("!BBHII", 0x80, 8, 70000 - 65536, 5, 7)
    assert interleave(2, packet) == b"$\x02\x00\x0f" + packet
    with pytest.raises(ValueError, match="channel"):
        interleave(256, packet)

"""ResponseReader: framing RTSP replies under hard caps, fed as a transport would."""

from __future__ import annotations

import pytest

from adapters.errors import ProtocolFailure
from adapters.rtsp_parser import ResponseReader, RtspResponse

HEAD_CAP = 1024
BODY_CAP = 4096
OK = (
    b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n"
    b"Content-Length: 5\r\n\r\nv=0\r\n"
)


def reader() -> ResponseReader:
    return ResponseReader(max_header_bytes=HEAD_CAP, max_body_bytes=BODY_CAP)


def feed(r: ResponseReader, data: bytes, chunk: int = 1 << 20) -> list[RtspResponse]:
    """Write ``data`` into the reader ``chunk`` bytes at most per read, as recv_into would;
    checks the memory invariant: the buffer never exceeds head cap + body cap."""
    out: list[RtspResponse] = []
    while data:
        view = r.writable()
        assert len(view) + r.buffered <= HEAD_CAP + BODY_CAP
        n = min(len(view), len(data), chunk)
        view[:n] = data[:n]
        view.release()
        data = data[n:]
        if (response := r.advance(n)) is not None:
            out.append(response)
    return out


def test_complete_reply_in_one_read_and_byte_by_byte() -> None:
    for chunk in (1 << 20, 1):
        [reply] = feed(reader(), OK, chunk)
        assert (reply.status, reply.reason, reply.body) == (200, "OK", b"v=0\r\n")
        assert reply.headers["content-type"] == "application/sdp"


def test_lf_only_folding_repeats_and_odd_lines() -> None:
    data = (
        b'RTSP/1.0 401 Unauthorized\nWWW-Authenticate: Digest realm="r",\n nonce="n"\n'
        b'WWW-Authenticate: Basic realm="r"\nno colon here\nX-Empty:\nContent-Length: 0\n\n'
    )
    [reply] = feed(reader(), data)
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Digest realm="r", nonce="n", Basic realm="r"'
    assert reply.headers["x-empty"] == ""


def test_pipelined_replies_and_stray_crlf_between_them() -> None:
    r = reader()
    replies = feed(r, OK + b"\r\n\r\n" + OK.replace(b"CSeq: 1", b"CSeq: 2"))
    assert [x.headers["cseq"] for x in replies] == ["1"]  # one reply per advance()
    second = r.advance(0)  # the next one, already buffered
    assert second is not None
    assert second.headers["cseq"] == "2"
    assert r.buffered == 0
    assert r.advance(0) is None


def test_bytes_after_a_reply_are_kept_for_the_next() -> None:
    r = reader()
    assert feed(r, OK + OK[:10])
    assert r.buffered == 10
    [reply] = feed(r, OK[10:])
    assert reply.body == b"v=0\r\n"


def test_no_body_without_content_length() -> None:
    [reply] = feed(reader(), b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
    assert reply.body == b""


def test_other_statuses_return_at_the_head_and_ignore_their_body() -> None:
    for length in (b"99999999999", b"garbage"):
        r = reader()
        [reply] = feed(r, b"RTSP/1.0 500 Internal\r\nContent-Length: " + length + b"\r\n\r\n")
        assert (reply.status, reply.body) == (500, b"")


def test_head_cap() -> None:
    head = b"RTSP/1.0 200 OK\r\nX: " + b"a" * (HEAD_CAP - 24) + b"\r\n\r\n"
    assert len(head) == HEAD_CAP
    assert feed(reader(), head)[0].headers["x"] == "a" * (HEAD_CAP - 24)
    with pytest.raises(ProtocolFailure, match="head over the 1024-byte cap"):
        feed(reader(), b"RTSP/1.0 200 OK\r\nX: " + b"a" * 10_000_000, chunk=300)
    with pytest.raises(ProtocolFailure, match="head over"):
        feed(reader(), b"\r\n" * 10_000)  # stray CR/LF count towards the cap


def test_body_cap_is_refused_before_reading_the_body() -> None:
    r = reader()
    head = f"RTSP/1.0 200 OK\r\nContent-Length: {BODY_CAP + 1}\r\n\r\n".encode()
    with pytest.raises(ProtocolFailure, match="over the 4096-byte cap") as info:
        feed(r, head)
    assert info.value.status == 200
    [reply] = feed(
        reader(),
        f"RTSP/1.0 200 OK\r\nContent-Length: {BODY_CAP}\r\n\r\n".encode() + b"x" * BODY_CAP,
        chunk=700,
    )
    assert len(reply.body) == BODY_CAP


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1, 2", b"\xb2", b"1" * 13, b""])
def test_bad_content_length(value: bytes) -> None:
    with pytest.raises(ProtocolFailure, match="bad Content-Length"):
        feed(reader(), b"RTSP/1.0 200 OK\r\nContent-Length: " + value + b"\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"$\x00\x00\x10" + b"\x80" * 16, "interleaved RTP"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "not an RTSP reply"),
        (b"\x16\x03\x01\x02\x00", "not an RTSP reply"),  # a TLS handshake
        (b"RTSP/1.0 20 OK\r\n\r\n", "status line"),
        (b"RTSP/2.0 200 OK\r\n\r\n", "status line"),
    ],
)
def test_not_rtsp(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolFailure, match=message):
        feed(reader(), data)

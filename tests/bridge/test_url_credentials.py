"""Credentials inside camera URLs: the splitting rule with nasty passwords, and masking."""

from __future__ import annotations

import pytest

from bridge.url_credentials import mask_url, split_rtsp_credentials, url_host_port

NASTY = [
    ("rtsp://admin:Dh#2020pw@127.20.0.79:554/Streaming/Channels/101",
     "rtsp://127.20.0.79:554/Streaming/Channels/101", "admin", "Dh#2020pw"),
    ("rtsp://admin:admin@123@10.0.0.1/ch1", "rtsp://10.0.0.1/ch1", "admin", "admin@123"),
    ("rtsp://admin:p@ss/w@rd@10.0.0.1:554/ch1?x=1", "rtsp://10.0.0.1:554/ch1?x=1", "admin",
     "p@ss/w@rd"),
    ("rtsp://admin:a:b?c#d@cam-01.local/live", "rtsp://cam-01.local/live", "admin", "a:b?c#d"),
    ("rtsp://admin:p%40ss%23@10.0.0.1/", "rtsp://10.0.0.1/", "admin", "p@ss#"),
    ("rtsps://op@[fe80::1]:322/s", "rtsps://[fe80::1]:322/s", "op", None),
    ("rtsp://admin:@10.0.0.1/", "rtsp://10.0.0.1/", "admin", None),
    ("rtsp://10.0.0.1/live?mail=a@b", "rtsp://10.0.0.1/live?mail=a@b", None, None),
    ("rtsp://10.0.0.1:554/Streaming/Channels/101", "rtsp://10.0.0.1:554/Streaming/Channels/101",
     None, None),
    ("not a url", "not a url", None, None),
]  # fmt: skip


@pytest.mark.parametrize(("url", "bare", "user", "password"), NASTY)
def test_split_rtsp_credentials(
    url: str, bare: str, user: str | None, password: str | None
) -> None:
    assert split_rtsp_credentials(url) == (bare, user, password)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:Dh#2020pw@127.20.0.79:554/S/101", "rtsp://admin:***@127.20.0.79:554/S/101"),
        ("rtsp://admin:p@ss/w@rd@10.0.0.1/ch1", "rtsp://admin:***@10.0.0.1/ch1"),
        ("rtsp://admin@10.0.0.1/ch1", "rtsp://admin@10.0.0.1/ch1"),
        ("rtsp://10.0.0.1/ch1", "rtsp://10.0.0.1/ch1"),
        ("rtsp//admin:secret@broken url", "rtsp//admin:***@broken url"),
        ("admin:secret@10.0.0.1", "admin:***@10.0.0.1"),
        ("rtsp://admin:secret@", "rtsp://admin:***@"),
        ("http://h/snap.cgi?loginuse=admin&loginpas=secret&x=1",
         "http://h/snap.cgi?loginuse=admin&loginpas=***&x=1"),
        ("http://h/a?PWD=secret", "http://h/a?PWD=***"),
        ("rtsp://h:554/user=admin&password=secret&channel=1&stream=0.sdp",
         "rtsp://h:554/user=admin&password=***&channel=1&stream=0.sdp"),
    ],
)  # fmt: skip
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "secret" not in mask_url(url)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("rtsp://10.0.0.1/x", ("rtsp", "10.0.0.1", None)),
        ("RTSPS://cam.local:322", ("rtsps", "cam.local", "322")),
        ("rtsp://[fe80::1]:554/s", ("rtsp", "[fe80::1]", "554")),
        ("rtsp://h:/x", ("rtsp", "h", "")),
        ("rtsp://h:12ab/x", None),
        ("rtsp:///x", None),
        ("rtsp//h/x", None),
    ],
)
def test_url_host_port(url: str, parts: tuple[str, str, str | None] | None) -> None:
    assert url_host_port(url) == parts

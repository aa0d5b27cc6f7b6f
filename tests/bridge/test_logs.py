"""Logs never carry URL credentials; JSON lines on request."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bridge.logs import JsonFormatter, RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:Dh#2020pw@127.20.0.79:554/a", "rtsp://admin:***@127.20.0.79:554/a"),
        ("rtsp://admin:p@ss@127.0.0.1/x y", "rtsp://admin:***@127.0.0.1/x y"),
        (
            "a rtsp://u:p@h/1, b postgresql+asyncpg://x:y@db/z",
            "a rtsp://u:***@h/1, b postgresql+asyncpg://x:***@db/z",
        ),
        ("rtsp://127.0.0.1:554/no/creds", "rtsp://127.0.0.1:554/no/creds"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def _logger(stream: io.StringIO, formatter: logging.Formatter | None = None) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    if formatter:
        handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_filter_masks_lazy_arguments() -> None:
    stream = io.StringIO()
    _logger(stream).debug("opening %s", "rtsp://admin:Sx!9xk2@127.0.0.1/a")
    assert "Sx!9xk2" not in stream.getvalue()
    assert "rtsp://admin:***@127.0.0.1/a" in stream.getvalue()


def test_json_lines() -> None:
    stream = io.StringIO()
    _logger(stream, JsonFormatter()).info("摄像机 %s 离线", "41990100011326000001")
    item = json.loads(stream.getvalue())
    assert item["level"] == "INFO"
    assert item["message"] == "摄像机 41990100011326000001 离线"


def test_query_string_credentials_are_masked_too() -> None:
    text = "probe rtsp://127.0.0.1:554/user=admin&password=Sx!9xk2&channel=1 failed"
    assert "Sx!9xk2" not in redact(text)


def test_a_traceback_quoting_a_url_is_masked_in_plain_text() -> None:
    stream = io.StringIO()
    logger = _logger(stream, logging.Formatter("%(levelname)s %(message)s"))
    try:
        raise RuntimeError("cannot open rtsp://admin:Dh#2020pw@127.20.0.79:554/Streaming/101")
    except RuntimeError:
        logger.exception("live camera %s: decoder failed", "41990100011326000001")
    text = stream.getvalue()
    assert "Dh#2020pw" not in text
    assert "rtsp://admin:***@127.20.0.79:554/Streaming/101" in text
    assert "Traceback" in text

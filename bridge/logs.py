"""Logging set-up: plain lines for people, JSON lines on request for district log systems.

A last-line filter masks credentials in any URL that reaches a log message, so a mistake
elsewhere cannot print a camera password (DESIGN §12).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from bridge.url_credentials import mask_url

# Any URL in a message; each is masked by the one masking rule of the project
# (bridge.url_credentials.mask_url: userinfo passwords, pwd=/password= query values).
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ***."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


class RedactingFilter(logging.Filter):
    """Masks URL credentials in the final message of every record, and in its traceback
    (an exception's text may quote a stream URL: OpenCV's and aiohttp's do)."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set (the standard one caches it there).
            record.exc_text = redact(self._tracebacks.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        item = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            item["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(item, ensure_ascii=False)


def setup_logging(level: str, json_lines: bool) -> None:
    """Send logs to stderr at ``level``; stdout stays for data."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiosqlite", "asyncio", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

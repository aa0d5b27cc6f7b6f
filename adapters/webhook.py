"""One webhook POST: a JSON body to a receiver, a generic one or a 企业微信/钉钉 group robot.

Promises of :func:`post_json`:

* It POSTs ``body`` to the ``http``/``https`` URL it is given and nowhere else.  A 307/308
  redirect is followed (the body re-sent) only to the same host, never from https down to
  http, at most ``MAX_REDIRECTS`` times; a 301/302/303 (which turn a POST into a GET) or a
  redirect to another host is refused.
* It ends at ``timeout_s`` whatever the receiver does.  The reply body is read up to
  ``max_reply_bytes`` and no further (the connection is then closed, not drained).
* It returns a :class:`Reply` for a 2xx answer that the platform accepted, and raises only
  :class:`DeliveryError` otherwise, whose ``retryable`` says whether the same message may
  succeed later (connection refused, timeout, 5xx, 408, 429, a robot's rate limit) or not
  (another 4xx, a robot's error code), and whose ``target_fault`` says that every message
  to this target would fail alike (wrong URL, key, signature): a person must fix the
  configuration.
* Robots answer HTTP 200 with ``{"errcode": 0, …}`` on success and a non-zero ``errcode``
  on failure; with ``platform="wecom"``/``"dingtalk"`` that code decides the outcome.
* No message holds the URL, its query (robot keys and access tokens live there) or the
  signing secret; receivers' error texts are shortened and scrubbed of them.

Signing: :func:`dingtalk_signed_url` (钉钉 "加签") and :func:`json_signature_headers`
(generic receivers) are computed per attempt, since DingTalk refuses a timestamp more than
an hour off and a message may wait in the queue longer than that.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import parse_qsl, quote

import aiohttp
from yarl import URL

from adapters.errors import ProbeError
from adapters.http_errors import http_failure

__all__ = [
    "DEFAULT_MAX_REPLY_BYTES",
    "MAX_REDIRECTS",
    "DeliveryError",
    "Platform",
    "Reply",
    "dingtalk_sign",
    "dingtalk_signed_url",
    "json_signature_headers",
    "post_json",
    "scrub_url",
]

Platform = Literal["json", "wecom", "dingtalk"]

DEFAULT_MAX_REPLY_BYTES: Final = 64 << 10
MAX_REDIRECTS: Final = 3
ROBOT_RATE_WINDOW_S: Final = 60.0
"""Both robots count 20 messages per minute; after a rate-limit answer wait the window out."""

_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})
# Statuses that say the target itself is wrong (address, login), not this one message.
_TARGET_STATUS: Final = frozenset({401, 403, 404, 405, 410})
# Robot error codes, from the platforms' documentation and their observed replies.
# -1 is "系统繁忙" on both.  企业微信: 45009 API freq out of limit, 93000 invalid webhook url.
# 钉钉: 130101 send too fast (20/min), 310000 sign not match / keywords not in content /
# IP not in whitelist (the robot's security settings).
_ROBOT_RETRYABLE: Final = {"wecom": frozenset({-1, 45009}), "dingtalk": frozenset({-1, 130101})}
_ROBOT_RATE_LIMIT: Final = frozenset({45009, 130101})
_ROBOT_TARGET: Final = {"wecom": frozenset({93000}), "dingtalk": frozenset({310000})}
_PLATFORM_NAME: Final = {"json": "receiver", "wecom": "企业微信 robot", "dingtalk": "钉钉 robot"}
_DEFAULT_HEADERS: Final = {
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "application/json, */*;q=0.5",
    "User-Agent": "gridbridge-webhook/1",
}
_MAX_TEXT: Final = 120  # characters of a receiver's error text kept in a message
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class DeliveryError(ProbeError):
    """A webhook message was not accepted.  ``code`` is stable for machines: one of
    ``unreachable``, ``timeout``, ``protocol``, ``http`` (a refusing status), ``robot``
    (a robot's non-zero errcode).  ``retry_after_s`` is the wait the receiver asked for
    (``Retry-After``, a robot's rate window), or None."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        target_fault: bool = False,
        status: int | None = None,
        errcode: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.target_fault = target_fault
        self.status = status
        self.errcode = errcode
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Reply:
    """An accepted delivery: the status, the reply body (at most the cap; ``truncated``
    when there was more) and the time from the request to the end of the reply."""

    status: int
    body: bytes = field(repr=False)
    truncated: bool
    latency_ms: float


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    platform: Platform = "json",
) -> Reply:
    """POST ``body`` (JSON, UTF-8) to ``url`` within ``timeout_s``; see the module promises.
    ``headers`` are added to (and override) the defaults."""
    try:
        target = URL(url, encoded=True)
    except (ValueError, TypeError):
        raise DeliveryError(
            "webhook URL is not valid", code="protocol", retryable=False, target_fault=True
        ) from None
    if target.scheme not in ("http", "https") or not target.host or target.user is not None:
        raise DeliveryError(
            "webhook URL must be http(s)://host[:port]/path, no credentials",
            code="protocol",
            retryable=False,
            target_fault=True,
        )
    sent_headers = {**_DEFAULT_HEADERS, **(headers or {})}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            status, data, truncated = await _exchange(
                session, target, body, sent_headers, max_reply_bytes
            )
    except DeliveryError as exc:
        raise _scrubbed(exc, url) from None
    except Exception as exc:
        failure = http_failure(
            exc,
            timed_out=f"no reply within {timeout_s:g} s",
            broken_body="reply broken off or badly encoded",
        )
        if failure is None:
            raise
        # An error while reading the reply to a 2xx would be rare; the message may have
        # arrived, but only a retry can make sure (delivery is at least once).
        error = DeliveryError(str(failure), code=failure.code, retryable=True)
        raise _scrubbed(error, url) from None
    latency_ms = (time.perf_counter() - started) * 1000.0
    if platform != "json":
        _check_robot(platform, data, truncated, url)
    return Reply(status, data, truncated, latency_ms)


async def _exchange(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: dict[str, str],
    max_reply_bytes: int,
) -> tuple[int, bytes, bool]:
    """Status and (capped) body of the first non-redirect 2xx reply; raises otherwise."""
    for _ in range(MAX_REDIRECTS + 1):
        response = await session.post(
            url, data=body, headers=headers, allow_redirects=False, raise_for_status=False
        )
        async with response:
            status = response.status
            if 200 <= status < 300:
                data, truncated = await _read_capped(response, max_reply_bytes)
                return status, data, truncated
            if status in (307, 308):
                url = _same_host(url, response.headers.get("Location"), status)
                response.close()
                continue
            detail = ""
            if status < 500:  # a 4xx often says why (bad key, bad JSON); 5xx pages don't
                text, _ = await _read_capped(response, 2048)
                detail = _short(text.decode("utf-8", "replace"))
            response.close()
            raise _status_error(status, response.headers.get("Retry-After"), detail)
    raise DeliveryError("too many redirects", code="protocol", retryable=False, target_fault=True)


def _status_error(status: int, retry_after: str | None, detail: str) -> DeliveryError:
    """The error for a non-2xx, non-followed status."""
    suffix = f": {detail}" if detail else ""
    if status >= 500 or status in _RETRYABLE_STATUS:
        wait = _retry_after_s(retry_after)
        return DeliveryError(
            f"HTTP {status}{suffix}",
            code="http",
            retryable=True,
            status=status,
            retry_after_s=wait,
        )
    if 300 <= status < 400:
        return DeliveryError(
            f"HTTP {status}: the receiver moved; configure its new URL",
            code="http",
            retryable=False,
            target_fault=True,
            status=status,
        )
    return DeliveryError(
        f"HTTP {status}{suffix}",
        code="http",
        retryable=False,
        target_fault=status in _TARGET_STATUS,
        status=status,
    )


def _retry_after_s(value: str | None) -> float | None:
    """Seconds of a ``Retry-After: <seconds>`` header (the HTTP-date form is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(min(int(value.strip()), 86400))


def _same_host(url: URL, location: str | None, status: int) -> URL:
    """The redirect target, refused unless it stays on the host and keeps https."""
    if not location:
        raise DeliveryError(
            f"HTTP {status} without a Location",
            code="protocol",
            retryable=False,
            target_fault=True,
            status=status,
        )
    try:
        target = url.join(URL(location))
    except (ValueError, TypeError):
        target = None
    if (
        target is None
        or target.host != url.host
        or target.scheme not in ("http", "https")
        or (url.scheme == "https" and target.scheme != "https")
        or target.user is not None
    ):
        raise DeliveryError(
            f"HTTP {status}: redirect to another host or scheme refused",
            code="protocol",
            retryable=False,
            target_fault=True,
            status=status,
        )
    return target.with_fragment(None)


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more (then the connection
    is closed rather than drained: an endless body must not hold us)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await response.content.readany():
        if total + len(chunk) > cap:
            chunks.append(chunk[: cap - total])
            response.close()
            return b"".join(chunks), True
        total += len(chunk)
        chunks.append(chunk)
    return b"".join(chunks), False


def _check_robot(platform: Platform, data: bytes, truncated: bool, url: str) -> None:
    """Raise unless a robot's 200 reply is ``{"errcode": 0, …}``."""
    name = _PLATFORM_NAME[platform]
    errcode: object = None
    errmsg: object = ""
    if not truncated:
        try:
            reply = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            reply = None
        if isinstance(reply, dict):
            errcode, errmsg = reply.get("errcode"), reply.get("errmsg", "")
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        # Not the robot at all (a portal page, a proxy): the URL is wrong.  Retrying would
        # not help and might post twice if the message did arrive somewhere.
        raise DeliveryError(
            f"{name} answered HTTP 200 without an errcode",
            code="protocol",
            retryable=False,
            target_fault=True,
            status=200,
        )
    if errcode == 0:
        return
    text = scrub_url(_short(str(errmsg)), url)
    raise DeliveryError(
        f"{name} errcode {errcode}: {text}" if text else f"{name} errcode {errcode}",
        code="robot",
        retryable=errcode in _ROBOT_RETRYABLE[platform],
        target_fault=errcode in _ROBOT_TARGET[platform],
        status=200,
        errcode=errcode,
        retry_after_s=ROBOT_RATE_WINDOW_S if errcode in _ROBOT_RATE_LIMIT else None,
    )


def _short(text: str) -> str:
    """One line of at most ``_MAX_TEXT`` characters (a receiver's text is untrusted)."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def scrub_url(text: str, url: str) -> str:
    """``text`` with every secret-looking part of ``url`` masked: a receiver may echo the
    URL, and robot keys/tokens are its query values (or, for some, its path)."""
    target = URL(url, encoded=True)
    secrets = [value for _, value in parse_qsl(target.raw_query_string)]
    secrets += [target.raw_query_string, target.raw_path, target.path]
    secrets += [part for part in target.raw_path.split("/") if len(part) >= 16]
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _scrubbed(exc: DeliveryError, url: str) -> DeliveryError:
    message = scrub_url(str(exc), url)
    if message == str(exc):
        return exc
    return DeliveryError(
        message,
        code=exc.code,
        retryable=exc.retryable,
        target_fault=exc.target_fault,
        status=exc.status,
        errcode=exc.errcode,
        retry_after_s=exc.retry_after_s,
    )


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 "加签": base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}"))."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with ``&timestamp=…&sign=…`` appended (the sign URL-encoded).  DingTalk
    refuses a timestamp more than an hour from its clock: sign at each attempt."""
    sign = quote(dingtalk_sign(secret, timestamp_ms), safe="")
    glue = "&" if "?" in url else "?"
    return f"{url}{glue}timestamp={timestamp_ms}&sign={sign}"


def json_signature_headers(secret: str, body: bytes, timestamp_s: int) -> dict[str, str]:
    """Headers that let a generic receiver check a message came from us, unchanged:
    ``X-Gridbridge-Timestamp: <unix seconds>`` and ``X-Gridbridge-Signature: sha256=<hex
    HMAC-SHA256(key=secret, msg=f"{timestamp}." + body)>`` (the timestamp lets the
    receiver refuse replays; compare with ``hmac.compare_digest``)."""
    message = f"{timestamp_s}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Gridbridge-Timestamp": str(timestamp_s),
        "X-Gridbridge-Signature": f"sha256={digest}",
    }

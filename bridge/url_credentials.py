"""Credentials inside camera URLs: split them out, and mask them for logs.

Pure: no I/O.  ``urllib.parse`` is no use here: real camera passwords contain '#', '@', '/',
':' and '?' unescaped (``rtsp://admin:Dh#2020pw@10.0.0.7/…`` makes urllib read ``Dh`` as the
port).  The rule used instead, for the text after ``scheme://``:

* the userinfo ends at the LAST '@' that is followed by a plausible ``host[:port]`` (a name,
  IPv4 or ``[IPv6]`` address) and then '/', '?', '#' or the end of the URL;
* the username is the userinfo up to its first ':' (usernames never contain ':'), the
  password everything after it, so a password may hold ':', '@', '/', '#', '?';
* a username containing '/', '?' or '#' is refused as implausible: that '@' is in a path
  or query, not in credentials (``rtsp://10.0.0.7/live?mail=a@b`` has none);
* both parts are percent-decoded (``p%40ss`` → ``p@ss``).

The rule can misread a path or query holding ``…:x@host/…``; camera stream paths
(Hikvision ``/Streaming/Channels/101``, Dahua ``/cam/realmonitor?channel=1&subtype=0``,
Uniview ``/media/video1``) never do, while camera passwords routinely contain '@'.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# host[:port] right after the '@', then the end of the authority.
_AUTHORITY = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::[0-9]*)?(?=[/?#]|\Z)")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::([0-9]*))?")
# Passwords some cameras take in the query string (…snapshot.cgi?loginuse=admin&loginpas=…).
_SECRET_PARAM = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|psw|loginpas|secret|token|auth)=)[^&#;]*",
    re.IGNORECASE,
)
MASK = "***"


def _userinfo_end(rest: str) -> int:
    """Index in ``rest`` (the text after '://') of the '@' ending the userinfo, or -1."""
    at = rest.rfind("@")
    while at >= 0:
        user = rest[:at].partition(":")[0]
        if _AUTHORITY.match(rest, at + 1) and not any(c in user for c in "/?#"):
            return at
        at = rest.rfind("@", 0, at)
    return -1


def split_rtsp_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Return ``(url_without_credentials, username, password)`` following the module's rule.

    A URL without credentials (or without '://') comes back unchanged with ``None, None``;
    empty username or password parts are ``None``.  Works for any scheme, not only RTSP.
    """
    sep = url.find("://")
    if sep < 0:
        return url, None, None
    head, rest = url[: sep + 3], url[sep + 3 :]
    at = _userinfo_end(rest)
    if at < 0:
        return url, None, None
    user, _, password = rest[:at].partition(":")
    return head + rest[at + 1 :], unquote(user) or None, (unquote(password) or None)


def mask_url(url: str) -> str:
    """``url`` with every password replaced by '***'; safe to log.

    Masks the password of the userinfo (``rtsp://admin:***@host/…``, see
    ``mask_userinfo``) and the values of password-like query parameters (``pwd=***``).
    """
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", mask_userinfo(url))


def mask_userinfo(url: str) -> str:
    """``url`` with the password of its userinfo replaced by '***'.

    Errs on the side of masking: a malformed URL (``rtsp//admin:pw@host``, no host after
    the '@') is masked too, at its last '@'.  A URL without ``user:password@`` comes back
    unchanged, so ``mask_userinfo(u) == u`` means no password is left in the userinfo.
    """
    sep = url.find("://")
    if sep >= 0:
        start = sep + 3
    else:
        slashes = url.find("//")
        start = slashes + 2 if slashes >= 0 else 0
    rest = url[start:]
    at = _userinfo_end(rest)
    if at < 0:
        at = rest.rfind("@")  # malformed: mask anyway rather than leak
    if at < 0 or ":" not in rest[:at]:
        return url
    return f"{url[:start]}{rest[:at].partition(':')[0]}:{MASK}{rest[at:]}"


def url_host_port(url: str) -> tuple[str, str, str | None] | None:
    """``(scheme, host, port_text)`` of a URL without credentials, or None if it has no host.

    The scheme is lower-cased; IPv6 hosts keep their brackets; ``port_text`` is ``None``
    when absent and may be '' (``host:``) or out of range: the caller judges it.
    """
    sep = url.find("://")
    if sep <= 0:
        return None
    m = _HOST_PORT.match(url, sep + 3)
    if m is None:
        return None
    end = m.end()
    if end < len(url) and url[end] not in "/?#":
        return None
    return url[:sep].lower(), m.group(1), m.group(2)


def url_path(url: str) -> str:
    """The request target of a URL without credentials: path and query ('/' when none).

    ``rtsp://h:554/cam/realmonitor?channel=1`` → ``/cam/realmonitor?channel=1``.  The
    fragment is dropped.  A URL without a host gives '/'.
    """
    sep = url.find("://")
    if sep <= 0:
        return "/"
    m = _HOST_PORT.match(url, sep + 3)
    if m is None:
        return "/"
    rest = url[m.end() :].split("#", 1)[0]
    if not rest:
        return "/"
    return rest if rest.startswith("/") else "/" + rest

"""Client side of HTTP-style authentication (Basic, Digest), for RTSP and HTTP alike.

Pure: no I/O, no protocol knowledge beyond "a method, a request-URI, challenge header
values in, an ``Authorization`` header value out".  The RTSP prober uses it; an HTTP
snapshot client can too.

* :func:`parse_www_authenticate` reads any number of ``WWW-Authenticate`` values, each
  holding one or more challenges (RFC 7235 §4.1), quoted strings with commas included.
* :func:`authorize` picks the best challenge we can answer (the server's first usable
  Digest, else Basic) and returns the header value plus, for Digest, a :class:`DigestState`
  to keep: ``state.authorization(...)`` answers the next request *preemptively* with the
  cached nonce and an incremented ``nc``, so a healthy camera costs one round trip per check.
* Digest per RFC 7616 (and RFC 2617/2069): MD5, MD5-sess, SHA-256, SHA-256-sess; qop
  ``auth`` (or ``auth-int`` with an empty body) or no qop at all; ``opaque`` echoed;
  ``userhash`` honoured.  ``stale=true`` is exposed as :attr:`Challenge.stale`: the caller
  retries once with the new nonce instead of calling the credentials wrong.

Passwords are used and dropped: nothing here stores one (a ``DigestState`` holds only the
server's nonce, realm, opaque and our counters).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# auth-param: name = token / quoted-string, then optional spaces.
_PARAM = re.compile(rf'[ \t]*({_TCHARS})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|({_TCHARS}))[ \t]*')
# auth-scheme, followed by spaces, a comma or the end (never by '=': that is a param).
_SCHEME = re.compile(rf"[ \t]*({_TCHARS})(?:[ \t]+|(?=,)|$)")
_TOKEN68 = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_SEPARATORS = re.compile(r"[ \t]*(?:,[ \t]*)*")
_UNESCAPE = re.compile(r"\\(.)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _md5(data: bytes) -> str:
    # Digest's MD5 is a protocol requirement, not a security choice of ours.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {"MD5": _md5, "SHA-256": _sha256}


class NoUsableChallenge(ValueError):
    """The server offers no challenge this module can answer (e.g. only NTLM or Bearer)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: ``scheme`` lower-cased, ``params`` with lower-cased names, unquoted."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def stale(self) -> bool:
        """Digest ``stale=true``: the nonce expired, the credentials themselves were fine."""
        return self.params.get("stale", "").lower() == "true"


def parse_www_authenticate(values: Iterable[str]) -> list[Challenge]:
    """All challenges in ``values`` (the header's values, in order), junk skipped.

    Never raises: text that is neither a scheme nor a parameter is skipped up to the next
    comma.  A parameter repeated within one challenge keeps its first value.
    """
    challenges: list[Challenge] = []
    for value in values:
        pos, end = 0, len(value)
        params: dict[str, str] | None = None
        while (pos := _SEPARATORS.match(value, pos).end()) < end:  # type: ignore[union-attr]
            m = _PARAM.match(value, pos) if params is not None else None
            if m is not None and params is not None:
                quoted, token = m.group(2), m.group(3)
                unquoted = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else token
                params.setdefault(m.group(1).lower(), unquoted)
                pos = m.end()
                continue
            m = _SCHEME.match(value, pos)
            if m is not None:
                pos = m.end()
                params, token68 = {}, None
                if t68 := _TOKEN68.match(value, pos):
                    token68, pos = t68.group(1), t68.end()
                challenges.append(Challenge(m.group(1).lower(), params, token68))
                continue
            comma = value.find(",", pos)
            pos = end if comma < 0 else comma + 1
    return challenges


def basic_authorization(username: str, password: str) -> str:
    """``Basic`` credentials (RFC 7617), user and password encoded as UTF-8."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class DigestState:
    """What a Digest client keeps between requests to one server: nonce, realm, counters.

    Small (a few short strings) so that one per camera is cheap.  ``authorization`` may be
    called for request after request: each call increments ``nc``; the client nonce stays
    the same for the life of the state (RFC 7616 §3.4 allows this, and it keeps MD5-sess's
    session key valid for every request).  When the server rejects the nonce, build a new
    state from its new challenge.
    """

    __slots__ = (
        "algorithm",
        "cnonce",
        "echo_algorithm",
        "nc",
        "nonce",
        "opaque",
        "qop",
        "realm",
        "userhash",
    )

    def __init__(
        self,
        *,
        realm: str,
        nonce: str,
        algorithm: str,
        echo_algorithm: bool,
        qop: str | None,
        opaque: str | None,
        userhash: bool,
        cnonce: str,
    ) -> None:
        self.realm = realm
        self.nonce = nonce
        self.algorithm = algorithm  # canonical: "MD5", "MD5-sess", "SHA-256", "SHA-256-sess"
        self.echo_algorithm = echo_algorithm
        self.qop = qop
        self.opaque = opaque
        self.userhash = userhash
        self.cnonce = cnonce
        self.nc = 0

    @classmethod
    def from_challenge(cls, challenge: Challenge, *, cnonce: str | None = None) -> DigestState:
        """State for a ``Digest`` challenge; ``NoUsableChallenge`` if we cannot answer it.

        ``cnonce`` is for tests (fixed vectors); by default a random 16-hex-digit one.
        """
        p = challenge.params
        if challenge.scheme != "digest" or "nonce" not in p:
            raise NoUsableChallenge("not a Digest challenge with a nonce")
        algorithm = _canonical_algorithm(p.get("algorithm", "MD5"))
        if algorithm is None:
            raise NoUsableChallenge(f"unsupported Digest algorithm {p['algorithm'][:32]!r}")
        qop: str | None = None
        if "qop" in p:
            offered = {q.strip().lower() for q in p["qop"].split(",")}
            if "auth" in offered:
                qop = "auth"
            elif "auth-int" in offered:
                qop = "auth-int"  # our requests have no body: H(entity) of b""
            else:
                raise NoUsableChallenge("Digest qop offers neither auth nor auth-int")
        elif algorithm.endswith("-sess"):
            # -sess hashes a client nonce that RFC 2617 forbids sending without qop.
            raise NoUsableChallenge(f"Digest {algorithm} without qop is ill-defined")
        return cls(
            realm=p.get("realm", ""),
            nonce=p["nonce"],
            algorithm=algorithm,
            # Echo algorithm= only when the challenge named one (as curl does): RFC 2069-era
            # servers never sent it and need not understand it.
            echo_algorithm="algorithm" in p,
            qop=qop,
            opaque=p.get("opaque"),
            userhash=p.get("userhash", "").lower() == "true",
            cnonce=cnonce if cnonce is not None else secrets.token_hex(8),
        )

    def authorization(self, method: str, uri: str, username: str, password: str) -> str:
        """The ``Authorization`` value for the next request (increments ``nc``).

        ``uri`` must be exactly the request-URI of the request line: servers hash what the
        header says and many compare it with the request line.
        """
        self.nc += 1
        base, sess, _ = self.algorithm.partition("-sess")
        h = _HASHES[base]
        ha1 = h(f"{username}:{self.realm}:{password}".encode())
        nc = f"{self.nc:08x}"
        if sess:
            ha1 = h(f"{ha1}:{self.nonce}:{self.cnonce}".encode())
        a2 = f"{method}:{uri}" if self.qop != "auth-int" else f"{method}:{uri}:{h(b'')}"
        ha2 = h(a2.encode())
        if self.qop is None:
            # RFC 2069 form: older Hikvision and Dahua RTSP servers send no qop at all.
            response = h(f"{ha1}:{self.nonce}:{ha2}".encode())
        else:
            response = h(f"{ha1}:{self.nonce}:{nc}:{self.cnonce}:{self.qop}:{ha2}".encode())
        user = h(f"{username}:{self.realm}".encode()) if self.userhash else username
        parts = [
            f'Digest username="{_quote(user)}"',
            f'realm="{_quote(self.realm)}"',
            f'nonce="{_quote(self.nonce)}"',
            f'uri="{_quote(uri)}"',
            f'response="{response}"',
        ]
        if self.echo_algorithm:
            parts.append(f"algorithm={self.algorithm}")
        if self.opaque is not None:
            parts.append(f'opaque="{_quote(self.opaque)}"')
        if self.qop is not None:
            parts.append(f'qop={self.qop}, nc={nc}, cnonce="{self.cnonce}"')
        if self.userhash:
            parts.append("userhash=true")
        return ", ".join(parts)


def authorize(
    challenges: Iterable[Challenge], method: str, uri: str, username: str, password: str
) -> tuple[str, DigestState | None]:
    """Answer the best challenge: ``(authorization_value, digest_state_or_None)``.

    Preference: the server's first Digest challenge we support (servers list theirs in
    order of preference, RFC 7616 §3.7), else Basic.  A server offering both gets Digest,
    which does not send the password.  ``NoUsableChallenge`` when nothing can be answered.
    """
    basic = False
    for challenge in challenges:
        if challenge.scheme == "digest":
            try:
                state = DigestState.from_challenge(challenge)
            except NoUsableChallenge:
                continue
            return state.authorization(method, uri, username, password), state
        basic = basic or challenge.scheme == "basic"
    if basic:
        return basic_authorization(username, password), None
    raise NoUsableChallenge("no Basic or supported Digest challenge")


def _canonical_algorithm(name: str) -> str | None:
    """RFC spellings, matched case-insensitively (cameras send "md5" and "MD5-SESS")."""
    upper = name.strip().upper()
    for algorithm in ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess"):
        if upper == algorithm.upper():
            return algorithm
    return None


def _quote(text: str) -> str:
    """Escape a value for a quoted-string; CR and LF are dropped (no header injection)."""
    if "\r" in text or "\n" in text:
        text = text.replace("\r", "").replace("\n", "")
    return text.replace("\\", "\\\\").replace('"', '\\"')

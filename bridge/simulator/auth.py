"""Server side of camera authentication: HTTP/RTSP Digest and Basic, WS-Security tokens.

Nonces are stateless: ``<hex time>:<HMAC(secret, time, camera)>``, so 20,000 cameras keep no
per-client state; a nonce older than ``NONCE_TTL_S`` is answered with ``stale=true``.  Replay of
a fresh nonce (``nc`` reuse) is not detected — the simulator checks clients, it is not one.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Callable

from bridge.simulator.model import AuthMode, SimCamera

__all__ = ["NONCE_TTL_S", "Authenticator", "Check", "verify_ws_security"]

NONCE_TTL_S = 300.0

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?')


class Check(enum.Enum):
    """Outcome of checking one request's credentials."""

    OK = "ok"
    MISSING = "missing"  # no (usable) Authorization header
    BAD = "bad"  # wrong user, password or response
    STALE = "stale"  # right credentials on an expired nonce


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for match in _PARAM.finditer(text):
        quoted = match.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else match.group(2)
        params[match.group(1).lower()] = value
    return params


class Authenticator:
    """Builds challenges and checks Authorization headers for one simulator.

    ``secret`` keys the nonces; ``clock`` gives wall time in seconds.
    """

    def __init__(self, secret: bytes, clock: Callable[[], float]) -> None:
        self._secret = secret
        self._clock = clock

    def realm(self, camera: SimCamera) -> str:
        """The realm a camera announces (Hikvision style for plain digest, Dahua style else)."""
        if camera.auth is AuthMode.DIGEST:
            return "IP Camera(" + camera.serial[-5:] + ")"
        return "Login to " + camera.serial

    def _nonce(self, camera: SimCamera, issued: int) -> str:
        mac = hmac.new(self._secret, f"{issued}:{camera.id}".encode(), hashlib.sha256)
        return f"{issued:x}{mac.hexdigest()[:24]}"

    def challenge(self, camera: SimCamera, *, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value for a 401 from this camera."""
        realm = self.realm(camera)
        if camera.auth is AuthMode.BASIC:
            return f'Basic realm="{realm}"'
        nonce = self._nonce(camera, int(self._clock()))
        stale_text = ', stale="TRUE"' if stale else ""
        if camera.auth is AuthMode.DIGEST:
            return f'Digest realm="{realm}", nonce="{nonce}"{stale_text}'
        return f'Digest realm="{realm}", qop="auth", nonce="{nonce}"{stale_text}'

    def _nonce_state(self, camera: SimCamera, nonce: str) -> Check:
        head = nonce[:-24]
        try:
            issued = int(head, 16)
        except ValueError:
            return Check.BAD
        if not hmac.compare_digest(nonce, self._nonce(camera, issued)):
            return Check.BAD
        age = self._clock() - issued
        return Check.OK if -5 <= age <= NONCE_TTL_S else Check.STALE

    def check(
        self, camera: SimCamera, method: str, header: str | None, *, reject_all: bool = False
    ) -> Check:
        """Check one request's ``Authorization`` header against the camera's credentials.

        A camera without a username accepts everything.  ``reject_all`` (the ``auth_fail``
        fault) turns every present credential into ``BAD``.
        """
        if camera.username is None and not reject_all:
            return Check.OK
        if not header:
            return Check.MISSING
        scheme, _, rest = header.strip().partition(" ")
        scheme = scheme.lower()
        if camera.auth is AuthMode.BASIC:
            if scheme != "basic":
                return Check.MISSING
            return Check.BAD if reject_all else self._check_basic(camera, rest)
        if scheme != "digest":
            return Check.MISSING
        if reject_all:
            return Check.BAD
        return self._check_digest(camera, method, _parse_params(rest))

    def _check_basic(self, camera: SimCamera, token: str) -> Check:
        try:
            text = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return Check.BAD
        user, _, password = text.partition(":")
        good = hmac.compare_digest(user, camera.username or "") and hmac.compare_digest(
            password, camera.password or ""
        )
        return Check.OK if good else Check.BAD

    def _check_digest(self, camera: SimCamera, method: str, p: dict[str, str]) -> Check:
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in p for k in needed) or p["username"] != camera.username:
            return Check.BAD
        if p["realm"] != self.realm(camera):
            return Check.BAD
        state = self._nonce_state(camera, p["nonce"])
        if state is Check.BAD:
            return Check.BAD
        ha1 = _md5(f"{camera.username}:{p['realm']}:{camera.password or ''}")
        ha2 = _md5(f"{method}:{p['uri']}")
        if camera.auth is AuthMode.DIGEST_QOP:
            if p.get("qop") != "auth" or "nc" not in p or "cnonce" not in p:
                return Check.BAD
            expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        else:
            if "qop" in p:  # not offered, so not allowed
                return Check.BAD
            expected = _md5(f"{ha1}:{p['nonce']}:{ha2}")
        if not hmac.compare_digest(expected, p["response"].lower()):
            return Check.BAD
        return state


def verify_ws_security(
    camera: SimCamera,
    username: str | None,
    password: str | None,
    password_type: str,
    nonce_b64: str | None,
    created: str | None,
) -> bool:
    """True if a WS-Security UsernameToken carries the camera's credentials.

    PasswordDigest: ``base64(sha1(nonce + created + password))`` with the nonce base64-decoded;
    PasswordText is accepted too (ONVIF allows it).  ``Created`` is not checked against the
    device clock: many cameras do not, and a ``clock_drift`` camera must still be reachable.
    """
    if camera.username is None:
        return True
    if username is None or password is None or username != camera.username:
        return False
    secret = camera.password or ""
    if password_type.endswith("#PasswordText"):
        return hmac.compare_digest(password, secret)
    if nonce_b64 is None or created is None:
        return False
    try:
        nonce = base64.b64decode(nonce_b64, validate=True)
    except binascii.Error:
        return False
    digest = hashlib.sha1(nonce + created.encode() + secret.encode(), usedforsecurity=False)
    return hmac.compare_digest(base64.b64encode(digest.digest()).decode(), password.strip())

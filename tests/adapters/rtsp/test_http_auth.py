"""Basic and Digest client helpers: RFC test vectors, challenge parsing, reuse of state."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from adapters.http_auth import (
    Challenge,
    DigestState,
    NoUsableChallenge,
    authorize,
    basic_authorization,
    parse_www_authenticate,
)


def params_of(header: str) -> dict[str, str]:
    assert header.startswith("Digest ")
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', header[7:])
    }


def test_rfc2617_md5_example() -> None:
    """RFC 2617 §3.5: Mufasa / "Circle Of Life", qop=auth."""
    [challenge] = parse_www_authenticate(
        [
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        ]
    )
    state = DigestState.from_challenge(challenge, cnonce="0a4f113b")
    header = state.authorization("GET", "/dir/index.html", "Mufasa", "Circle Of Life")
    p = params_of(header)
    assert p["response"] == "6629fae49393a05397450978507c4ef1"
    assert (p["qop"], p["nc"], p["cnonce"]) == ("auth", "00000001", "0a4f113b")
    assert p["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "algorithm" not in p  # not echoed when the challenge named none


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    """RFC 7616 §3.9.1: Mufasa / "Circle of Life", both challenges of the example."""
    [challenge] = parse_www_authenticate(
        [
            'Digest realm="http-auth@example.org", qop="auth, auth-int", '
            f"algorithm={algorithm}, "
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        ]
    )
    state = DigestState.from_challenge(
        challenge, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    )
    p = params_of(state.authorization("GET", "/dir/index.html", "Mufasa", "Circle of Life"))
    assert p["response"] == response
    assert p["algorithm"] == algorithm


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_no_qop_rfc2069_form() -> None:
    """Cameras that send no qop (older Hikvision/Dahua) get H(HA1:nonce:HA2), no nc."""
    [challenge] = parse_www_authenticate(['Digest realm="cam", nonce="abc"'])
    state = DigestState.from_challenge(challenge)
    p = params_of(state.authorization("DESCRIBE", "rtsp://h:554/s", "u", "p"))
    ha1, ha2 = md5("u:cam:p"), md5("DESCRIBE:rtsp://h:554/s")
    assert p["response"] == md5(f"{ha1}:abc:{ha2}")
    assert "nc" not in p
    assert "qop" not in p
    assert "cnonce" not in p
    assert "opaque" not in p


def test_md5_sess_and_sha256_sess() -> None:
    for algorithm, name in (("MD5-sess", "md5"), ("sha-256-SESS", "sha256")):
        challenge = Challenge(
            "digest", {"realm": "r", "nonce": "n", "qop": "auth", "algorithm": algorithm}
        )
        state = DigestState.from_challenge(challenge, cnonce="c")
        p = params_of(state.authorization("GET", "/x", "u", "p"))

        def h(text: str, name: str = name) -> str:
            return hashlib.new(name, text.encode()).hexdigest()

        ha1 = h(f"{h('u:r:p')}:n:c")
        assert p["response"] == h(f"{ha1}:n:00000001:c:auth:{h('GET:/x')}")


def test_auth_int_only_hashes_an_empty_body() -> None:
    challenge = Challenge("digest", {"realm": "r", "nonce": "n", "qop": "auth-int"})
    state = DigestState.from_challenge(challenge, cnonce="c")
    p = params_of(state.authorization("GET", "/x", "u", "p"))
    ha2 = md5(f"GET:/x:{md5('')}")
    assert p["qop"] == "auth-int"
    assert p["response"] == md5(f"{md5('u:r:p')}:n:00000001:c:auth-int:{ha2}")


def test_state_reuse_increments_nc_keeps_cnonce() -> None:
    state = DigestState.from_challenge(
        Challenge("digest", {"realm": "r", "nonce": "n", "qop": "auth"})
    )
    first = params_of(state.authorization("DESCRIBE", "/a", "u", "p"))
    second = params_of(state.authorization("DESCRIBE", "/a", "u", "p"))
    assert (first["nc"], second["nc"]) == ("00000001", "00000002")
    assert first["cnonce"] == second["cnonce"]
    assert first["response"] != second["response"]


def test_userhash_and_quoting() -> None:
    challenge = Challenge("digest", {"realm": "r", "nonce": "n", "userhash": "true"})
    p = params_of(DigestState.from_challenge(challenge).authorization("GET", "/", "J\u00e4s", "p"))
    assert p["username"] == hashlib.md5("J\u00e4s:r".encode()).hexdigest()
    assert p["userhash"] == "true"
    state = DigestState.from_challenge(Challenge("digest", {"realm": 'a"b', "nonce": "n"}))
    header = state.authorization("GET", "/", 'x"y\r\nInjected: 1', "p")
    assert "\r" not in header
    assert "\n" not in header
    assert 'username="x\\"yInjected: 1"' in header
    assert 'realm="a\\"b"' in header


@pytest.mark.parametrize(
    "challenge",
    [
        Challenge("digest", {"realm": "r"}),  # no nonce
        Challenge("digest", {"realm": "r", "nonce": "n", "algorithm": "SHA-512-256"}),
        Challenge("digest", {"realm": "r", "nonce": "n", "qop": "auth-conf"}),
        Challenge("digest", {"realm": "r", "nonce": "n", "algorithm": "MD5-sess"}),  # no qop
        Challenge("basic", {"realm": "r"}),
    ],
)
def test_unanswerable_digest_challenges(challenge: Challenge) -> None:
    with pytest.raises(NoUsableChallenge):
        DigestState.from_challenge(challenge)


def test_basic() -> None:
    assert basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    value = basic_authorization("admin", "p\u00e4ss:@#")
    assert base64.b64decode(value[6:]).decode() == "admin:p\u00e4ss:@#"


def test_parse_several_challenges_in_one_and_several_headers() -> None:
    values = [
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        'Digest realm="a, b", nonce="x,y", qop="auth", stale=TRUE',
        "Negotiate abc==, Bearer",
    ]
    assert parse_www_authenticate(values) == [
        Challenge("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
        Challenge("basic", {"realm": "simple"}),
        Challenge("digest", {"realm": "a, b", "nonce": "x,y", "qop": "auth", "stale": "TRUE"}),
        Challenge("negotiate", {}, token68="abc=="),
        Challenge("bearer", {}),
    ]
    assert parse_www_authenticate([values[1]])[0].stale


def test_parse_tolerates_junk_and_odd_spacing() -> None:
    parsed = parse_www_authenticate(
        ["", " , ,", 'DIGEST   realm = "r" ,nonce=n,,, algorithm="MD5"', '"unterminated']
    )
    assert parsed[0] == Challenge("digest", {"realm": "r", "nonce": "n", "algorithm": "MD5"})


def test_authorize_prefers_first_usable_digest_then_basic() -> None:
    challenges = parse_www_authenticate(
        [
            'Basic realm="r"',
            'Digest realm="r", nonce="n1", algorithm=SHA-512-256',  # unsupported: skipped
            'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"',
            'Digest realm="r", nonce="n3", algorithm=MD5, qop="auth"',
        ]
    )
    header, state = authorize(challenges, "DESCRIBE", "/s", "u", "p")
    assert state is not None
    assert state.nonce == "n2"
    assert state.algorithm == "SHA-256"
    assert header.startswith("Digest ")
    header, state = authorize(challenges[:1], "DESCRIBE", "/s", "u", "p")
    assert (header, state) == (basic_authorization("u", "p"), None)
    with pytest.raises(NoUsableChallenge):
        authorize(parse_www_authenticate(["Bearer, NTLM"]), "GET", "/", "u", "p")
    with pytest.raises(NoUsableChallenge):
        authorize([], "GET", "/", "u", "p")

"""Password hashes (scrypt): round trip, salts, recorded parameters, limits, bad input."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from bridge.users.passwords import (
    DUMMY_HASH,
    MAX_BYTES,
    PasswordError,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_a_hash_verifies_its_password_only() -> None:
    hashed = hash_password("门卫室-Pass1")
    assert hashed.startswith("scrypt$32768$8$1$")
    assert "门卫室" not in hashed
    assert verify_password("门卫室-Pass1", hashed)
    assert not verify_password("门卫室-pass1", hashed)
    assert not verify_password("", hashed)
    assert not needs_rehash(hashed)


def test_each_hash_has_its_own_salt() -> None:
    one, two = hash_password("same-password"), hash_password("same-password")
    assert one != two
    assert one.split("$")[4] != two.split("$")[4]
    assert len(base64.b64decode(one.split("$")[4])) == 16


def test_the_hash_records_its_parameters_and_older_ones_still_verify() -> None:
    # A hash made with other (cheaper) parameters, as an earlier version might have.
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("old-password", old)
    assert not verify_password("old-passwore", old)
    assert needs_rehash(old)


def test_length_rules() -> None:
    with pytest.raises(PasswordError, match="at least 8"):
        hash_password("short7!")
    assert check_password("八个汉字的密码啊") == "八个汉字的密码啊".encode()  # 8 characters
    with pytest.raises(PasswordError, match="at most 1024 bytes"):
        hash_password("x" * (MAX_BYTES + 1))
    with pytest.raises(PasswordError, match="at most 1024 bytes"):
        hash_password("密" * 400)  # 400 characters, 1200 bytes
    hash_password("x" * MAX_BYTES)


def test_a_huge_password_is_refused_before_any_hashing() -> None:
    hashed = hash_password("right-password")
    started = time.perf_counter()
    for _ in range(50):  # 50 scrypt runs would take seconds
        assert not verify_password("x" * 1_000_000, hashed)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain-text-password",
        "bcrypt$12$abc",
        "scrypt$32768$8$1$not base64!$AAAA",
        "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
        "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=",  # n not a power of 2
        "scrypt$1048576$64$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=",  # 8 GiB asked for
        "scrypt$32768$8$99$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=",
        "scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=",
    ],
)
def test_a_malformed_or_costly_hash_verifies_nothing(bad: str) -> None:
    started = time.perf_counter()
    assert not verify_password("any-password", bad)
    assert needs_rehash(bad)
    assert time.perf_counter() - started < 0.5


def test_the_dummy_hash_costs_a_real_verification_and_matches_nothing() -> None:
    assert not needs_rehash(DUMMY_HASH)  # today's parameters: same time as a real one
    assert not verify_password("", DUMMY_HASH)
    assert not verify_password("AAAAAAAA", DUMMY_HASH)

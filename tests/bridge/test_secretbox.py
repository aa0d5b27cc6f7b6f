"""SecretBox: encryption round trip, key sources, key file creation and permissions."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from bridge.secretbox import SecretBox, SecretError, key_file_too_open, load_or_create_key


def test_round_trip_and_fresh_tokens() -> None:
    box = SecretBox(SecretBox.generate_key())
    plain = "口令 my pw!"  # '!' and ' ' never occur in a urlsafe-base64 token
    a, b = box.encrypt(plain), box.encrypt(plain)
    assert a != b  # random IV: compare by decrypting, never by token
    assert "my pw!" not in a
    assert box.decrypt(a) == box.decrypt(b) == plain
    assert box.decrypt(box.encrypt("")) == ""


def test_wrong_key_error_carries_no_secret() -> None:
    key = SecretBox.generate_key()
    token = SecretBox(key).encrypt("hunter2")
    other = SecretBox.generate_key()
    with pytest.raises(SecretError, match="secret key differs") as info:
        SecretBox(other).decrypt(token)
    message = str(info.value)
    for secret in ("hunter2", token, key, other):
        assert secret not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAA" + "x" * 80, "密文"])
def test_malformed_tokens_raise_secret_error(token: str) -> None:
    box = SecretBox(SecretBox.generate_key())
    with pytest.raises(SecretError) as info:
        box.decrypt(token)
    assert token not in str(info.value) or token == ""


@pytest.mark.parametrize("key", ["", "short", "A" * 43, "!" * 44, "密" * 44])
def test_invalid_keys_are_refused_without_echo(key: str) -> None:
    with pytest.raises(SecretError, match="not valid") as info:
        SecretBox(key)
    assert not key or key not in str(info.value)


def test_repr_hides_the_key() -> None:
    key = SecretBox.generate_key()
    box = SecretBox(key)
    assert key not in repr(box)
    assert key not in str(box)
    assert "hidden" in repr(box)


def test_key_accepts_surrounding_whitespace_and_bytes() -> None:
    key = SecretBox.generate_key()
    token = SecretBox(f"  {key}\n").encrypt("x")
    assert SecretBox(key.encode()).decrypt(token) == "x"


def test_load_or_create_key_creates_0600_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not key_file_too_open(path)
    assert load_or_create_key(path) == key
    SecretBox(key)  # a valid key


def test_existing_key_file_is_read_not_replaced(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert load_or_create_key(path) == key.encode()


def test_empty_or_unreadable_key_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(SecretError, match="empty"):
        load_or_create_key(empty)
    with pytest.raises(SecretError, match="secret key file"):
        load_or_create_key(tmp_path)  # a directory


def test_group_or_world_access_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    assert key_file_too_open(path)
    os.chmod(path, 0o640)
    assert key_file_too_open(path)
    assert not key_file_too_open(tmp_path / "missing")


def test_from_sources_prefers_the_key_then_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = SecretBox.generate_key()
    path = tmp_path / "key"
    token = SecretBox.from_sources(key=key, key_file=path).encrypt("x")
    assert not path.exists()  # the explicit key wins; no file made
    assert SecretBox(key).decrypt(token) == "x"

    file_box = SecretBox.from_sources(key=None, key_file=path)
    assert SecretBox(path.read_text()).decrypt(file_box.encrypt("y")) == "y"

    os.chmod(path, 0o604)
    caplog.set_level(logging.WARNING)
    SecretBox.from_sources(key_file=path)
    assert "chmod 600" in caplog.text
    assert path.read_text().strip() not in caplog.text

    with pytest.raises(SecretError, match="no secret key"):
        SecretBox.from_sources()

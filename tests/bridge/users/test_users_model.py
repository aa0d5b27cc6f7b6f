"""User names, roles and scopes, tokens and session ids (pure)."""

from __future__ import annotations

import pytest

from bridge.users.model import Role, UserRuleError, check_name, check_role_scope
from bridge.users.tokens import (
    digest,
    looks_like_session_id,
    looks_like_token,
    new_api_token,
    new_session_id,
)


@pytest.mark.parametrize(
    "name",
    ["张三", "zhang.san", "ops@district-1", "a", "买买提·艾力", "王_2", "x" * 64, "㐀"],
)
def test_allowed_names(name: str) -> None:
    assert check_name(name) == name


def test_names_are_taken_in_nfc() -> None:
    # A CJK compatibility ideograph (as some input methods produce) is the unified one.
    assert check_name("\uf900") == "\u8c48"
    assert check_name("张\uf900") == check_name("张\u8c48")
    with pytest.raises(UserRuleError):
        check_name("e\u0301")  # é: not an allowed letter, composed or not


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "at least one"),
        ("x" * 65, "at most 64"),
        ("zhang san", "' ' is not allowed"),
        ("a/b", "'/' is not allowed"),
        ("<script>", "'<' is not allowed"),
        ("ｚｈａｎｇ", "not allowed"),  # full-width letters: look-alikes of ASCII ones
        ("张三\n", "not allowed"),
        ("·张三", "middle dot"),
        ("张三·", "middle dot"),
        ("cli", "reserved"),
        ("CLI", "reserved"),
    ],
)
def test_refused_names(name: str, why: str) -> None:
    with pytest.raises(UserRuleError, match=why):
        check_name(name)


def test_role_and_scope() -> None:
    check_role_scope(Role.OPERATOR, "419901001")
    check_role_scope(Role.CREW, None)
    check_role_scope(Role.CREW, "419901001")
    check_role_scope(Role.ADMIN, None)
    with pytest.raises(UserRuleError, match="operator needs --scope"):
        check_role_scope(Role.OPERATOR, None)
    with pytest.raises(UserRuleError, match="admin sees everything"):
        check_role_scope(Role.ADMIN, "419901001")


def test_tokens_and_session_ids_are_random_and_kept_as_digests() -> None:
    tokens = {new_api_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert looks_like_token(token)
        assert len(token) == 56
        assert len(digest(token)) == 64
        assert token not in digest(token)
    assert not looks_like_token("gbt_" + "A" * 52)
    assert not looks_like_token("gbt_short")
    sid = new_session_id()
    assert looks_like_session_id(sid)
    assert not looks_like_session_id(sid + "x")
    assert not looks_like_session_id("../etc/passwd")

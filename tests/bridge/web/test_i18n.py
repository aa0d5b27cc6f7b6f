"""The page's words and times: both languages complete, domain words from their one source,
China time, and the language choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import CameraState, Level
from bridge.web.i18n import STRINGS, Texts, choose_language
from bridge.web.principal import Role
from bridge.workorders.model import OrderKind, Priority, Step
from health.verdict import FAULT_LABELS_EN, FAULT_LABELS_ZH, FAULT_ORDER

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)  # 14:30 in China


def test_every_chinese_key_has_an_english_one_and_back() -> None:
    # A language's own singular (``key.one``, English) needs only its base key elsewhere.
    zh, en = ({k for k in STRINGS[lang] if not k.endswith(".one")} for lang in ("zh", "en"))
    assert zh - en == set(), "keys without English"
    assert en - zh == set(), "keys without Chinese"
    assert all(k.removesuffix(".one") in table for table in STRINGS.values() for k in table)
    assert all(text.strip() for table in STRINGS.values() for text in table.values())


def test_english_says_one_day_not_one_days() -> None:
    from datetime import UTC, datetime, timedelta

    from bridge.web.i18n import Texts

    now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    texts = Texts("en", now=now)
    assert texts.ago(now - timedelta(days=1, hours=2)) == "1 day ago"
    assert texts.ago(now - timedelta(days=3)) == "3 days ago"


def test_placeholders_are_the_same_in_both_languages() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, zh in STRINGS["zh"].items():
        assert fields(zh) == fields(STRINGS["en"][key]), key


def test_domain_words_come_from_their_one_source() -> None:
    zh = Texts("zh", NOW)
    assert [zh.state(s) for s in CameraState] == ["未检测", "在线", "异常", "离线"]
    assert all(zh.fault(code) == FAULT_LABELS_ZH[code] for code in FAULT_ORDER)
    assert all(zh.step(step) == step.label_zh for step in Step)
    assert all(zh.kind(kind) == kind.label_zh for kind in OrderKind)
    assert all(zh.priority(p) == p.label_zh for p in Priority)
    assert all(zh.role(role) == role.label_zh for role in Role)
    assert zh.level(Level.VILLAGE) == "村/社区"
    assert zh.action(Step.ACCEPTED) == "接单"


def test_every_fault_code_has_both_labels() -> None:
    assert set(FAULT_LABELS_ZH) == set(FAULT_LABELS_EN) == set(FAULT_ORDER)
    en = Texts("en", NOW)
    assert en.fault("unreachable") == "Network unreachable"
    assert en.state(CameraState.DEGRADED) == "Degraded"


def test_faults_are_joined_once_each() -> None:
    assert Texts("zh").faults(["blur", "too_dark", "too_bright"]) == "模糊、亮度异常"
    assert Texts("en").faults(["blur", "too_dark"]) == "Blurred, Too dark"
    assert Texts("zh").fault("new_code") == "new_code"  # a newer daemon's code, as is


def test_unknown_key_fails_loudly() -> None:
    with pytest.raises(KeyError):
        Texts("zh")("nav.gird")
    with pytest.raises(ValueError, match="language"):
        Texts("fr")


@pytest.mark.parametrize(
    ("ago", "zh", "en"),
    [
        (timedelta(seconds=20), "刚刚", "just now"),
        (timedelta(minutes=5, seconds=59), "5 分钟前", "5 min ago"),
        (timedelta(hours=3, minutes=10), "3 小时前", "3 h ago"),
        (timedelta(days=2, hours=1), "2 天前", "2 days ago"),
        (timedelta(days=40), "2026-10-18", "2026-10-18"),
    ],
)
def test_ago(ago: timedelta, zh: str, en: str) -> None:
    assert Texts("zh", NOW).ago(NOW - ago) == zh
    assert Texts("en", NOW).ago(NOW - ago) == en


def test_times_are_china_time() -> None:
    zh = Texts("zh", NOW)
    assert zh.when(datetime(2026, 11, 27, 0, 0, tzinfo=UTC)) == "今天 08:00"
    # 2026-11-26 16:00 UTC is midnight in China: already "today" there.
    assert zh.when(datetime(2026, 11, 26, 16, 0, tzinfo=UTC)) == "今天 00:00"
    assert zh.when(datetime(2026, 11, 26, 15, 59, tzinfo=UTC)) == "昨天 23:59"
    assert zh.when(datetime(2026, 11, 28, 1, 0, tzinfo=UTC)) == "明天 09:00"
    assert zh.when(datetime(2026, 11, 20, 0, 0, tzinfo=UTC)) == "2026-11-20 08:00"
    assert zh.when(None) == "从未"
    assert zh.iso(datetime(2026, 11, 27, 0, 0, tzinfo=UTC)) == "2026-11-27T08:00:00+08:00"
    # The store's naive datetimes are UTC.
    assert zh.when(datetime(2026, 11, 27, 0, 0)) == "今天 08:00"


def test_moment_shows_both_ago_and_when() -> None:
    assert Texts("zh", NOW).moment(NOW - timedelta(hours=3)) == "3 小时前（今天 11:30）"
    assert Texts("en", NOW).moment(NOW - timedelta(hours=3)) == "3 h ago (today 11:30)"
    assert Texts("zh", NOW).moment(NOW - timedelta(days=40)) == "2026-10-18 14:30"


def test_deadlines() -> None:
    zh = Texts("zh", NOW)
    assert zh.until(NOW + timedelta(hours=17, minutes=5)) == ("还剩 17 小时", False)
    assert zh.until(NOW - timedelta(minutes=40)) == ("超时 40 分钟", True)
    assert zh.until(NOW + timedelta(days=3)) == ("还剩 3 天", False)
    assert Texts("en", NOW).until(NOW - timedelta(hours=4)) == ("4 h overdue", True)


def test_numbers_and_rates() -> None:
    assert Texts("zh").percent(0.9654) == "96.5%"
    assert Texts("zh").percent(None) == "暂无"
    assert Texts("en").number(20000) == "20,000"


@pytest.mark.parametrize(
    ("query", "cookie", "expected"),
    [
        (None, None, ("zh", False)),
        ("en", None, ("en", True)),
        ("en", "en", ("en", False)),
        ("zh", "en", ("zh", True)),
        (None, "en", ("en", False)),
        ("fr", "en", ("en", False)),
        ("<script>", None, ("zh", False)),
        (None, "garbage", ("zh", False)),
    ],
)
def test_choose_language(query: str | None, cookie: str | None, expected: tuple[str, bool]) -> None:
    assert choose_language(query, cookie) == expected

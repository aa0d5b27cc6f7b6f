"""The login rate limit on a fake clock: per name, per address, windows, bounded memory."""

from __future__ import annotations

from bridge.users.ratelimit import LimitRules, LoginLimiter, address_key, user_key

WINDOW = 15 * 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_the_name_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock)
    for i in range(4):
        assert limiter.wait_s("张三", "10.0.0.1") == 0
        limiter.failed("张三", f"10.0.0.{i + 1}")
        clock.now += 60
    assert limiter.wait_s("张三", "10.0.0.9") == 0
    limiter.failed("张三", "10.0.0.5")  # the 5th, at t0 + 240 s
    # Locked for every address, until the first failure (t0) is 15 minutes old.
    assert limiter.wait_s("张三", "10.9.9.9") == WINDOW - 240
    assert limiter.wait_minutes("张三", "10.9.9.9") == 11
    assert limiter.wait_s("李四", "10.0.0.1") == 0  # another name is not locked
    clock.now = 1000.0 + WINDOW
    assert limiter.wait_s("张三", "10.9.9.9") == 0  # one failure left the window: one try
    limiter.failed("张三", "10.9.9.9")
    assert limiter.wait_s("张三", "10.9.9.9") == 60  # the second failure leaves a minute later


def test_names_that_look_alike_count_together() -> None:
    limiter = LoginLimiter(Clock())
    for name in ("Admin", "admin", "ADMIN", "ａｄｍｉｎ", "admin"):
        limiter.failed(name, "10.0.0.1")
    assert limiter.wait_s("admin", "10.0.0.2") > 0
    assert user_key("Ａｄｍｉｎ") == "admin"


def test_twenty_failures_lock_the_address_for_every_name() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock)
    for i in range(19):
        limiter.failed(f"user{i}", "10.0.0.7")
        clock.now += 1
    assert limiter.wait_s("nobody-yet", "10.0.0.7") == 0
    limiter.failed("user19", "10.0.0.7")
    assert limiter.wait_s("nobody-yet", "10.0.0.7") == WINDOW - 19
    assert limiter.wait_s("nobody-yet", "10.0.0.8") == 0


def test_an_ipv6_client_counts_as_its_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert address_key(None) == "?"


def test_a_success_clears_the_name_not_the_address() -> None:
    limiter = LoginLimiter(Clock(), LimitRules(per_user=3, per_address=4))
    for _ in range(3):
        limiter.failed("zhang", "10.0.0.1")
    assert limiter.wait_s("zhang", "10.0.0.2") > 0
    limiter.succeeded("zhang")
    assert limiter.wait_s("zhang", "10.0.0.2") == 0
    limiter.failed("li", "10.0.0.1")  # the address's 4th
    assert limiter.wait_s("zhang", "10.0.0.1") > 0


def test_memory_is_bounded_and_expired_entries_go_first() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock, LimitRules(max_keys=100))
    for i in range(50):
        limiter.failed(f"old{i}", f"10.0.0.{i}")
    clock.now += WINDOW + 1  # those have left the window
    for _ in range(5):
        limiter.failed("victim", "10.1.0.1")
    for i in range(5000):
        limiter.failed(f"spray{i}", f"10.2.{i // 250}.{i % 250}")
        assert limiter.size[0] <= 100
        assert limiter.size[1] <= 100
    assert limiter.size == (100, 100)


def test_a_live_lock_survives_as_long_as_the_table_has_expired_entries() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock, LimitRules(max_keys=10))
    for i in range(9):
        limiter.failed(f"old{i}", "10.0.0.1")
    clock.now += WINDOW
    for _ in range(5):
        limiter.failed("victim", "10.0.0.2")
    for i in range(9):  # each new name takes an expired one's place
        limiter.failed(f"new{i}", "10.0.0.3")
    assert limiter.wait_s("victim", "10.0.0.4") > 0

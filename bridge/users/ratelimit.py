"""The login rate limit (pure; the clock is injected).

Failed logins are counted per user name (default 5 per 15 minutes) and per client address
(20 per 15 minutes).  When either count is full, logins for that name or from that
address are refused — without looking at the password — until the oldest failure leaves
the window; `LoginLimiter.wait_s` says how long.  A successful login clears its name's
count (not its address's: one right password must not reset a guesser's budget).

Memory is bounded: at most ``max_keys`` names and as many addresses, each with at most its
limit of time stamps.  When full, entries whose window has passed go first, then the ones
touched longest ago.  (Flooding the table to evict a name's count needs thousands of
failures, which the address limit refuses — unless from thousands of addresses; an IPv6
client counts as its /64, which is what one machine can choose from.)
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LimitRules", "LoginLimiter"]

MAX_KEY_CHARS = 128  # a name longer than any allowed one still counts, cut to this


@dataclass(frozen=True, slots=True)
class LimitRules:
    per_user: int = 5
    per_address: int = 20
    window_s: float = 15 * 60.0
    max_keys: int = 10_000


class _Counts:
    """Failure times per key, the key touched longest ago first."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def wait_s(self, key: str, now: float) -> float:
        times = self._times.get(key)
        if times is None or len(times) < self._limit:
            return 0.0
        # Full: free again when the oldest of the last `limit` failures leaves the window.
        return max(0.0, times[0] + self._window_s - now)

    def add(self, key: str, now: float) -> None:
        times = self._times.get(key)
        if times is None:
            self._make_room(now)
            times = self._times[key] = deque(maxlen=self._limit)
        else:
            self._times.move_to_end(key)
        times.append(now)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def _make_room(self, now: float) -> None:
        while len(self._times) >= self._max_keys:
            key, times = next(iter(self._times.items()))
            del self._times[key]  # expired, or the least recently touched: either goes
            if times[-1] + self._window_s > now:
                break  # evicted a live entry: room for one, stop


class LoginLimiter:
    """Counts failed logins; ``clock`` gives seconds (monotonic in the daemon)."""

    def __init__(self, clock: Callable[[], float], rules: LimitRules | None = None) -> None:
        self.rules = rules or LimitRules()
        self._clock = clock
        r = self.rules
        self._users = _Counts(r.per_user, r.window_s, r.max_keys)
        self._addresses = _Counts(r.per_address, r.window_s, r.max_keys)

    def wait_s(self, username: str, address: str | None) -> float:
        """Seconds until a login for ``username`` from ``address`` may be tried; 0: now."""
        now = self._clock()
        return max(
            self._users.wait_s(user_key(username), now),
            self._addresses.wait_s(address_key(address), now),
        )

    def wait_minutes(self, username: str, address: str | None) -> int:
        """`wait_s` in whole minutes, rounded up (what a person is told)."""
        return math.ceil(self.wait_s(username, address) / 60)

    def failed(self, username: str, address: str | None) -> None:
        now = self._clock()
        self._users.add(user_key(username), now)
        self._addresses.add(address_key(address), now)

    def succeeded(self, username: str) -> None:
        self._users.clear(user_key(username))

    @property
    def size(self) -> tuple[int, int]:
        """(names, addresses) tracked now: bounded by ``rules.max_keys`` each."""
        return len(self._users), len(self._addresses)


def user_key(username: str) -> str:
    """Names that look alike count together (case, Unicode forms)."""
    return unicodedata.normalize("NFKC", username[: MAX_KEY_CHARS * 2]).casefold()[:MAX_KEY_CHARS]


def address_key(address: str | None) -> str:
    """The client address, an IPv6 one as its /64 network."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_KEY_CHARS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)

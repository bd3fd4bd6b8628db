"""Failed-login throttle: per (account, client address), per address, and a much higher
per-account ceiling.

allauth's own limit counts failures per e-mail address alone, so anyone could lock a patient
out by typing their address five times. Here the tight cap is per (account, address): a
stranger exhausts only their own allowance; the per-account ceiling still stops a distributed
guess. An attempt is reserved before the password is checked and given back if it was right,
so parallel requests can never check more passwords than a cap allows.

Hand-written rather than allauth's limiter, which serialises on a cache lock (1 s wait, then
refusal); these are fixed windows counted with the cache's atomic INCR (Redis). A window's key
names its number, so a window ends on time whatever the key's TTL; the price of fixed windows
is that up to twice a cap can be tried across a window boundary.
"""

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Limit:
    scope: str
    amount: int
    seconds: int


def parse_rate(scope: str, rate: str) -> Limit:
    """'5/5m' → 5 attempts per 300 seconds (units s, m, h)."""
    amount, _, period = rate.partition("/")
    count, unit = period[:-1] or "1", period[-1:]
    if unit not in _UNITS or not amount.isdigit() or not count.isdigit():
        raise ValueError(f"Bad login rate {rate!r}: use e.g. 5/5m")
    return Limit(scope, int(amount), int(count) * _UNITS[unit])


class Throttled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass
class Reservation:
    """The attempt counted in each window; rollback() gives it back (the password was right).

    Named like allauth's usage object, whose rollback allauth calls on a successful login."""

    keys: list[str] = field(default_factory=list)

    def rollback(self) -> None:
        for key in self.keys:
            _give_back(key)
        self.keys = []


def _limits() -> list[Limit]:
    # The address is checked first: a refused attempt then leaves the account's counters alone.
    return [
        parse_rate("address", settings.PHR_LOGIN_RATE_ADDRESS),
        parse_rate("account-address", settings.PHR_LOGIN_RATE_ACCOUNT_ADDRESS),
        parse_rate("account", settings.PHR_LOGIN_RATE_ACCOUNT),
    ]


def _digest(*parts: str) -> str:
    # Keys hold no e-mail address or IP in the clear.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _give_back(key: str) -> None:
    # ValueError: the window's key expired meanwhile, so there is nothing to give back.
    with contextlib.suppress(ValueError):
        cache.decr(key)


def reserve(*, login: str, address: str) -> Reservation:
    """Count one login attempt for `login` from `address` in every limit, or raise Throttled
    (with the seconds until the first refusing window ends) without counting it anywhere."""
    login = login.strip().lower()
    subjects = {"address": (address,), "account-address": (login, address), "account": (login,)}
    now = time.time()
    reservation = Reservation()
    for limit in _limits():
        window = int(now // limit.seconds)
        key = f"phr:login:{limit.scope}:{_digest(*subjects[limit.scope])}:{window}"
        # The TTL outlives the window, so INCR never meets a key that expired under it.
        cache.add(key, 0, timeout=2 * limit.seconds)
        reservation.keys.append(key)
        if cache.incr(key) > limit.amount:
            reservation.rollback()
            raise Throttled(max(1, math.ceil((window + 1) * limit.seconds - now)))
    return reservation


def clear(*, login: str) -> None:
    """Forget the account's current windows (after a password reset by e-mail proves the owner).

    Only the per-account ceiling is cleared: a per-address window is left, so an attacker
    cannot reset their own allowance through the owner's reset."""
    limit = parse_rate("account", settings.PHR_LOGIN_RATE_ACCOUNT)
    window = int(time.time() // limit.seconds)
    cache.delete(f"phr:login:account:{_digest(login.strip().lower())}:{window}")

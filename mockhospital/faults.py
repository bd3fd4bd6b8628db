"""Fault injection for the mock hospitals, deterministic under a seed.

Each FHIR data request draws a number n from a per-institution counter (in the shared cache,
so every server process agrees) and decides its faults from Random(f"{fault_seed}:{n}"): the
same seed and the same sequence of requests give the same faults. Retrying a failed request
draws a new n, so transient faults are transient. Invalid resources are decided per stored
resource instead, so a corrupted resource stays corrupted: the ground truth knows which.
"""

import json
import random
from dataclasses import dataclass

from django.core.cache import cache

# Rates (0–1), drawn in this order for every data request.
RATES = (
    "timeout_rate",  # sleep `timeout_seconds` before answering (the client should time out)
    "expired_token_rate",  # 401 invalid_token although the token is valid
    "rate_limit_rate",  # 429 with Retry-After (`retry_after` seconds, or as an HTTP date)
    "error_rate",  # 500/502/503 with an OperationOutcome
    "truncate_rate",  # a next link that 404s, or a page cut short (`truncate_mode`)
    "duplicate_rate",  # the previous page's last resource again on this page
    "malformed_rate",  # 200 with a body that is not JSON
    "reset_rate",  # the connection dies half-way through the body
)
# Per-resource rate: the share of stored resources served in a form that fails validation.
INVALID_RATE = "invalid_rate"
SETTINGS = {
    "latency_ms": (int, 0, 60_000),
    "timeout_seconds": (float, 0.1, 300),
    "retry_after": (int, 0, 3600),
}
CHOICES = {
    "retry_after_format": ("seconds", "http-date", "mixed"),
    "truncate_mode": ("next_404", "short_page", "mixed"),
}
ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class Decision:
    number: int
    timeout: bool = False
    expired_token: bool = False
    rate_limit: bool = False
    error: bool = False
    truncate: bool = False
    duplicate: bool = False
    malformed: bool = False
    reset: bool = False
    pick: float = 0.0  # a further draw, to choose a variant (status code, header form)


def clean(raw: dict) -> dict:
    """Validate fault settings; raise ValueError naming the first bad key or value."""
    if not isinstance(raw, dict):
        raise ValueError("Faults must be a JSON object.")
    cleaned = {}
    for key, value in raw.items():
        if key in RATES or key == INVALID_RATE:
            try:
                rate = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number between 0 and 1.") from None
            if not 0 <= rate <= 1:
                raise ValueError(f"{key} must be between 0 and 1, not {rate}.")
            if rate:
                cleaned[key] = rate
        elif key in SETTINGS:
            kind, low, high = SETTINGS[key]
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number.") from None
            if not low <= number <= high:
                raise ValueError(f"{key} must be between {low} and {high}.")
            cleaned[key] = number
        elif key in CHOICES:
            if value not in CHOICES[key]:
                raise ValueError(f"{key} must be one of {', '.join(CHOICES[key])}.")
            cleaned[key] = value
        else:
            raise ValueError(f"Unknown fault setting: {key}.")
    return cleaned


def _counter_key(institution) -> str:
    return f"mockhospital:requests:{institution.pk}:{institution.fault_seed}"


def reset_counter(institution) -> None:
    cache.delete(_counter_key(institution))


def decide(institution) -> Decision:
    """The faults of the next data request to this institution."""
    faults = institution.faults or {}
    if not any(faults.get(rate) for rate in RATES):
        return Decision(number=0)
    key = _counter_key(institution)
    cache.add(key, 0, timeout=None)
    number = cache.incr(key)
    rng = random.Random(f"{institution.fault_seed}:{number}")
    drawn = {rate.removesuffix("_rate"): rng.random() < faults.get(rate, 0) for rate in RATES}
    return Decision(number=number, pick=rng.random(), **drawn)


def is_corrupted(institution, row_id: int) -> bool:
    rate = (institution.faults or {}).get(INVALID_RATE, 0)
    return (
        bool(rate) and random.Random(f"{institution.fault_seed}:invalid:{row_id}").random() < rate
    )


def corrupt(body: str) -> str:
    """The resource with an element that no FHIR R4 resource accepts in this form."""
    resource = json.loads(body)
    # `status` is a code where it exists (so an object is the wrong type) and unknown where it
    # does not: either way the resource fails validation, and the cause is easy to read.
    resource["status"] = {"injected": "invalid value"}
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))

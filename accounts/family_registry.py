"""The mock family-relation registry: the stand-in for Korea's resident registration check.

나의건강기록 lets a parent add a child under 14 after checking government records that the
child is registered at the parent's address as their child (주민등록 세대 확인). PHR has no
such service to call, so this module plays it, the way the identity form plays 본인인증: the
question and its answer have the shape the real check would have, and everything after it
(the child's patient record, the guardian grant, finding the child at institutions) runs for
real.

The question: *is this child, by name, birth date and sex, registered at this parent's
address as their child?* The parent is named by their verified identity (name and birth
date, as 본인인증 returned them); the answer is confirmed or not, with a reason.

The registry is a list of households (one address each, the adults registered there as
parents and the children), read from `settings.PHR_FAMILY_REGISTRY` when set — tests set it —
and otherwise the demo household (the demo patient 이서연 and her daughter 김하은). It lives in
`accounts`, beside the identity step it extends, so that the product never imports the mock
hospitals (`mockhospital`) to ask it.
"""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from accounts.domain import normalize_name

DEMO_HOUSEHOLDS = [
    {
        "address": "서울특별시 마포구 월드컵로 212",
        "parents": [{"name": "이서연", "birth_date": "1990-07-02"}],
        "children": [{"name": "김하은", "birth_date": "2019-04-10", "sex": "female"}],
    },
]


class Reason(StrEnum):
    CONFIRMED = "confirmed"
    PARENT_NOT_REGISTERED = "parent_not_registered"  # no household lists the parent
    NOT_AT_ADDRESS = "not_at_address"  # no such child registered at the parent's address


@dataclass(frozen=True)
class Answer:
    confirmed: bool
    reason: Reason


@dataclass(frozen=True)
class _Person:
    name: str  # normalised (accounts.domain.normalize_name)
    birth_date: dt.date
    sex: str = ""


def _person(entry: dict, *, with_sex: bool = True) -> _Person:
    birth_date = entry["birth_date"]
    if isinstance(birth_date, str):
        birth_date = dt.date.fromisoformat(birth_date)
    return _Person(
        normalize_name(entry["name"]), birth_date, entry.get("sex", "") if with_sex else ""
    )


def households() -> list[dict]:
    """The registry's households: settings.PHR_FAMILY_REGISTRY, or the demo's."""
    configured = getattr(settings, "PHR_FAMILY_REGISTRY", None)
    return DEMO_HOUSEHOLDS if configured is None else configured


def lookup(
    *,
    parent_name: str,
    parent_birth_date: dt.date,
    child_name: str,
    child_birth_date: dt.date,
    child_sex: str,
) -> Answer:
    """Whether the child is registered as the parent's child at the parent's address.

    Names compare as identity verification compares them (NFC, spaces and case ignored).
    No side effects, no query.
    """
    parent = _Person(normalize_name(parent_name), parent_birth_date)
    child = _Person(normalize_name(child_name), child_birth_date, child_sex)
    parent_found = False
    for household in households():
        parents = {_person(p, with_sex=False) for p in household.get("parents", [])}
        if parent not in parents:
            continue
        parent_found = True
        if child in {_person(c) for c in household.get("children", [])}:
            return Answer(True, Reason.CONFIRMED)
    return Answer(False, Reason.NOT_AT_ADDRESS if parent_found else Reason.PARENT_NOT_REGISTERED)

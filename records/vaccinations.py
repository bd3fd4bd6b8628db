"""Vaccinations: the patient's record by vaccine, and — for a child — the Korean national
immunization schedule dose by dose (done, due, overdue, upcoming), or for an adult the
recommended ones (influenza every season, Td/Tdap every ten years, …).

The schedule is data: records/data/nip_schedule.toml, written from the KDCA standard schedule
(표준예방접종일정표) with its source noted there. This module only reads it and compares it with
the birth date and the Immunization records (KDCA's, a hospital's, an upload's): a record counts
as a dose of each vaccine its vaccine-type (KR Core krcore-vcnt-types) or CVX code names, so a
combined DTaP-IPV/Hib shot is a dose of three. Doses are counted in date order: the third DTaP
record is the third dose, whatever dose number its sender wrote.
"""

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from records.fhirtime import parse_fhir_datetime
from records.models import Category, Record

SCHEDULE_FILE = Path(__file__).parent / "data" / "nip_schedule.toml"
KR_VACCINE_TYPES = "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types"
CVX = "http://hl7.org/fhir/sid/cvx"
ADULT_AGE = 19

DONE, DUE, OVERDUE, UPCOMING, NOT_GIVEN = "done", "due", "overdue", "upcoming", "not_given"
# Without KDCA connected the record is not the patient's full one: a dose not found is not a
# dose not given, so the schedule is what is recommended for the age, never "due" or "overdue".
RECOMMENDED = "recommended"
STATE_WORDS = {
    RECOMMENDED: _("Recommended"),
    DONE: _("Done"),
    DUE: _("Due"),
    OVERDUE: _("Overdue"),
    UPCOMING: _("Upcoming"),
    NOT_GIVEN: _("No longer given"),
}


@cache
def schedule_data() -> dict:
    """The written schedule (records/data/nip_schedule.toml), read once."""
    with SCHEDULE_FILE.open("rb") as file:
        return tomllib.load(file)


@cache
def _code_index() -> dict[tuple[str, str], tuple[str, ...]]:
    """(system, code) → the vaccines a dose of it counts for."""
    index: dict[tuple[str, str], list[str]] = {}
    for key, vaccine in schedule_data()["vaccines"].items():
        for system, codes in ((KR_VACCINE_TYPES, vaccine["kr"]), (CVX, vaccine["cvx"])):
            for code in codes:
                index.setdefault((system, code), []).append(key)
    return {k: tuple(v) for k, v in index.items()}


def vaccine_name(key: str) -> str:
    vaccine = schedule_data()["vaccines"][key]
    return vaccine["ko"] if (get_language() or "").startswith("ko") else vaccine["en"]


# --- Ages --------------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # unreachable: every month has a 28th


def at_age(birth: dt.date, age: str) -> dt.date:
    """The day `birth` is `age` ("8w", "2m", "4y") old."""
    number, unit = int(age[:-1]), age[-1]
    if unit == "w":
        return birth + dt.timedelta(weeks=number)
    if unit == "m":
        return add_months(birth, number)
    if unit == "y":
        return add_months(birth, 12 * number)
    raise ValueError(f"age {age!r}: use w, m or y")


def after(day: dt.date, interval: str) -> dt.date:
    """`interval` after `day`; the calendar's last day if that is beyond it (a dose recorded
    in year 9999)."""
    try:
        return at_age(day, interval)
    except (OverflowError, ValueError):  # a date past 9999-12-31 (add_months: ValueError)
        return dt.date.max


def after_days(day: dt.date, days: dt.timedelta) -> dt.date:
    try:
        return day + days
    except OverflowError:  # past 9999-12-31, like after()
        return dt.date.max


def age_in_years(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# --- The record --------------------------------------------------------------------------------


@dataclass
class Given:
    """One vaccination the records hold."""

    record: Record
    day: dt.date | None
    name: str
    vaccines: tuple[str, ...]  # the schedule's vaccines it counts for; () for others
    dose_number: int | None  # as its sender wrote it (protocolApplied)
    where: str  # the administering institution


@dataclass
class VaccineRecord:
    """The doses of one vaccine, oldest first."""

    key: str
    name: str
    doses: list[Given]


@dataclass
class DoseStatus:
    """One dose of the schedule and where the patient stands with it."""

    vaccine: str
    name: str
    dose: int | str  # the dose's number, or a season ("2025–2026") for influenza
    state: str
    due_from: dt.date | None
    overdue_from: dt.date | None
    given: Given | None = None
    every: str = ""  # an adult's repeated dose: its interval ("10y")

    @property
    def label(self) -> str:
        """The dose in words: "dose 2", a season, or "every 10 years"."""
        if self.every:
            return str(_("every %(years)s years") % {"years": self.every[:-1]})
        if isinstance(self.dose, int):
            return str(_("dose %(number)s") % {"number": self.dose})
        return str(_("%(season)s season") % {"season": self.dose})

    @property
    def state_words(self) -> str:
        return str(STATE_WORDS[self.state])

    @property
    def reminder_key(self) -> str:
        """What a reminder of this dose is about: one reminder per dose and state."""
        return f"vaccination:{self.vaccine}:{self.dose}:{self.state}"


@dataclass
class VaccineSchedule:
    """One vaccine's doses in the schedule."""

    key: str
    name: str
    doses: list[DoseStatus] = field(default_factory=list)


@dataclass
class Overview:
    birth_date: dt.date | None
    age: int | None
    is_child: bool
    schedule: list[VaccineSchedule]
    by_vaccine: list[VaccineRecord]
    others: list[Given]  # vaccinations the schedule does not name (COVID-19, travel, …)
    source: dict
    connected: bool = False  # KDCA is linked: the record is the national one

    @property
    def attention(self) -> list[DoseStatus]:
        """The doses due or overdue, overdue first."""
        doses = [d for v in self.schedule for d in v.doses if d.state in (DUE, OVERDUE)]
        return sorted(doses, key=lambda d: (d.state != OVERDUE, d.due_from or dt.date.min))


def _day(record: Record, resource: dict) -> dt.date | None:
    moment = parse_fhir_datetime(resource.get("occurrenceDateTime")) or record.effective
    if moment is None:
        return None
    try:
        return timezone.localtime(moment).date()
    except OverflowError:  # year 1 or 9999, beyond the calendar in Seoul: the day it says
        return moment.date()


def _where(record: Record, resource: dict) -> str:
    performers = resource.get("performer")
    for performer in performers if isinstance(performers, list) else []:
        actor = performer.get("actor") if isinstance(performer, dict) else None
        if isinstance(actor, dict) and actor.get("display"):
            return str(actor["display"])
    location = resource.get("location")
    if isinstance(location, dict) and location.get("display"):
        return str(location["display"])
    return record.source.display_name


def _given(record: Record) -> Given:
    resource = record.resource
    concept = resource.get("vaccineCode") or {}
    index = _code_index()
    vaccines: list[str] = []
    for coding in concept.get("coding") or []:
        for key in index.get((coding.get("system"), str(coding.get("code"))), ()):
            if key not in vaccines:
                vaccines.append(key)
    number = None
    for protocol in resource.get("protocolApplied") or []:
        value = (protocol or {}).get("doseNumberPositiveInt")
        if isinstance(value, int):
            number = value
    return Given(
        record=record,
        day=_day(record, resource),
        name=concept.get("text") or record.display,
        vaccines=tuple(vaccines),
        dose_number=number,
        where=_where(record, resource),
    )


def vaccinations(records: QuerySet[Record]) -> list[Given]:
    """The completed vaccinations among `records` (a scoped queryset), oldest first; one query."""
    rows = (
        records.filter(category=Category.IMMUNIZATION, resource_type="Immunization")
        .exclude(status__in=("not-done", "entered-in-error"))
        .select_related("source__institution")
        .order_by("effective", "id")
    )
    given = [_given(r) for r in rows]
    return sorted(given, key=lambda g: (g.day or dt.date.min, g.record.pk))


# --- The schedule ------------------------------------------------------------------------------


def _by_vaccine(given: list[Given], *, one_per_day: bool = False) -> dict[str, list[Given]]:
    """The doses of each vaccine, oldest first. `one_per_day`: the same vaccine on the same day
    counts once (the schedule's count): KDCA and the public health centre that gave it both
    send the one dose. The record lists keep both."""
    doses: dict[str, list[Given]] = {}
    seen: set[tuple[str, dt.date]] = set()
    for item in given:
        for key in item.vaccines:
            if one_per_day and item.day is not None:
                if (key, item.day) in seen:
                    continue
                seen.add((key, item.day))
            doses.setdefault(key, []).append(item)
    return doses


def child_schedule(
    birth: dt.date, sex: str, given: list[Given], today: dt.date
) -> list[VaccineSchedule]:
    """The national schedule for a child born on `birth`, dose by dose, on `today`."""
    data = schedule_data()
    doses = _by_vaccine(given, one_per_day=True)
    skipped = {
        vaccine["instead"] if not doses.get(vaccine["instead"]) else key
        for key, vaccine in data["vaccines"].items()
        if vaccine.get("instead")
    }
    rows: dict[str, VaccineSchedule] = {}
    for entry in data["child"]:
        key = entry["vaccine"]
        if key in skipped or (entry.get("sex") and entry["sex"] != sex):
            continue
        status = _child_dose(entry, birth, doses.get(key, []), today)
        if status is None:
            continue
        rows.setdefault(key, VaccineSchedule(key, vaccine_name(key))).doses.append(status)
    seasonal = data["seasonal"]["IIV"]
    if at_age(birth, seasonal["from"]) <= today < at_age(birth, seasonal["stop"]):
        rows["IIV"] = VaccineSchedule(
            "IIV", vaccine_name("IIV"), [_season(doses.get("IIV", []), today)]
        )
    return list(rows.values())


def _child_dose(entry: dict, birth: dt.date, doses: list[Given], today: dt.date):
    key, number = entry["vaccine"], entry["dose"]
    name = vaccine_name(key)
    due_from = at_age(birth, entry["from"])
    overdue_from = at_age(birth, entry["until"])
    if len(doses) >= number:
        return DoseStatus(key, name, number, DONE, due_from, overdue_from, doses[number - 1])
    since = entry.get("since")
    if since and overdue_from <= dt.date.fromisoformat(since):
        return None  # its window closed before the programme gave it
    previous = doses[number - 2] if number > 1 and len(doses) >= number - 1 else None
    if entry.get("after") and previous is not None and previous.day:
        earliest = after(previous.day, entry["after"])
        if earliest > due_from:
            window = overdue_from - due_from
            overdue_from = max(overdue_from, after_days(earliest, window))
            due_from = earliest
    if entry.get("stop") and today >= at_age(birth, entry["stop"]):
        state = NOT_GIVEN
    elif today >= overdue_from:
        state = OVERDUE
    elif today >= due_from and (number == 1 or previous is not None):
        state = DUE
    else:
        state = UPCOMING
    return DoseStatus(key, name, number, state, due_from, overdue_from)


def _season_bounds(today: dt.date) -> tuple[dt.date, dt.date, dt.date, str]:
    """(counts from, season start, season end, label) of the influenza season `today` is in or
    the next one."""
    seasonal = schedule_data()["seasonal"]["IIV"]

    def day(year: int, month_day: str) -> dt.date:
        return dt.date(year, *map(int, month_day.split("-")))

    year = today.year if today >= day(today.year, seasonal["counts_from"]) else today.year - 1
    end = day(year + 1, seasonal["season_end"])
    if today > end:  # between the season's end and the next one's counting day
        year += 1
        end = day(year + 1, seasonal["season_end"])
    return (
        day(year, seasonal["counts_from"]),
        day(year, seasonal["season_start"]),
        end,
        f"{year}–{year + 1}",
    )


def _season(doses: list[Given], today: dt.date) -> DoseStatus:
    counts_from, start, end, label = _season_bounds(today)
    name = vaccine_name("IIV")
    this_season = [g for g in doses if g.day and counts_from <= g.day <= end]
    if this_season:
        return DoseStatus("IIV", name, label, DONE, start, None, this_season[-1])
    state = DUE if start <= today <= end else UPCOMING
    return DoseStatus("IIV", name, label, state, start, None)


def adult_schedule(birth: dt.date, given: list[Given], today: dt.date) -> list[VaccineSchedule]:
    """The recommendations for adults: influenza every season, Td/Tdap every ten years, one
    PPSV23 from 65, shingles from 50."""
    doses = _by_vaccine(given, one_per_day=True)
    rows = []
    for entry in schedule_data()["adult"]:
        key = entry["vaccine"]
        name = vaccine_name(key)
        mine = [g for g in doses.get(key, []) if g.day]
        if entry.get("seasonal"):
            status = _season(mine, today)
        elif entry.get("every"):
            # Repeated after the last dose; with none recorded, one is due now. The dose is
            # named by the last one's day, so that its reminder is one per interval.
            last = mine[-1] if mine else None
            due_from = after(last.day, entry["every"]) if last else today
            state = DONE if last and due_from > today else DUE
            dose = f"after-{last.day.isoformat()}" if last else "first"
            status = DoseStatus(key, name, dose, state, due_from, None, last)
            status.every = entry["every"]
        else:
            due_from = at_age(birth, entry["once_from"])
            if today < due_from and not mine:
                continue
            state = DONE if mine else DUE
            status = DoseStatus(key, name, 1, state, due_from, None, mine[0] if mine else None)
        rows.append(VaccineSchedule(key, name, [status]))
    return rows


def overview(
    records: QuerySet[Record],
    *,
    birth_date: dt.date | None,
    connected: bool,
    sex: str = "",
    today=None,
) -> Overview:
    """The vaccination page's content for the patient of `records` (a scoped queryset): their
    record by vaccine, and the schedule for their age (none without a birth date).
    `connected`: the patient has KDCA linked (records.queries.linked_agencies); without it no
    dose is due or overdue, only recommended (a dose not found may have been given)."""
    today = today or timezone.localdate()
    given = vaccinations(records)
    age = age_in_years(birth_date, today) if birth_date else None
    is_child = age is not None and age < ADULT_AGE
    if birth_date is None:
        schedule = []
    elif is_child:
        schedule = child_schedule(birth_date, sex, given, today)
    else:
        schedule = adult_schedule(birth_date, given, today)
    if not connected:
        for row in schedule:
            for dose in row.doses:
                if dose.state in (DUE, OVERDUE, UPCOMING):
                    dose.state = RECOMMENDED
    names = schedule_data()["vaccines"]
    by_vaccine = [
        VaccineRecord(key, vaccine_name(key), doses)
        for key, doses in _by_vaccine(given).items()
        if key in names
    ]
    return Overview(
        birth_date=birth_date,
        age=age,
        is_child=is_child,
        schedule=schedule,
        by_vaccine=by_vaccine,
        others=[g for g in given if not g.vaccines],
        source=schedule_data()["source"],
        connected=connected,
    )

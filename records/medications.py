"""Medications across institutions: every prescription and dispensing a patient's sources sent
(hospitals, pharmacies, HIRA), grouped by active ingredient, each with its dose and duration,
current or past, and a warning when two current prescriptions share an ingredient.

The ingredient is the WHO ATC code (http://www.whocc.no/atc, 7 characters: the chemical
substance), read from the resource's medication concept or from the Medication resource it
references. KR Core drugs carry the HIRA EDI product code beside it: two products of one
substance (노바스크정 and a generic amlodipine) are one ingredient. Data without ATC (Synthea's
RxNorm, SNOMED CT, or a bare name) is grouped by that code instead, and the page says so: two
products of one substance are then two lines, and duplicates between them are not seen.

Current or past, from the dates: a prescription lasts from its start (authoredOn, or a
dispensing's whenHandedOver) for its supply (dispenseRequest.expectedSupplyDuration, daysSupply,
or the dosage's bounds); it is current while that lasts, or — with no duration known — while its
status says so (active, on-hold). Stopped, cancelled and entered-in-error are past whatever the
dates.

What each resource says is read once, at ingest (records.prescriptions, the record's
`medication` column); this module groups and dates those facts for the page.
"""

import datetime as dt
from dataclasses import dataclass, field

import orjson
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from records import prescriptions
from records.models import Category, Record, open_until
from records.prescriptions import ATC, HIRA_EDI, KD_CODE, RXNORM, SNOMED, THERAPY_TYPES

# How an ingredient line was grouped, best first; the page names the basis when it is not ATC.
BASIS = {
    ATC: _("ATC"),
    RXNORM: _("RxNorm"),
    SNOMED: _("SNOMED CT"),
    HIRA_EDI: _("HIRA product code"),
    KD_CODE: _("KD product code"),
}
ENDED = {"stopped", "cancelled", "entered-in-error", "declined", "not-taken", "revoked"}
ONGOING = {"active", "on-hold", "intended", "in-progress", "preparation"}
# Statuses of a record of no course taken: a past line is summed up by another if it has one.
NOT_TAKEN = {"draft", "entered-in-error", "cancelled", "declined", "not-taken", "revoked"}
# An ingredient's history on the page lists its latest HISTORY_ROWS prescriptions and
# dispensings and links to all of them on the timeline (years of monthly refills: thousands).
HISTORY_ROWS = 50

# What the page reads of a medication record, besides its facts (`medication`): not its
# resource, nor its search text, nor its date (the facts have the dates; reading 4,392
# timestamps with their time zone took half as long as the rest of the row).
ROW_FIELDS = ("id", "code", "source_id", "resource_type", "resource_id", "status", "code_value")


class Row:
    """A medication record as the page reads it (ROW_FIELDS, its facts and its source),
    lighter than a Record instance: thousands of them are read for one page."""

    __slots__ = (*ROW_FIELDS, "pk", "source", "medication")

    def __init__(self, values: tuple, sources: dict):
        # ROW_FIELDS in their order, then the facts' text.
        (
            self.id,
            self.code,
            self.source_id,
            self.resource_type,
            self.resource_id,
            self.status,
            self.code_value,
            facts,
        ) = values
        self.pk = self.id
        self.source = sources[self.source_id]
        # Read as text and parsed by orjson: the facts hold no decimals (strings, whole
        # numbers), and Django's JSON decoding was a sixth of the page.
        self.medication = orjson.loads(facts) if facts else None


@dataclass
class Entry:
    """One prescription or dispensing, as the page shows it."""

    record: Record | Row
    kind: str  # "prescription" | "dispensing" | "statement"
    product: str
    start: dt.date | None
    days: int | None
    end: dt.date | None
    dose: str
    where: str  # the dispensing pharmacy or the prescriber's institution, when the resource says
    current: bool
    prescription_ref: str = ""  # a dispensing's authorizingPrescription (MedicationRequest/id)
    product_code: str = ""  # the HIRA EDI / KD / RxNorm product code, "" without one
    upcoming: bool = False  # not ended, and it starts after today
    order: str = ""  # records.prescriptions.order_of: "" for a course to take

    @property
    def is_dispensing(self) -> bool:
        return self.kind == "dispensing"

    @property
    def last_day(self) -> dt.date | None:
        """The last day it is taken (`end` is the first day it no longer is: a supply runs
        out, a period's end has passed): what the page says it runs "until"."""
        return self.end - dt.timedelta(days=1) if self.end else None


@dataclass
class Ingredient:
    """One active ingredient (or, without ATC, one code or name): its latest HISTORY_ROWS
    entries and every current one (`entries`, latest first), and what all of its entries say
    together (how many, their products, places and codes). Years of monthly refills are
    thousands of entries; the page lists the latest and links to the rest."""

    key: tuple[str, str]  # (system, code) or ("", name)
    name: str
    basis: str  # the code system's short name; "" for a name only
    entries: list[Entry] = field(default_factory=list)
    total: int = 0  # entries of it in all
    product_names: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)  # sources, pharmacies and prescribers
    filed_under: set[str] = field(default_factory=set)  # its records' codes ("" for none)
    # Its entries by kind (records.prescriptions.KINDS: "prescription", "dispensing",
    # "statement"): a line tells each apart, not "3 prescriptions" for one of each.
    kinds: dict[str, int] = field(default_factory=dict)

    def count(self, record, said: dict, source_name: str) -> bool:
        """Count a record of it (with its facts and its source's name: they come latest
        first); whether its entry is to be kept (among the latest HISTORY_ROWS: a current
        one is kept whatever its place)."""
        self.total += 1
        kind = said.get("kind", "prescription")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        # A product not to be taken (nor yet ordered) is named in its history only.
        if not said.get("order") and record.status != "draft":
            self.product_names.add(said["product"])
        self.places.add(source_name)
        self.places.add(said["where"])
        self.filed_under.add(record.code_value)
        return self.total <= HISTORY_ROWS

    @property
    def current(self) -> bool:
        return any(e.current for e in self.entries)

    @property
    def upcoming(self) -> bool:
        return any(e.upcoming for e in self.entries)

    @property
    def latest(self) -> Entry:
        return self.entries[0]

    @property
    def headline(self) -> Entry:
        """The entry the line sums up. Taken now: the current course that lasts longest (no
        end known: longest; then the latest started), so that its "until" is how long the
        ingredient is taken (a 7-day course started last week beside a 180-day one is not
        when to stop). Else the first to start later, if any; else the latest course to take
        (not a later proposal: _when), else the latest."""
        current = [e for e in self.entries if e.current]
        if current:
            return max(current, key=lambda e: (e.end or dt.date.max, e.start or dt.date.min))
        taken = (e for e in self.entries if not e.order and e.record.status not in NOT_TAKEN)
        return self.next_course or next(taken, self.entries[0])

    @property
    def next_course(self) -> Entry | None:
        """The first course prescribed to start after today, if any (entries are upcoming
        only when they are courses to take: _when), but a prescription a pharmacy has already
        filled, whose supply is being taken (a dispensing of it is current)."""
        filled = {e.prescription_ref for e in self.entries if e.is_dispensing and e.current}
        upcoming = [e for e in self.entries if e.upcoming and _request_ref(e) not in filled]
        return min(upcoming, key=lambda e: (e.start, e.record.pk)) if upcoming else None

    @property
    def after_this(self) -> bool:
        """Whether next_course starts once the headline's course is over ("next course"), not
        while it is still taken ("another course": an early refill, a second product)."""
        following, taken = self.next_course, self.headline
        return bool(following and taken.end and following.start >= taken.end)

    @property
    def shown(self) -> list[Entry]:
        """The entries the page lists: the latest HISTORY_ROWS."""
        return self.entries[:HISTORY_ROWS]

    @property
    def codes(self) -> list[str]:
        """The codes its records are filed under (the timeline's `code` filter finds them
        all), or [] when one of them has none (a name only)."""
        return [] if "" in self.filed_under else sorted(self.filed_under)

    @property
    def products(self) -> list[str]:
        return sorted(self.product_names - {""})

    @property
    def institutions(self) -> list[str]:
        return sorted(self.places - {""})

    @property
    def by_atc(self) -> bool:
        return self.key[0] == ATC


@dataclass
class Overview:
    current: list[Ingredient]
    past: list[Ingredient]
    upcoming: list[Ingredient]  # none current, one to start after today (not yet past either)
    duplicates: list["Duplicate"]
    without_atc: bool  # some lines are grouped by another code or a name (the page says so)


@dataclass
class Duplicate:
    """Two or more current prescriptions of one ingredient (possible duplicate therapy)."""

    ingredient: Ingredient
    entries: list[Entry]


def overview(
    records: QuerySet[Record], today: dt.date | None = None, *, whole: bool = False
) -> Overview:
    """The patient's medications from `records` (a scoped queryset, e.g. records_for(actor)),
    from the facts ingest projected (records.prescriptions): the medication records (ROW_FIELDS
    of them, or with `whole` Record instances, every column but the search text), their
    sources (one object per source, not a join repeated on each of thousands of rows) and,
    only when some prescription references a stored Medication, the resources of those."""
    today = today or timezone.localdate()
    rows = records.filter(category=Category.MEDICATION).order_by("-effective", "-id")
    source_model = Record._meta.get_field("source").related_model
    # The patient's sources (a few), whatever the rows: the same queries for any data.
    sources = {
        source.pk: source
        for source in source_model.objects.select_related("institution").filter(
            patient_id__in=records.order_by().values("patient_id")[:1]
        )
    }
    if whole:
        rows = list(rows.defer("search_text"))
        cache_source = Record.source.field.set_cached_value  # as select_related would
        for record in rows:
            cache_source(record, sources[record.source_id])
    else:
        facts_text = Cast("medication", TextField())
        rows = [Row(values, sources) for values in rows.values_list(*ROW_FIELDS, facts_text)]
    therapies = [r for r in rows if r.resource_type in THERAPY_TYPES]
    facts = _facts(records, rows, therapies, whole=whole, sources=sources)
    day = today.isoformat()  # compared with the facts' ISO dates as text
    names = {pk: source.display_name for pk, source in sources.items()}
    doses: dict = {}  # each dose in words, put together once
    groups: dict[tuple[str, str], Ingredient] = {}
    # Latest first (by start, then id; no start last), so that each ingredient keeps its
    # latest entries as they come.
    therapies.sort(key=lambda r: (facts[r.pk]["start"] or "", r.pk), reverse=True)
    for record in therapies:
        said = facts[record.pk]
        system, code, name = said["ingredient"]
        key = (system, code) if system else ("", name.strip().casefold())
        ingredient = groups.get(key)
        if ingredient is None:
            basis = str(BASIS[system]) if system else ""
            name = name or str(_("Unnamed medication"))
            ingredient = groups[key] = Ingredient(key=key, name=name, basis=basis)
        when = _when(record.status, said, day)
        if ingredient.count(record, said, names[record.source_id]) or when != "past":
            ingredient.entries.append(_entry(record, said, when, doses))
    lines = list(groups.values())
    # By the course each line shows (a line taken since March with a course prescribed for
    # December is not newer than one started last week).
    lines.sort(key=lambda i: (i.headline.start or dt.date.min, i.headline.record.pk), reverse=True)
    current = [line for line in lines if line.current]
    upcoming = [line for line in lines if line.upcoming and not line.current]
    return Overview(
        current=current,
        upcoming=upcoming,
        past=[line for line in lines if not line.current and not line.upcoming],
        duplicates=[d for d in (_duplicate(line) for line in current) if d],
        without_atc=any(not line.by_atc for line in lines),
    )


def _files_name_each_other(rows: list, therapies: list, medications: dict, sources: dict) -> None:
    """A prescription of an uploaded file that references a Medication its file does not hold
    is named by the one another of the patient's files holds under that id, if only one does
    (a file's resource identical to one of another file is not stored twice: two are two
    drugs, and which was meant is not known): bulk data comes as a file per type, each
    imported as a source of its own, and its prescriptions read "Unnamed medication". Added
    to `medications` under the prescription's own source. Hospitals are not matched: a
    hospital's reference means its own Medication."""

    def uploaded(source_id) -> bool:
        return sources[source_id].institution_id is None  # a file, not an institution

    by_id: dict[str, list] = {}
    for row in rows:
        if row.resource_type == "Medication" and uploaded(row.source_id):
            by_id.setdefault(row.resource_id, []).append(row)
    if not by_id:
        return
    for record in therapies:
        wanted = (record.medication or {}).get("medication")
        if not wanted or (record.source_id, wanted) in medications:
            continue
        found = by_id.get(wanted, [])
        if uploaded(record.source_id) and len(found) == 1:
            medications[(record.source_id, wanted)] = found[0]


def _facts(
    records: QuerySet[Record], rows: list, therapies: list, *, whole: bool, sources: dict
) -> dict:
    """{record pk: its facts}: as ingest projected them, except where the prescription
    references a Medication its source sent (whose codes name the drug: they are read from
    both resources) or the record has none (stored before the projection: read from it)."""
    facts = {record.pk: record.medication for record in therapies}
    medications = {(r.source_id, r.resource_id): r for r in rows if r.resource_type == "Medication"}
    _files_name_each_other(rows, therapies, medications, sources)
    reread = [
        record
        for record in therapies
        if record.medication is None
        or (record.source_id, record.medication["medication"]) in medications
    ]
    if not reread:
        return facts
    if whole:
        resources = {record.pk: (record.resource, record.effective) for record in rows}
    else:
        wanted = [r.pk for r in reread] + [r.pk for r in medications.values()]
        read = records.filter(pk__in=wanted).values_list("pk", "resource", "effective")
        resources = {pk: (resource, effective) for pk, resource, effective in read}
    for record in reread:
        resource, effective = resources[record.pk]
        said = record.medication or prescriptions.facts(resource, effective)
        stored = medications.get((record.source_id, said["medication"]))
        if stored is not None:
            concept = prescriptions.concept_of(resource, resources[stored.pk][0])
            said = {
                **said,
                "product": prescriptions.product_of(concept),
                "product_code": prescriptions.product_code(concept),
                "ingredient": list(prescriptions.ingredient_of(concept)),
            }
        facts[record.pk] = said
    return facts


def current(records: QuerySet[Record], today: dt.date | None = None) -> list[Ingredient]:
    """The ingredients taken today, by the same dates and statuses as the medications page
    (overview(records).current), each with its entries current today, latest first: reading
    only those (by their projected facts: a few of 4,392 prescriptions at 20,000 records), the
    Medication resources they may reference and any record whose facts were not projected.
    Each entry's record is a Row (ROW_FIELDS): queries.current_medications reads whole
    only the records a summary shows."""
    today = today or timezone.localdate()
    day = today.isoformat()
    dated = Q(medication__end__gt=day) & (Q(medication__start=None) | Q(medication__start__lte=day))
    candidates = records.filter(
        Q(resource_type="Medication")
        | Q(resource_type__in=THERAPY_TYPES, medication__isnull=True)
        | (~Q(status__in=ENDED) & (dated | (Q(medication__end=None) & Q(status__in=ONGOING))))
    )
    # Implied by the condition above (each of its records ends after today or has no end),
    # and what an index answers: the records that may be current are read, not every one.
    candidates = candidates.alias(open_until=open_until()).filter(open_until__gt=day)
    return overview(candidates, today).current


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _when(status: str, said: dict, day: str) -> str:
    """Whether a prescription with these facts is "current", "upcoming" or "past" on `day`
    (ISO): current from its start while its supply lasts, or with no end known while its
    status says it goes on; upcoming before its start (a course written today to begin next
    week is not over: listing it as past misled); never either once ended, nor when it is
    no course to take (a request not to take it, a proposal, a draft)."""
    if status in ENDED or status == "draft" or said.get("order"):
        return "past"
    start, end = said["start"], said["end"]
    if start is not None and day < start:
        return "upcoming"
    if end is not None:
        return "current" if day < end else "past"
    return "current" if status in ONGOING else "past"


def _entry(record, said: dict, when: str, doses: dict) -> Entry:
    dose = said["dose"]
    key = repr(dose)
    if key not in doses:
        doses[key] = _dose_words(dose)
    return Entry(
        record=record,
        kind=said["kind"],
        product=said["product"],
        start=_day(said["start"]),
        days=said["days"],
        end=_day(said["end"]),
        dose=doses[key],
        where=said["where"],
        current=when == "current",
        upcoming=when == "upcoming",
        prescription_ref=said["prescription"],
        product_code=said["product_code"],
        order=said.get("order", ""),
    )


# A dose's period (Timing.repeat.periodUnit, FHIR's units of time) in words: once and every
# N of them, so that a language says "a day" where it would not say "every 1 day".
PERIODS = {
    "s": (_("%(frequency)s× a second"), _("%(frequency)s× every %(period)s seconds")),
    "min": (_("%(frequency)s× a minute"), _("%(frequency)s× every %(period)s minutes")),
    "h": (_("%(frequency)s× an hour"), _("%(frequency)s× every %(period)s hours")),
    "d": (_("%(frequency)s× a day"), _("%(frequency)s× every %(period)s days")),
    "wk": (_("%(frequency)s× a week"), _("%(frequency)s× every %(period)s weeks")),
    "mo": (_("%(frequency)s× a month"), _("%(frequency)s× every %(period)s months")),
    "a": (_("%(frequency)s× a year"), _("%(frequency)s× every %(period)s years")),
}


def _dose_words(dose: dict | None) -> str:
    """A dose (records.prescriptions.dose_of) in words: its text, or its doses and frequency."""
    if not dose:
        return ""
    if "text" in dose:
        return dose["text"]
    parts = list(dose["parts"])
    if dose["repeat"]:
        frequency, period, unit = dose["repeat"]
        values = {"frequency": frequency, "period": period, "unit": unit}
        if unit in PERIODS:
            once, every = PERIODS[unit]
            parts.append((once if period == "1" else every) % values)
        else:  # a unit FHIR does not define (the validator lets none through): as sent
            parts.append(_("%(frequency)s× every %(period)s %(unit)s") % values)
    return " · ".join(str(p) for p in parts)


def _request_ref(entry: Entry) -> str:
    """The reference a dispensing of `entry` (a prescription) names it by."""
    return f"MedicationRequest/{entry.record.resource_id}"


def _duplicate(line: Ingredient) -> Duplicate | None:
    """Current prescriptions of one ingredient that are distinct therapies: a dispensing of a
    prescription PHR holds is that prescription, and the same prescription sent by two sources
    (a hospital and HIRA: same start and supply) counts once."""
    current = [e for e in line.entries if e.current]
    by_ref = {_request_ref(e): e for e in line.entries if e.kind == "prescription"}
    seen, distinct = set(), []
    for entry in current:
        prescribed = by_ref.get(entry.prescription_ref) if entry.is_dispensing else None
        if prescribed is not None and prescribed.current:
            continue
        if prescribed is not None and prescribed.upcoming:
            # Filled before the day its dosage starts: the therapy is the prescription's (an
            # early refill of the course before is told by it, not by the pharmacy's name).
            entry = prescribed
        therapy = (entry.start, entry.days, entry.dose)
        if therapy in seen:
            continue
        seen.add(therapy)
        distinct.append(entry)
    distinct = _without_refills(distinct)
    return Duplicate(ingredient=line, entries=distinct) if len(distinct) > 1 else None


REFILL_OVERLAP_DAYS = 14


def _without_refills(entries: list[Entry]) -> list[Entry]:
    """`entries` less the early refills: the same product (same code) from the same source and
    prescriber, started a few days (under REFILL_OVERLAP_DAYS) before the previous supply ran
    out, continues that therapy — it is not a second one. Another product of the ingredient, or
    another prescriber, is still a possible duplicate."""
    kept: list[Entry] = []
    for entry in sorted(entries, key=lambda e: (e.start or dt.date.min, e.record.pk)):
        refill = any(
            entry.product_code
            and previous.product_code == entry.product_code
            and previous.record.source_id == entry.record.source_id
            and previous.where == entry.where
            and previous.end is not None
            and entry.start is not None
            and (previous.end - entry.start).days < REFILL_OVERLAP_DAYS
            for previous in kept
        )
        if not refill:
            kept.append(entry)
    return kept

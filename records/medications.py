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
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from records.models import Category, Record
from records.projection import parse_fhir_datetime

ATC = "http://www.whocc.no/atc"
HIRA_EDI = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication"
KD_CODE = "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
# How an ingredient line was grouped, best first; the page names the basis when it is not ATC.
BASIS = {
    ATC: _("ATC"),
    RXNORM: _("RxNorm"),
    SNOMED: _("SNOMED CT"),
    HIRA_EDI: _("HIRA product code"),
    KD_CODE: _("KD product code"),
}
THERAPY_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement")
ENDED = {"stopped", "cancelled", "entered-in-error", "declined", "not-taken", "revoked"}
ONGOING = {"active", "on-hold", "intended", "in-progress", "preparation"}
DAYS_PER = {"d": 1, "day": 1, "days": 1, "일": 1, "wk": 7, "week": 7, "mo": 30, "month": 30}


# What the page reads of a medication record (its search text and projection columns stay in
# the database).
ENTRY_FIELDS = (
    "id",
    "code",
    "source_id",
    "resource_type",
    "resource_id",
    "category",
    "status",
    "effective",
    "resource",
)


@dataclass
class Entry:
    """One prescription or dispensing, as the page shows it."""

    record: Record
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

    @property
    def is_dispensing(self) -> bool:
        return self.kind == "dispensing"


@dataclass
class Ingredient:
    """One active ingredient (or, without ATC, one code or name) and every entry of it."""

    key: tuple[str, str]  # (system, code) or ("", name)
    name: str
    basis: str  # the code system's short name; "" for a name only
    entries: list[Entry] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return any(e.current for e in self.entries)

    @property
    def latest(self) -> Entry:
        return self.entries[0]

    @property
    def products(self) -> list[str]:
        return sorted({e.product for e in self.entries if e.product})

    @property
    def institutions(self) -> list[str]:
        names = {e.record.source.display_name for e in self.entries}
        return sorted(names | {e.where for e in self.entries if e.where})

    @property
    def by_atc(self) -> bool:
        return self.key[0] == ATC


@dataclass
class Overview:
    current: list[Ingredient]
    past: list[Ingredient]
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
    two queries: the medication records with their resources (ENTRY_FIELDS of them, or with
    `whole` every column but the search text), and their sources (one object per source, not
    a join repeated on each of thousands of rows)."""
    today = today or timezone.localdate()
    rows = records.filter(category=Category.MEDICATION).order_by("-effective", "-id")
    rows = list(rows.defer("search_text") if whole else rows.only(*ENTRY_FIELDS))
    source_model = Record._meta.get_field("source").related_model
    # The patient's sources (a few), whatever the rows: the same two queries for any data.
    sources = {
        source.pk: source
        for source in source_model.objects.select_related("institution").filter(
            patient_id__in=records.order_by().values("patient_id")[:1]
        )
    }
    cache_source = Record.source.field.set_cached_value  # as select_related would
    for record in rows:
        cache_source(record, sources[record.source_id])
    medications = {
        (r.source_id, r.resource_id): r.resource for r in rows if r.resource_type == "Medication"
    }
    groups: dict[tuple[str, str], Ingredient] = {}
    for record in rows:
        if record.resource_type not in THERAPY_TYPES:
            continue
        resource = record.resource
        concept = _concept(resource, _referenced(record, medications))
        key, name, basis = _ingredient(concept)
        ingredient = groups.setdefault(key, Ingredient(key=key, name=name, basis=basis))
        ingredient.entries.append(_entry(record, resource, concept, today))
    lines = list(groups.values())
    for line in lines:
        line.entries.sort(key=lambda e: (e.start or dt.date.min, e.record.pk), reverse=True)
    lines.sort(key=lambda i: (i.latest.start or dt.date.min, i.latest.record.pk), reverse=True)
    current = [line for line in lines if line.current]
    return Overview(
        current=current,
        past=[line for line in lines if not line.current],
        duplicates=[d for d in (_duplicate(line) for line in current) if d],
        without_atc=any(not line.by_atc for line in lines),
    )


# A prescription that is current today started at most this long ago, unless its status says
# it goes on (active, on hold…), it has no date, or its resource says it lasts longer (a
# period or bounds ending later, a supply of more days or counted in weeks or months): what
# current() reads.
CURRENT_WITHIN_DAYS = 400
LONG_UNITS = ["wk", "week", "mo", "month"]


def _may_last(day: dt.date) -> Q:
    """Records whose resource may say they last until `day` (the elements _days and
    _bounds_end read): a period or bounds end on or after it, or a supply or bounds duration
    of more than CURRENT_WITHIN_DAYS days or counted in LONG_UNITS."""
    after = day.isoformat()
    lasting = Q(resource__effectivePeriod__end__gte=after)
    quantities = ["resource__daysSupply", "resource__dispenseRequest__expectedSupplyDuration"]
    for element in ("dosageInstruction", "dosage"):
        for index in range(3):  # a resource's first dosages (more is not seen in practice)
            repeat = f"resource__{element}__{index}__timing__repeat"
            lasting |= Q(**{f"{repeat}__boundsPeriod__end__gte": after})
            quantities.append(f"{repeat}__boundsDuration")
    for quantity in quantities:
        lasting |= (
            Q(**{f"{quantity}__value__gt": CURRENT_WITHIN_DAYS})
            | Q(**{f"{quantity}__code__in": LONG_UNITS})
            | Q(**{f"{quantity}__unit__in": LONG_UNITS})
        )
    return lasting


def current(records: QuerySet[Record], today: dt.date | None = None) -> list[Ingredient]:
    """overview(records).current — the ingredients taken today, latest first, by the same
    dates and statuses as the medications page — reading only the records that can be current
    today and the Medication resources they may reference, not years of past prescriptions
    (945 of 4,392 at 20,000 records). Each entry's record is whole (a summary shows it)."""
    today = today or timezone.localdate()
    since = today - dt.timedelta(days=CURRENT_WITHIN_DAYS)
    candidates = records.filter(
        Q(resource_type="Medication")
        | (
            ~Q(status__in=ENDED)
            & (
                Q(status__in=ONGOING)
                | Q(effective__isnull=True)
                | Q(effective__date__gte=since)
                | _may_last(today)
            )
        )
    )
    return overview(candidates, today, whole=True).current


def _duplicate(line: Ingredient) -> Duplicate | None:
    """Current prescriptions of one ingredient that are distinct therapies: a dispensing of a
    prescription PHR holds is that prescription, and the same prescription sent by two sources
    (a hospital and HIRA: same start and supply) counts once."""
    current = [e for e in line.entries if e.current]
    requests = {f"MedicationRequest/{e.record.resource_id}" for e in current if not e.is_dispensing}
    seen, distinct = set(), []
    for entry in current:
        if entry.is_dispensing and entry.prescription_ref in requests:
            continue
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


def _product_code(concept: dict) -> str:
    for system in (HIRA_EDI, KD_CODE, RXNORM):
        for coding in concept["coding"]:
            if coding.get("system") == system and coding.get("code"):
                return f"{system}|{coding['code']}"
    return ""


# --- Reading the resources --------------------------------------------------------------------


def _medication_key(record: Record) -> tuple[int, str] | None:
    reference = (record.resource.get("medicationReference") or {}).get("reference", "")
    if not isinstance(reference, str) or not reference.startswith("Medication/"):
        return None
    return (record.source_id, reference.split("/", 1)[1])


def _referenced(record: Record, medications: dict) -> dict | None:
    """The Medication a record references: contained in it ("#id"), or stored from its source."""
    reference = (record.resource.get("medicationReference") or {}).get("reference", "")
    if isinstance(reference, str) and reference.startswith("#"):
        for contained in record.resource.get("contained") or []:
            if (
                contained.get("resourceType") == "Medication"
                and contained.get("id") == reference[1:]
            ):
                return contained
        return None
    return medications.get(_medication_key(record))


def _concept(resource: dict, medication: dict | None) -> dict:
    """The codings and text that name the drug: the resource's own concept, plus the referenced
    Medication's code and its ingredients' codes."""
    concept = resource.get("medicationCodeableConcept") or {}
    codings = list(concept.get("coding") or [])
    text = concept.get("text") or ""
    if medication:
        code = medication.get("code") or {}
        codings += code.get("coding") or []
        text = text or code.get("text") or ""
        for item in medication.get("ingredient") or []:
            codings += (item.get("itemCodeableConcept") or {}).get("coding") or []
    reference = resource.get("medicationReference") or {}
    text = text or reference.get("display") or ""
    return {"coding": [c for c in codings if isinstance(c, dict)], "text": text}


def _ingredient(concept: dict) -> tuple[tuple[str, str], str, str]:
    """(key, name, basis) of the drug's ingredient: ATC first, then the other systems of BASIS,
    then the name."""
    codings = concept["coding"]
    for system in BASIS:
        for coding in codings:
            if coding.get("system") == system and coding.get("code"):
                code = str(coding["code"]).strip()
                if system == ATC:
                    code = code.upper()
                name = coding.get("display") or concept["text"] or code
                return (system, code), name, str(BASIS[system])
    name = concept["text"] or next((c.get("display") for c in codings if c.get("display")), "")
    return ("", name.strip().casefold()), name or str(_("Unnamed medication")), ""


def _product(concept: dict) -> str:
    """The product's name: the HIRA EDI or KD product display, else the text."""
    for system in (HIRA_EDI, KD_CODE, RXNORM):
        for coding in concept["coding"]:
            if coding.get("system") == system and coding.get("display"):
                return coding["display"]
    return concept["text"]


def _entry(record: Record, resource: dict, concept: dict, today: dt.date) -> Entry:
    kind = {
        "MedicationRequest": "prescription",
        "MedicationDispense": "dispensing",
    }.get(record.resource_type, "statement")
    start = _start(resource, record)
    days = _days(resource)
    end = start + dt.timedelta(days=days) if start and days else _bounds_end(resource)
    status = record.status
    if status in ENDED:
        current = False
    elif end is not None:
        current = (start is None or start <= today) and today < end
    else:
        current = status in ONGOING
    prescription = ""
    for reference in resource.get("authorizingPrescription") or []:
        prescription = (reference or {}).get("reference", "") or prescription
    return Entry(
        record=record,
        kind=kind,
        product=_product(concept),
        start=start,
        days=days,
        end=end,
        dose=_dose(resource),
        where=_where(resource),
        current=current,
        prescription_ref=prescription,
        product_code=_product_code(concept),
    )


def _date(value) -> dt.date | None:
    moment = parse_fhir_datetime(value)
    return timezone.localtime(moment).date() if moment else None


def _start(resource: dict, record: Record) -> dt.date | None:
    for name in ("whenHandedOver", "whenPrepared", "authoredOn", "dateAsserted"):
        day = _date(resource.get(name))
        if day:
            return day
    period = resource.get("effectivePeriod") or {}
    day = _date(period.get("start")) or _date(resource.get("effectiveDateTime"))
    if day:
        return day
    return timezone.localtime(record.effective).date() if record.effective else None


def _quantity_days(quantity) -> int | None:
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    unit = str(quantity.get("code") or quantity.get("unit") or "d").strip().lower()
    per = DAYS_PER.get(unit)
    if not isinstance(value, int | float) or per is None or value <= 0:
        return None
    return round(value * per)


def _days(resource: dict) -> int | None:
    """The supply's length in days: the dispensing's daysSupply, the prescription's expected
    supply, or the dosage's bounds."""
    days = _quantity_days(resource.get("daysSupply"))
    if days:
        return days
    days = _quantity_days((resource.get("dispenseRequest") or {}).get("expectedSupplyDuration"))
    if days:
        return days
    for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
        repeat = ((dosage or {}).get("timing") or {}).get("repeat") or {}
        days = _quantity_days(repeat.get("boundsDuration"))
        if days:
            return days
    return None


def _bounds_end(resource: dict) -> dt.date | None:
    for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
        repeat = ((dosage or {}).get("timing") or {}).get("repeat") or {}
        end = _date((repeat.get("boundsPeriod") or {}).get("end"))
        if end:
            return end
    period = resource.get("effectivePeriod") or {}
    return _date(period.get("end"))


def _dose(resource: dict) -> str:
    """The dosage in words: its text, or its dose and frequency."""
    for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
        if not isinstance(dosage, dict):
            continue
        if dosage.get("text"):
            return str(dosage["text"])
        parts = []
        for rate in dosage.get("doseAndRate") or []:
            quantity = (rate or {}).get("doseQuantity") or {}
            if "value" in quantity:
                parts.append(f"{quantity['value']:g} {quantity.get('unit', '')}".strip())
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        if repeat.get("frequency") and repeat.get("period"):
            parts.append(
                _("%(frequency)s× every %(period)s %(unit)s")
                % {
                    "frequency": repeat["frequency"],
                    "period": f"{repeat['period']:g}",
                    "unit": repeat.get("periodUnit", ""),
                }
            )
        if parts:
            return " · ".join(str(p) for p in parts)
    return ""


def _where(resource: dict) -> str:
    """The dispensing pharmacy (performer, location) or the prescriber, by display name."""
    performers = resource.get("performer") or []
    if isinstance(performers, dict):  # MedicationRequest.performer is one Reference
        performers = [{"actor": performers}]
    for performer in performers if isinstance(performers, list) else []:
        actor = performer.get("actor") if isinstance(performer, dict) else None
        if isinstance(actor, dict) and actor.get("display"):
            return str(actor["display"])
    for name in ("location", "requester", "informationSource"):
        reference = resource.get(name)
        if isinstance(reference, dict) and reference.get("display"):
            return str(reference["display"])
    return ""

"""What a prescription, dispensing or medication statement says, read from its FHIR resource:
the drug (its codes, product and ingredient), when it starts, how long it lasts, its dose and
where it was prescribed or dispensed.

Ingest projects these facts into the record's `medication` column (facts()), once per resource:
the medications page, the dashboard and the summaries group thousands of prescriptions by
ingredient and tell current from past by reading the facts, not by decoding every resource on
each new data version (4,392 prescriptions at 20,000 records: most of a cold medications page).
Words in the reader's language (the dose's "2× every 1 d", a code system's name) are put
together where they are shown (records.medications), not stored.
"""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from records.fhirtime import parse_fhir_datetime

ATC = "http://www.whocc.no/atc"
HIRA_EDI = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication"
KD_CODE = "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
# The code systems an ingredient line is grouped by, best first (records.medications.BASIS
# names them).
INGREDIENT_SYSTEMS = (ATC, RXNORM, SNOMED, HIRA_EDI, KD_CODE)
PRODUCT_SYSTEMS = (HIRA_EDI, KD_CODE, RXNORM)
THERAPY_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement")
KINDS = {"MedicationRequest": "prescription", "MedicationDispense": "dispensing"}
DAYS_PER = {"d": 1, "day": 1, "days": 1, "일": 1, "wk": 7, "week": 7, "mo": 30, "month": 30}


def facts(resource: dict, effective: dt.datetime | None) -> dict | None:
    """The `medication` column of a therapy resource (None for other resources): JSON with
    its kind, start and end dates (ISO), supply in days, dose, place, authorizing
    prescription, product, product code and ingredient ([system, code, name]; system "" for a
    name only). `medication`: the id of a Medication it references at its source ("" for
    none), whose codes name the drug better once it is stored (records.medications reads the
    resource then). `order`: what order_of says ("" for a course to take). `effective`: the
    record's projected date, the start when the resource gives none of its own."""
    if resource.get("resourceType") not in THERAPY_TYPES:
        return None
    concept = concept_of(resource, contained_medication(resource))
    start = start_of(resource, effective)
    days = days_of(resource)
    # The supply's end, or the dosage's bounds' when they end first (a 10-day supply for
    # "as needed from the 15th to the 20th" is taken through the 20th).
    # Bounds that end before the course starts (a renewal keeping an old period) end nothing.
    ends = [
        e
        for e in (_after(start, days) if start and days else None, bounds_end(resource))
        if e and (start is None or e > start)
    ]
    end = min(ends) if ends else None
    prescription = ""
    for reference in resource.get("authorizingPrescription") or []:
        if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
            prescription = reference["reference"] or prescription
    return {
        "kind": KINDS.get(resource["resourceType"], "statement"),
        "start": start.isoformat() if start else None,
        "days": days,
        "end": end.isoformat() if end else None,
        "dose": dose_of(resource),
        "where": where_of(resource),
        "prescription": prescription,
        "product": product_of(concept),
        "product_code": product_code(concept),
        "ingredient": list(ingredient_of(concept)),
        "medication": stored_reference(resource),
        "order": order_of(resource),
    }


def stored_reference(resource: dict) -> str:
    """The id of the Medication the resource references at its source ("" for none)."""
    reference = (resource.get("medicationReference") or {}).get("reference", "")
    if not isinstance(reference, str) or not reference.startswith("Medication/"):
        return ""
    return reference.split("/", 1)[1]


def contained_medication(resource: dict) -> dict | None:
    """The Medication contained in the resource that it references ("#id"), or None."""
    reference = (resource.get("medicationReference") or {}).get("reference", "")
    if not isinstance(reference, str) or not reference.startswith("#"):
        return None
    for contained in resource.get("contained") or []:
        if (
            isinstance(contained, dict)
            and contained.get("resourceType") == "Medication"
            and contained.get("id") == reference[1:]
        ):
            return contained
    return None


def concept_of(resource: dict, medication: dict | None) -> dict:
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
    return {"coding": [c for c in codings if isinstance(c, dict)], "text": str(text)}


def ingredient_of(concept: dict) -> tuple[str, str, str]:
    """(system, code, name) of the drug's ingredient: ATC first, then the other
    INGREDIENT_SYSTEMS, then the name (system and code "": the name, casefolded, groups)."""
    codings = concept["coding"]
    for system in INGREDIENT_SYSTEMS:
        for coding in codings:
            if coding.get("system") == system and coding.get("code"):
                code = str(coding["code"]).strip()
                if system == ATC:
                    code = code.upper()
                return system, code, str(coding.get("display") or concept["text"] or code)
    name = concept["text"] or next((c.get("display") for c in codings if c.get("display")), "")
    return "", "", str(name)


def product_of(concept: dict) -> str:
    """The product's name: the HIRA EDI, KD or RxNorm display, else the text."""
    for system in PRODUCT_SYSTEMS:
        for coding in concept["coding"]:
            if coding.get("system") == system and coding.get("display"):
                return str(coding["display"])
    return concept["text"]


def product_code(concept: dict) -> str:
    """system|code of the HIRA EDI, KD or RxNorm product code, "" without one."""
    for system in PRODUCT_SYSTEMS:
        for coding in concept["coding"]:
            if coding.get("system") == system and coding.get("code"):
                return f"{system}|{coding['code']}"
    return ""


# A supply longer than this is not a supply (R4 allows any positive number: 1e9 days was seen
# in a test file): it is read as unknown, so the prescription is current by its status.
LONGEST_SUPPLY_DAYS = 100 * 366


def _after(start: dt.date, days: int) -> dt.date | None:
    """The day a supply of `days` from `start` ends; None beyond the calendar (year 9999)."""
    try:
        return start + dt.timedelta(days=days)
    except OverflowError:
        return None


def _local_day(moment: dt.datetime) -> dt.date | None:
    """The day of `moment` in PHR's time zone (KST); None where that leaves the calendar (the
    first hours of year 1, the last of year 9999)."""
    try:
        return timezone.localtime(moment, timezone.get_default_timezone()).date()
    except (OverflowError, ValueError):
        return None


def _date(value) -> dt.date | None:
    moment = parse_fhir_datetime(value)
    return _local_day(moment) if moment else None


def start_of(resource: dict, effective: dt.datetime | None) -> dt.date | None:
    """The first day it is taken: a dispensing's hand-over; the day a statement's period
    starts (a statement asserted today of last year's course started last year); the later
    of the day a prescription was written and the day its dosage's bounds start (written
    today for a course next month: next month; a renewal written today whose bounds keep the
    therapy's first day of years ago: today — its supply counts from now); else the record's
    date."""
    for name in ("whenHandedOver", "whenPrepared"):
        day = _date(resource.get(name))
        if day:
            return day
    period = resource.get("effectivePeriod") or {}
    for day in (period.get("start"), resource.get("effectiveDateTime")):
        day = _date(day)
        if day:
            return day
    bounds = None
    for dosage in _dosages(resource):
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        bounds = _date((repeat.get("boundsPeriod") or {}).get("start"))
        if bounds:
            break
    written = _date(resource.get("authoredOn")) or _date(resource.get("dateAsserted"))
    if bounds and written:
        return max(bounds, written)
    if bounds or written:
        return bounds or written
    return _local_day(effective) if effective else None


# MedicationRequest.intent values that authorise nothing (http://hl7.org/fhir/R4/valueset-
# medicationrequest-intent.html): a proposal, a plan, an option of a protocol.
NOT_ORDERS = {"proposal", "plan", "option"}


def order_of(resource: dict) -> str:
    """ "" for a course to take (an order, a dispensing, a statement); "do-not-perform" for a
    request not to take it (MedicationRequest.doNotPerform); "proposal" for a request that
    authorises nothing (NOT_ORDERS)."""
    if resource.get("resourceType") != "MedicationRequest":
        return ""
    if resource.get("doNotPerform") is True:
        return "do-not-perform"
    return "proposal" if resource.get("intent") in NOT_ORDERS else ""


def _quantity_days(quantity) -> int | None:
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    unit = str(quantity.get("code") or quantity.get("unit") or "d").strip().lower()
    per = DAYS_PER.get(unit)
    # A decimal ("30.0") is read as Decimal, its digits kept (records.fhirjson).
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or per is None:
        return None
    if not 0 < value <= LONGEST_SUPPLY_DAYS / per:
        return None
    return round(value * per)


def _dosages(resource: dict) -> list:
    dosages = resource.get("dosageInstruction") or resource.get("dosage") or []
    return [d for d in dosages if isinstance(d, dict)] if isinstance(dosages, list) else []


def days_of(resource: dict) -> int | None:
    """The supply's length in days: the dispensing's daysSupply, the prescription's expected
    supply, or the dosage's bounds."""
    days = _quantity_days(resource.get("daysSupply"))
    if days:
        return days
    days = _quantity_days((resource.get("dispenseRequest") or {}).get("expectedSupplyDuration"))
    if days:
        return days
    for dosage in _dosages(resource):
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        days = _quantity_days(repeat.get("boundsDuration"))
        if days:
            return days
    return None


def bounds_end(resource: dict) -> dt.date | None:
    """The day after the last day a dosage's bounds or the resource's period names: a FHIR
    Period's end is inclusive (a course bounded to end today is taken today), and `end` in
    the facts is the first day it is no longer taken, as a supply's is (its start plus its
    days). None beyond the calendar."""
    for dosage in _dosages(resource):
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        end = _date((repeat.get("boundsPeriod") or {}).get("end"))
        if end:
            return _after(end, 1)
    end = _date((resource.get("effectivePeriod") or {}).get("end"))
    return _after(end, 1) if end else None


def dose_of(resource: dict) -> dict | None:
    """The first dosage that says something: {"text": its text}, or {"parts": its doses
    ("5 mg"), "repeat": [frequency, period, period unit] or None}; None for no dosage."""
    for dosage in _dosages(resource):
        if dosage.get("text"):
            return {"text": str(dosage["text"])}
        parts = []
        for rate in dosage.get("doseAndRate") or []:
            quantity = (rate or {}).get("doseQuantity") or {}
            if "value" in quantity:
                parts.append(f"{quantity['value']:g} {quantity.get('unit', '')}".strip())
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        timing = None
        if repeat.get("frequency") and repeat.get("period"):
            timing = [
                str(repeat["frequency"]),
                f"{repeat['period']:g}",
                repeat.get("periodUnit", ""),
            ]
        if parts or timing:
            return {"parts": parts, "repeat": timing}
    return None


def where_of(resource: dict) -> str:
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

"""From a FHIR resource to the columns the pages query (category, code, date, value…).

Plain dict access on the raw JSON: it runs for every resource of every sync, after validation.
"""

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, fields
from decimal import Decimal

from records import fhirjson, prescriptions
from records.fhirtime import parse_fhir_datetime, storable
from records.models import Category

# Preferred code systems, best first: the code a record is filed under.
SYSTEM_PREFERENCE = [
    "http://loinc.org",
    "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
    "http://hl7.org/fhir/sid/icd-10",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
    "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode",
    "http://www.whocc.no/atc",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure",
    "http://snomed.info/sct",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://hl7.org/fhir/sid/cvx",
]
TYPE_CATEGORY = {
    "Encounter": Category.ENCOUNTER,
    "Condition": Category.CONDITION,
    "MedicationRequest": Category.MEDICATION,
    "MedicationStatement": Category.MEDICATION,
    "MedicationAdministration": Category.MEDICATION,
    "MedicationDispense": Category.MEDICATION,
    "Medication": Category.MEDICATION,
    "Procedure": Category.PROCEDURE,
    "AllergyIntolerance": Category.ALLERGY,
    "Immunization": Category.IMMUNIZATION,
    "DocumentReference": Category.DOCUMENT,
    "Composition": Category.DOCUMENT,
    "Patient": Category.PATIENT,
}
# When the record happened, for the timeline: a diagnosis is placed when it was recorded (the
# visit), not at the onset the clinician estimated, which stays in the resource.
DATE_FIELDS = [
    "effectiveDateTime",
    "occurrenceDateTime",
    "performedDateTime",
    "recordedDate",
    "onsetDateTime",
    "authoredOn",
    "whenHandedOver",  # a MedicationDispense (HIRA's): handed over, else prepared
    "whenPrepared",
    "issued",
    "date",
    "recorded",
]
PERIOD_FIELDS = ["effectivePeriod", "period", "performedPeriod", "onsetPeriod"]


def canonical_json(resource: dict) -> bytes:
    """The resource's canonical JSON (sorted keys, no spaces, UTF-8): what content_hash digests.
    TypeError for a resource nested deeper than orjson writes."""
    return fhirjson.dumps_bytes(resource, sort_keys=True)


def content_hash(resource: dict) -> str:
    """SHA-256 of the resource's canonical JSON (sorted keys, no spaces, UTF-8): the same bytes
    as json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":")), made by orjson,
    which is several times faster on a sync's hot path. Decimals are written with the digits
    they were read with, so a resource whose decimals print as floats do has the digest it had
    when floats were stored."""
    return hashlib.sha256(canonical_json(resource)).hexdigest()


def main_concept(resource: dict) -> dict:
    """The CodeableConcept a record is filed and named under (its code, medication, vaccine or
    type), or {}: the one rule, for the columns and for the codes a page lists."""
    concept = (
        resource.get("code")
        or resource.get("medicationCodeableConcept")
        or resource.get("vaccineCode")
        or resource.get("type")
        or {}
    )
    if isinstance(concept, list):  # Encounter.type, DocumentReference has a single type
        concept = concept[0] if concept else {}
    return concept if isinstance(concept, dict) else {}


def _codings(resource: dict) -> list[dict]:
    return main_concept(resource).get("coding", [])


def _concept_text(resource: dict) -> str:
    for key in ("code", "medicationCodeableConcept", "vaccineCode"):
        concept = resource.get(key)
        if isinstance(concept, dict) and concept.get("text"):
            return concept["text"]
    # Resources without a code are named by what they say: a Goal by its description, a
    # CarePlan by its title or kind of plan ("Self care") — never by their bare type.
    if resource.get("resourceType") == "Goal":
        description = resource.get("description")
        return description.get("text", "") if isinstance(description, dict) else ""
    if resource.get("resourceType") == "CarePlan":
        if isinstance(resource.get("title"), str) and resource["title"]:
            return resource["title"]
        for concept in resource.get("category") or []:
            if isinstance(concept, dict):
                text = concept.get("text") or next(
                    (c.get("display") for c in concept.get("coding", []) if c.get("display")), ""
                )
                if text:
                    return text
        description = resource.get("description")
        return description if isinstance(description, str) else ""
    return ""


def _category_codes(resource: dict) -> set[str]:
    codes = set()
    for concept in resource.get("category", []) or []:
        if isinstance(concept, dict):
            codes.update(c.get("code", "") for c in concept.get("coding", []))
    return codes


def category_of(resource: dict) -> str:
    resource_type = resource.get("resourceType", "")
    if resource_type in TYPE_CATEGORY:
        return TYPE_CATEGORY[resource_type]
    categories = _category_codes(resource)
    if resource_type == "Observation":
        if "laboratory" in categories:
            return Category.LAB
        if "vital-signs" in categories:
            return Category.VITAL
        if "imaging" in categories:
            return Category.IMAGING
        return Category.OTHER_TEST
    if resource_type in ("DiagnosticReport", "ImagingStudy"):
        if resource_type == "ImagingStudy" or categories & {"RAD", "CT", "MR", "US", "NMR", "XRC"}:
            return Category.IMAGING
        if categories & {"PAT", "SP", "CP", "CYTO"}:
            return Category.PATHOLOGY
        if categories & {"LAB", "HM", "CH", "MB", "SR"}:
            return Category.LAB
        return Category.OTHER_TEST
    return Category.OTHER


def _effective(resource: dict) -> dt.datetime | None:
    for field in DATE_FIELDS:
        moment = parse_fhir_datetime(resource.get(field))
        if moment:
            return moment
    for field in PERIOD_FIELDS:
        period = resource.get(field)
        if isinstance(period, dict):
            moment = parse_fhir_datetime(period.get("start") or period.get("end"))
            if moment:
                return moment
    if resource.get("resourceType") == "Patient":
        return parse_fhir_datetime(resource.get("birthDate"))
    return None


def _status(resource: dict) -> str:
    status = resource.get("status")
    if isinstance(status, str):
        return status
    clinical = resource.get("clinicalStatus")
    if isinstance(clinical, dict):
        codes = [c.get("code", "") for c in clinical.get("coding", [])]
        return codes[0] if codes else clinical.get("text", "")
    return ""


def _name(resource: dict) -> str:
    names = resource.get("name") or []
    if names and isinstance(names[0], dict):
        name = names[0]
        return (
            name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        )
    return ""


# Blood pressure components by LOINC code, never by position: Synthea, for one, lists the
# diastolic first. Other panels keep the order they are sent in.
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"


def _panel_values(resource: dict) -> tuple[dict, dict]:
    """The (first, second) component quantities: (systolic, diastolic) for blood pressure."""
    quantities, by_code = [], {}
    for component in resource.get("component", []) or []:
        if not isinstance(component, dict) or not isinstance(component.get("valueQuantity"), dict):
            continue
        quantities.append(component["valueQuantity"])
        for coding in (component.get("code") or {}).get("coding", []) or []:
            if isinstance(coding, dict) and coding.get("code") in (SYSTOLIC, DIASTOLIC):
                by_code.setdefault(coding["code"], component["valueQuantity"])
    if by_code:
        return by_code.get(SYSTOLIC, {}), by_code.get(DIASTOLIC, {})
    return (quantities[0] if quantities else {}), (quantities[1] if len(quantities) > 1 else {})


def _number(value) -> float | None:
    # Decimals (the resource keeps their digits) and integers; a bool is not a value.
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


@dataclass(frozen=True, slots=True)
class Projection:
    """The Record columns computed from a resource: the one definition of them. Its fields are
    the columns (each one a Record field of the same name): an insert writes them all, and an
    update of a changed resource writes PROJECTED_FIELDS (records.bulk), so a column added here
    is kept up to date on re-sync without a second list to remember."""

    category: str
    code_system: str
    code_value: str
    code_alt: str
    display: str
    effective: dt.datetime | None
    status: str
    value_num: float | None
    value_num2: float | None
    unit: str
    search_text: str
    source_updated: dt.datetime | None
    medication: dict | None  # a prescription's facts (records.prescriptions), None otherwise

    def columns(self) -> dict:
        """{column: value}, for Record(**…)."""
        return {name: getattr(self, name) for name in PROJECTED_FIELDS}


PROJECTED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Projection))


def project(resource: dict, *, facts: bool = True) -> Projection:
    """The queryable columns of a (validated) resource; with facts=False without a
    prescription's facts (naming a refused resource, whose dosage may be of any shape)."""
    codings = _codings(resource)
    ranked = sorted(
        (c for c in codings if isinstance(c, dict) and c.get("code")),
        key=lambda c: (
            SYSTEM_PREFERENCE.index(c.get("system"))
            if c.get("system") in SYSTEM_PREFERENCE
            else len(SYSTEM_PREFERENCE)
        ),
    )
    chosen = ranked[0] if ranked else {}
    alternative = next((c for c in ranked[1:] if c.get("code") != chosen.get("code")), {})
    text = _concept_text(resource)
    display = text or chosen.get("display", "") or _name(resource)
    quantity = (
        resource.get("valueQuantity") if isinstance(resource.get("valueQuantity"), dict) else {}
    )
    second = {}
    if not quantity:  # a panel such as blood pressure: its components' values
        quantity, second = _panel_values(resource)
    value, value2 = quantity.get("value"), second.get("value")
    search = " ".join(
        dict.fromkeys(
            part
            for part in [text, display, _name(resource), resource.get("conclusion", "")]
            + [
                f"{c.get('code', '')} {c.get('display', '')}"
                for c in codings
                if isinstance(c, dict)
            ]
            if part
        )
    )
    # The resource keeps the date as it was sent; the column, what a timestamp can hold.
    effective = storable(_effective(resource))
    return Projection(
        category=category_of(resource),
        code_system=(chosen.get("system") or "")[:200],
        code_value=(chosen.get("code") or "")[:100],
        code_alt=(alternative.get("code") or "")[:100],
        display=display[:500],
        effective=effective,
        status=_status(resource)[:40],
        value_num=_number(value),
        value_num2=_number(value2),
        unit=(quantity.get("unit") or quantity.get("code") or "")[:40],
        search_text=search,
        source_updated=storable(
            parse_fhir_datetime((resource.get("meta") or {}).get("lastUpdated"))
        ),
        medication=prescriptions.facts(resource, effective) if facts else None,
    )

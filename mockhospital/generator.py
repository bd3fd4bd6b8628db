"""Deterministic synthetic KR Core-style FHIR R4 data.

Pure functions of (institution, patient, time window): the same inputs give byte-identical
JSON. Traits of the *person* (chronic conditions, their onset and treatment, height, weight,
allergies) are seeded by the person's identity, so that two institutions tell a consistent
story about one person (the same HbA1c course appears in both hospitals' lab results). Visits
are seeded by the institution's patient seed and their own date, so extending the window (the
institution's clock advancing) adds visits without changing earlier ones.
"""

import base64
import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from mockhospital import codes as c

KST = dt.timezone(dt.timedelta(hours=9))
# Resources per visit, on average, by profile: sets the visit density for a target size.
PER_VISIT = {"tertiary": 7, "general": 6.6, "clinic": 6.2, "dental": 3.8, "public_health": 6}


@dataclass(frozen=True)
class InstitutionSpec:
    slug: str
    name: str
    hira_number: str
    type_code: str
    profile: str
    region: str


@dataclass(frozen=True)
class PatientSpec:
    patient_id: str
    person_key: str  # the verified identifier, or anything stable for the person
    seed: int
    size: int  # the target number of resources over the first `span_days`
    history_start: dt.datetime
    span_days: int = 5 * 365
    full_name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    phone: str = ""


def _rng(*parts) -> random.Random:
    # random.Random(str) hashes the string with SHA-512: stable across runs and machines,
    # unlike hash(), which is salted per process.
    return random.Random(":".join(str(p) for p in parts))


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(KST).isoformat(timespec="seconds")


def _ref(resource_type: str, resource_id: str) -> dict:
    return {"reference": f"{resource_type}/{resource_id}"}


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit}


def _meta(profile: str, updated: dt.datetime) -> dict:
    return {"lastUpdated": _instant(updated), "profile": [profile]}


# --- The person ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    full_name: str
    birth_date: dt.date
    sex: str
    phone: str
    address: tuple
    height: float
    weight: float
    chronic: dict  # condition key → (onset date, treatment start date)
    allergy: tuple | None


def person(spec: PatientSpec) -> Person:
    """The person behind a patient record: the same at every institution that knows them."""
    rng = _rng("person", spec.person_key)
    sex = spec.sex if spec.sex in ("male", "female") else rng.choice(["male", "female"])
    birth_date = spec.birth_date or dt.date(rng.randint(1940, 2000), rng.randint(1, 12), 15)
    full_name = spec.full_name or rng.choice(c.FAMILY_NAMES) + rng.choice(c.GIVEN_NAMES)
    phone = spec.phone or f"010{rng.randint(10000000, 99999999)}"
    chronic = {}
    # Diagnosed from age 40, mostly in recent years: inside the years institutions hold, so
    # the charts show the course before and after treatment. A child has none of them.
    earliest = max(birth_date.year + 40, 2019)
    for key, probability in (
        ("diabetes", 0.55),
        ("hypertension", 0.6),
        ("dyslipidemia", 0.5),
        ("hypothyroidism", 0.15),
    ):
        if _age(birth_date, CHRONIC_UNTIL) < CHILD_AGE:
            break
        if rng.random() < probability:
            onset_year = min(earliest + rng.randint(0, 4), 2024)
            onset = dt.date(onset_year, rng.randint(1, 12), rng.randint(1, 28))
            treatment = onset + dt.timedelta(days=rng.randint(30, 240))
            chronic[key] = (onset, treatment)
    height = round(rng.gauss(172 if sex == "male" else 159, 5), 1)
    weight = round(rng.gauss(74 if sex == "male" else 58, 7), 1)
    allergy = rng.choice(c.ALLERGIES) if rng.random() < 0.35 else None
    district, road, postal = rng.choice(c.DISTRICTS)
    address = (district, road, str(rng.randint(1, 300)), postal)
    return Person(full_name, birth_date, sex, phone, address, height, weight, chronic, allergy)


def _course(person: Person, key: str, day: dt.date) -> float:
    """The true value of a lab or vital for this person on a day (before measurement noise)."""
    chronic = person.chronic

    def treated(condition: str, before: float, peak: float, after: float) -> float | None:
        if condition not in chronic:
            return None
        onset, treatment = chronic[condition]
        if day < onset - dt.timedelta(days=3 * 365):
            return before
        if day < treatment:  # rising towards the peak in the three years up to treatment
            span = (treatment - (onset - dt.timedelta(days=3 * 365))).days
            done = (day - (onset - dt.timedelta(days=3 * 365))).days / span
            return before + (peak - before) * done
        return after + (peak - after) * math.exp(-(day - treatment).days / 150)

    baseline = {
        "hba1c": 5.4,
        "glucose": 92,
        "chol": 185,
        "ldl": 110,
        "hdl": 52,
        "tg": 120,
        "ast": 24,
        "alt": 22,
        "creatinine": 0.9,
        "bun": 14,
        "hb": 14.2 if person.sex == "male" else 12.9,
        "wbc": 6.2,
        "plt": 250,
        "tsh": 2.0,
        "systolic": 122,
        "diastolic": 78,
        "heart_rate": 72,
        "temperature": 36.6,
    }[key]
    value = {
        "hba1c": treated("diabetes", 5.5, 8.6, 6.6),
        "glucose": treated("diabetes", 95, 178, 118),
        "chol": treated("dyslipidemia", 205, 262, 168),
        "ldl": treated("dyslipidemia", 128, 172, 88),
        "tg": treated("dyslipidemia", 140, 230, 130),
        "systolic": treated("hypertension", 128, 152, 126),
        "diastolic": treated("hypertension", 82, 96, 79),
        "tsh": treated("hypothyroidism", 2.5, 8.4, 2.2),
    }.get(key)
    return baseline if value is None else value


# --- Resources -----------------------------------------------------------------------------


class _Visit:
    """Builds the resources of one visit, with ids unique within the patient."""

    def __init__(
        self,
        inst: InstitutionSpec,
        spec: PatientSpec,
        number: int,
        start: dt.datetime,
        until: dt.datetime,
    ):
        self.inst, self.spec, self.number, self.start = inst, spec, number, start
        self.day = start.astimezone(KST).date()
        # Written up two hours after the visit began, but never after the institution's "now".
        self.updated = min(start + dt.timedelta(hours=2), until)
        self.patient = _ref("Patient", spec.patient_id)
        self.encounter_id = self._id(0)
        self.encounter = _ref("Encounter", self.encounter_id)
        self.items = 0
        self.resources: list[dict] = []

    def _id(self, item: int) -> str:
        return f"{self.spec.patient_id}-{self.number:05d}-{item:02d}"

    def add(self, resource_type: str, profile: str, body: dict) -> dict:
        resource = {
            "resourceType": resource_type,
            "id": self._id(self.items),
            "meta": _meta(profile, self.updated),
            **body,
        }
        self.items += 1
        self.resources.append(resource)
        return resource


def _encounter(visit: _Visit, kind: str, department: str, days: int) -> None:
    labels = {
        "AMB": ("ambulatory", "외래"),
        "EMER": ("emergency", "응급"),
        "IMP": ("inpatient encounter", "입원"),
    }
    display, korean = labels[kind]
    end = visit.start + (dt.timedelta(days=days) if days else dt.timedelta(minutes=20))
    visit.add(
        "Encounter",
        c.KRCORE_PROFILE + "krcore-encounter",
        {
            "status": "finished",
            "class": _coding(c.ACT_CODE, kind, display),
            "type": [{"text": f"{department} {korean}"}],
            "subject": visit.patient,
            "period": {"start": _instant(visit.start), "end": _instant(end)},
            "serviceProvider": {
                "reference": f"Organization/org-{visit.inst.hira_number}",
                "display": visit.inst.name,
            },
        },
    )


def _condition(visit: _Visit, code: tuple, *, category: str, active: bool, onset: dt.date) -> None:
    kcd, korean, english = code
    body = {
        "clinicalStatus": {
            "coding": [{"system": c.CONDITION_CLINICAL, "code": "active" if active else "resolved"}]
        },
        "verificationStatus": {
            "coding": [{"system": c.CONDITION_VERIFICATION, "code": "confirmed"}]
        },
        "category": [
            {
                "coding": [
                    _coding(
                        c.CONDITION_CATEGORY,
                        category,
                        "Encounter Diagnosis"
                        if category == "encounter-diagnosis"
                        else "Problem List Item",
                    )
                ]
            }
        ],
        "code": {"coding": [_coding(c.KCD8, kcd, korean)], "text": f"{korean} ({english})"},
        "subject": visit.patient,
        "encounter": visit.encounter,
        "onsetDateTime": onset.isoformat(),
        "recordedDate": visit.day.isoformat(),
    }
    if not active:
        body["abatementDateTime"] = (visit.day + dt.timedelta(days=14)).isoformat()
    visit.add("Condition", c.KRCORE_PROFILE + "krcore-condition-encounter-diagnosis", body)


def _flag(value: float, low: float, high: float) -> dict:
    code, display = (
        ("H", "High") if value > high else ("L", "Low") if value < low else ("N", "Normal")
    )
    return {"coding": [_coding(c.OBS_INTERPRETATION, code, display)]}


def _lab(visit: _Visit, person_: Person, key: str, rng: random.Random) -> None:
    edi, korean, loinc, name, unit, low, high, decimals = c.LABS[key]
    true_value = _course(person_, key, visit.day)
    value = round(max(true_value * (1 + rng.gauss(0, 0.04)), 0.01), decimals)
    value = int(value) if decimals == 0 else value
    reference = {}
    if low:
        reference["low"] = _quantity(low, unit)
    reference["high"] = _quantity(high, unit)
    visit.add(
        "Observation",
        c.KRCORE_PROFILE + "krcore-observation-laboratory-result",
        {
            "status": "final",
            "category": [{"coding": [_coding(c.OBS_CATEGORY, "laboratory", "Laboratory")]}],
            "code": {
                "coding": [_coding(c.EDI_PROCEDURE, edi, korean), _coding(c.LOINC, loinc, name)],
                "text": korean,
            },
            "subject": visit.patient,
            "encounter": visit.encounter,
            "effectiveDateTime": _instant(visit.start),
            "issued": _instant(visit.updated),
            "valueQuantity": _quantity(value, unit),
            "interpretation": [_flag(value, low, high)],
            "referenceRange": [reference],
        },
    )


def _vital_category() -> list:
    return [{"coding": [_coding(c.OBS_CATEGORY, "vital-signs", "Vital Signs")]}]


def _vital(visit: _Visit, key: str, value: float) -> None:
    loinc, name, korean, unit, decimals = c.VITALS[key]
    value = round(value, decimals)
    visit.add(
        "Observation",
        "http://hl7.org/fhir/StructureDefinition/vitalsigns",
        {
            "status": "final",
            "category": _vital_category(),
            "code": {"coding": [_coding(c.LOINC, loinc, name)], "text": korean},
            "subject": visit.patient,
            "encounter": visit.encounter,
            "effectiveDateTime": _instant(visit.start),
            "valueQuantity": _quantity(int(value) if decimals == 0 else value, unit),
        },
    )


def _blood_pressure(visit: _Visit, person_: Person, rng: random.Random) -> None:
    systolic = round(_course(person_, "systolic", visit.day) + rng.gauss(0, 5))
    diastolic = round(_course(person_, "diastolic", visit.day) + rng.gauss(0, 3))
    loinc, name, korean = c.BP_PANEL
    visit.add(
        "Observation",
        "http://hl7.org/fhir/StructureDefinition/bp",
        {
            "status": "final",
            "category": _vital_category(),
            "code": {"coding": [_coding(c.LOINC, loinc, name)], "text": korean},
            "subject": visit.patient,
            "encounter": visit.encounter,
            "effectiveDateTime": _instant(visit.start),
            "component": [
                {
                    "code": {"coding": [_coding(c.LOINC, *c.BP_SYSTOLIC)]},
                    "valueQuantity": _quantity(systolic, "mm[Hg]"),
                },
                {
                    "code": {"coding": [_coding(c.LOINC, *c.BP_DIASTOLIC)]},
                    "valueQuantity": _quantity(diastolic, "mm[Hg]"),
                },
            ],
        },
    )


def _medication(visit: _Visit, key: str, days: int, until: dt.datetime) -> None:
    edi, product, atc, atc_name, dose = c.DRUGS[key]
    active = visit.start + dt.timedelta(days=days) > until
    times = {"1일 1회": 1, "1일 2회": 2, "1일 3회": 3}.get(dose[:5], 1)
    visit.add(
        "MedicationRequest",
        c.KRCORE_PROFILE + "krcore-medicationrequest",
        {
            "status": "active" if active else "completed",
            "intent": "order",
            "category": [{"coding": [_coding(c.MEDREQ_CATEGORY, "outpatient", "Outpatient")]}],
            "medicationCodeableConcept": {
                "coding": [_coding(c.EDI_MEDICATION, edi, product), _coding(c.ATC, atc, atc_name)],
                "text": product,
            },
            "subject": visit.patient,
            "encounter": visit.encounter,
            "authoredOn": _instant(visit.start),
            "dosageInstruction": [
                {
                    "text": dose,
                    "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
                }
            ],
            "dispenseRequest": {
                "expectedSupplyDuration": {
                    "value": days,
                    "unit": "일",
                    "system": c.UCUM,
                    "code": "d",
                }
            },
        },
    )


def _report(visit: _Visit, service: tuple, code: dict, conclusion: str) -> None:
    visit.add(
        "DiagnosticReport",
        c.KRCORE_PROFILE + "krcore-diagnosticreport",
        {
            "status": "final",
            "category": [{"coding": [_coding(c.DIAGNOSTIC_SERVICE, *service)]}],
            "code": code,
            "subject": visit.patient,
            "encounter": visit.encounter,
            "effectiveDateTime": _instant(visit.start),
            "issued": _instant(visit.updated),
            "conclusion": conclusion,
        },
    )


def _imaging(visit: _Visit, rng: random.Random, choices: list) -> None:
    loinc, name, korean, conclusions = rng.choice(choices)
    code = {"coding": [_coding(c.LOINC, loinc, name)], "text": korean}
    _report(visit, ("RAD", "Radiology"), code, rng.choice(conclusions))


def _procedure(visit: _Visit, procedure: tuple) -> None:
    snomed, english, korean, edi = procedure
    visit.add(
        "Procedure",
        c.KRCORE_PROFILE + "krcore-procedure",
        {
            "status": "completed",
            "code": {
                "coding": [
                    _coding(c.SNOMED, snomed, english),
                    _coding(c.EDI_PROCEDURE, edi, korean),
                ],
                "text": korean,
            },
            "subject": visit.patient,
            "encounter": visit.encounter,
            "performedDateTime": _instant(visit.start),
        },
    )


def _document(visit: _Visit, loinc: tuple, title: str, text: str) -> None:
    visit.add(
        "DocumentReference",
        c.KRCORE_PROFILE + "krcore-documentreference",
        {
            "status": "current",
            "type": {"coding": [_coding(c.LOINC, *loinc)], "text": title},
            "subject": visit.patient,
            "date": _instant(visit.updated),
            "description": title,
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "language": "ko",
                        "title": title,
                        "data": base64.b64encode(text.encode()).decode(),
                    }
                }
            ],
            "context": {"encounter": [visit.encounter]},
        },
    )


def _immunization(visit: _Visit, key: str, dose: int) -> None:
    kr_code, korean, cvx, cvx_name = c.VACCINES[key]
    coding = [_coding(c.KRCORE_VACCINE_TYPES, kr_code, korean)] if kr_code else []
    visit.add(
        "Immunization",
        c.KRCORE_PROFILE + "krcore-immunization",
        {
            "status": "completed",
            "vaccineCode": {
                "coding": [*coding, _coding(c.CVX, cvx, cvx_name)],
                "text": f"{korean} 예방접종",
            },
            "patient": visit.patient,
            "encounter": visit.encounter,
            "occurrenceDateTime": _instant(visit.start),
            "primarySource": True,
            "lotNumber": f"L{visit.day:%y%m}{visit.number % 97:02d}",
            "protocolApplied": [{"doseNumberPositiveInt": dose}],
        },
    )


def _allergy(visit: _Visit, allergy: tuple) -> None:
    snomed, english, korean, category, reaction, reaction_en, reaction_ko = allergy
    visit.add(
        "AllergyIntolerance",
        c.KRCORE_PROFILE + "krcore-allergyintolerance",
        {
            "clinicalStatus": {"coding": [{"system": c.ALLERGY_CLINICAL, "code": "active"}]},
            "verificationStatus": {
                "coding": [{"system": c.ALLERGY_VERIFICATION, "code": "confirmed"}]
            },
            "type": "allergy",
            "category": [category],
            "criticality": "high" if category == "medication" else "low",
            "code": {"coding": [_coding(c.SNOMED, snomed, english)], "text": korean},
            "patient": visit.patient,
            "recordedDate": _instant(visit.start),
            "reaction": [
                {
                    "manifestation": [
                        {"coding": [_coding(c.SNOMED, reaction, reaction_en)], "text": reaction_ko}
                    ],
                    "severity": "moderate",
                }
            ],
        },
    )


# --- Visits by kind of institution -----------------------------------------------------------


def _chronic_follow_up(visit, person_, rng, keys, until, *, labs_every: int) -> None:
    for key in keys:
        _condition(
            visit,
            c.CHRONIC[key],
            category="encounter-diagnosis",
            active=True,
            onset=person_.chronic[key][0],
        )
    _blood_pressure(visit, person_, rng)
    _vital(visit, "weight", person_.weight + rng.gauss(0, 0.8))
    if visit.number % labs_every == 0:
        panels = {"diabetes": "diabetes", "dyslipidemia": "lipid", "hypothyroidism": "thyroid"}
        for key in keys:
            for lab in c.LAB_PANELS.get(panels.get(key, ""), []):
                _lab(visit, person_, lab, rng)
        if visit.number % (labs_every * 3) == 0:
            for lab in c.LAB_PANELS["liver"] + c.LAB_PANELS["kidney"] + c.LAB_PANELS["cbc"]:
                _lab(visit, person_, lab, rng)
    for key in keys:
        if visit.day >= person_.chronic[key][1]:
            _medication(visit, c.CHRONIC_DRUG[key], 90, until)


# A child (under 15 on the visit's day) sees a paediatrician for what children come with:
# colds, bronchitis, gastroenteritis, otitis, conjunctivitis, skin rashes, a sprain. No
# chronic conditions, no inpatient surgery, children's vital signs and medicines.
CHILD_AGE = 15
CHRONIC_UNTIL = dt.date(2024, 12, 31)  # the chronic conditions' onsets end here (see person)
CHILD_ACUTE = [
    *(code for code in c.ACUTE if code[0] in ("J00", "J06.9", "J20.9", "A09", "H10.9", "L30.9")),
    ("H66.9", "상세불명의 중이염", "Otitis media, unspecified"),
    ("S93.4", "발목의 염좌 및 긴장", "Sprain and strain of ankle"),
]
CHILD_DRUGS = ["acetaminophen", "ibuprofen", "amoxicillin", "cetirizine"]


def is_child(person_: Person, day: dt.date) -> bool:
    return _age(person_.birth_date, day) < CHILD_AGE


def _child_visit(visit, person_, rng, until) -> None:
    """A paediatric outpatient or emergency visit (the child mode of hospital visits)."""
    age = _age(person_.birth_date, visit.day)
    emergency = rng.random() < 0.07
    _encounter(visit, "EMER" if emergency else "AMB", "소아청소년과", 0)
    _condition(
        visit,
        rng.choice(CHILD_ACUTE),
        category="encounter-diagnosis",
        active=visit.start + dt.timedelta(days=30) > until,
        onset=visit.day,
    )
    _vital(visit, "temperature", 37.0 + abs(rng.gauss(0, 0.9)))
    _vital(visit, "heart_rate", 130 - 4 * age + rng.gauss(0, 8))
    # Weight for age (kg): about 3.3 at birth, 10 at one, then +2 a year.
    weight = 3.3 + 6.7 * age if age < 1 else 10 + 2.1 * (age - 1)
    _vital(visit, "weight", weight * (1 + rng.gauss(0, 0.05)))
    for drug in rng.sample(CHILD_DRUGS, rng.randint(1, 2)):
        _medication(visit, drug, rng.choice([3, 5, 7]), until)
    if emergency and rng.random() < 0.3:
        _imaging(visit, rng, c.IMAGING[:1])


def _acute(visit, person_, rng, until) -> None:
    code = rng.choice(c.ACUTE)
    _condition(
        visit,
        code,
        category="encounter-diagnosis",
        active=visit.start + dt.timedelta(days=30) > until,
        onset=visit.day,
    )
    _vital(visit, "temperature", 36.6 + abs(rng.gauss(0, 0.6)))
    _vital(visit, "heart_rate", 76 + rng.gauss(0, 8))
    _blood_pressure(visit, person_, rng)
    for drug in rng.sample(c.ACUTE_DRUGS, rng.randint(1, 2)):
        _medication(visit, drug, rng.choice([3, 5, 7]), until)


def _hospital_visit(visit, person_, rng, until, *, rich: bool) -> None:
    if is_child(person_, visit.day):
        _child_visit(visit, person_, rng, until)
        return
    roll = rng.random()
    chronic_now = [k for k, (onset, _) in person_.chronic.items() if visit.day >= onset]
    if roll < 0.05 and rich:
        _encounter(visit, "IMP", rng.choice(c.DEPARTMENTS), rng.randint(2, 6))
        procedure = rng.choice(c.PROCEDURES)
        _condition(
            visit,
            rng.choice(c.ACUTE),
            category="encounter-diagnosis",
            active=visit.start + dt.timedelta(days=30) > until,
            onset=visit.day,
        )
        _procedure(visit, procedure)
        for lab in c.LAB_PANELS["cbc"] + c.LAB_PANELS["liver"] + c.LAB_PANELS["kidney"]:
            _lab(visit, person_, lab, rng)
        if rng.random() < 0.6:
            specimen, finding = rng.choice(c.PATHOLOGY)
            code = {
                "coding": [_coding(c.LOINC, "60567-5", "Comprehensive pathology report panel")],
                "text": f"병리 검사 ({specimen})",
            }
            _report(visit, ("PAT", "Pathology (gross & histopath, not surgical)"), code, finding)
        _document(
            visit,
            ("18842-5", "Discharge summary"),
            "퇴원 요약지",
            f"{procedure[2]} 시행 후 특이 합병증 없이 회복하여 퇴원함. 외래 추적 관찰 예정.",
        )
        return
    if roll < 0.12:
        _encounter(visit, "EMER", "응급의학과", 0)
        _acute(visit, person_, rng, until)
        if rng.random() < 0.5:
            _imaging(visit, rng, c.IMAGING[:2])
        return
    _encounter(visit, "AMB", rng.choice(c.DEPARTMENTS), 0)
    if chronic_now and rng.random() < 0.7:
        _chronic_follow_up(visit, person_, rng, chronic_now, until, labs_every=2 if rich else 3)
    else:
        _acute(visit, person_, rng, until)
    if rng.random() < (0.1 if rich else 0.03):
        _imaging(visit, rng, c.IMAGING[:5])
    if rich and rng.random() < 0.05:
        _observation_ecg(visit)
    if rich and rng.random() < 0.06:
        _document(
            visit,
            ("11506-3", "Progress note"),
            "경과 기록",
            "증상 호전 중. 현재 처방 유지하고 다음 외래에서 검사 결과 확인 예정.",
        )


def _observation_ecg(visit: _Visit) -> None:
    visit.add(
        "Observation",
        c.KRCORE_PROFILE + "krcore-observation",
        {
            "status": "final",
            "category": [{"coding": [_coding(c.OBS_CATEGORY, "procedure", "Procedure")]}],
            "code": {"coding": [_coding(c.LOINC, "11524-6", "EKG study")], "text": "심전도"},
            "subject": visit.patient,
            "encounter": visit.encounter,
            "effectiveDateTime": _instant(visit.start),
            "valueString": "정상 동리듬 (Normal sinus rhythm)",
        },
    )


def _dental_visit(visit, person_, rng, until) -> None:
    _encounter(visit, "AMB", "치과", 0)
    code = rng.choice(c.DENTAL)
    _condition(
        visit,
        code,
        category="encounter-diagnosis",
        active=visit.start + dt.timedelta(days=30) > until,
        onset=visit.day,
    )
    _procedure(visit, rng.choice(c.DENTAL_PROCEDURES))
    if rng.random() < 0.25:
        _imaging(visit, rng, c.IMAGING[5:])
    if rng.random() < 0.5:
        _medication(visit, rng.choice(["chlorhexidine", "ibuprofen", "amoxicillin"]), 5, until)


def _public_health_visit(visit, person_, rng, plan) -> None:
    """A visit to the public health centre: vaccinations, or the national health check-up."""
    _encounter(visit, "AMB", "보건소 진료실" if plan.vaccines else "보건소 건강검진실", 0)
    if plan.vaccines:
        _condition(
            visit,
            ("Z23", "단일 세균성 질환에 대한 예방접종의 필요", "Need for immunization"),
            category="encounter-diagnosis",
            active=False,
            onset=visit.day,
        )
        for key, dose in plan.vaccines:
            _immunization(visit, key, dose)
        return
    # 일반건강검진: blood pressure, body measurements, fasting glucose, total cholesterol.
    _blood_pressure(visit, person_, rng)
    _vital(visit, "height", person_.height)
    _vital(visit, "weight", person_.weight + rng.gauss(0, 0.8))
    _vital(visit, "bmi", (person_.weight / (person_.height / 100) ** 2))
    for lab in ("glucose", "chol"):
        _lab(visit, person_, lab, rng)


# --- The public health centre's calendar -----------------------------------------------------
# Children follow the KDCA national schedule (표준예방접종일정표): (vaccine, age in days) per dose.
# Adults: influenza every autumn (free from 65, so most go), COVID-19 as Korea rolled it out by
# age, PPSV23 once at 65, zoster after 50 for some, a Td booster now and then; and the NHIS
# general check-up every two years from 20, in the years of the birth year's parity.
CHILD_SCHEDULE = {
    "bcg": [14],
    "hepb": [0, 30, 182],
    "dtap": [61, 122, 183, 487, 1645],
    "ipv": [61, 122, 183, 1645],
    "hib": [61, 122, 183, 380],
    "pcv": [61, 122, 183, 380],
    "rv": [61, 122],
    "mmr": [380, 1645],
    "var": [380],
    "hepa": [400, 580],
    "ijev": [395, 425, 790, 2200, 4400],
    "tdap": [4100],
    "hpv": [4450, 4640],
}
# The first day each programme covered a dose: rotavirus from March 2023, HPV (girls) from June
# 2016; a dose due before that was not given by the centre.
NIP_SINCE = {"rv": dt.date(2023, 3, 6), "hpv": dt.date(2016, 6, 20)}
# COVID-19 primary series start by age group in 2021 (age on 1 July 2021), second dose after
# the interval of the vaccine that group got (AstraZeneca for 60-74, mRNA otherwise).
COVID_PRIMARY = [
    (75, dt.date(2021, 4, 5), 28),
    (60, dt.date(2021, 5, 27), 77),
    (50, dt.date(2021, 7, 26), 42),
    (18, dt.date(2021, 8, 26), 42),
]
# Later COVID-19 campaigns: (start, minimum age, share of that age group who went).
COVID_CAMPAIGNS = [
    (dt.date(2022, 10, 11), 60, 0.4),
    (dt.date(2023, 10, 19), 65, 0.4),
    (dt.date(2024, 10, 11), 65, 0.4),
    (dt.date(2025, 10, 15), 65, 0.35),
]


@dataclass(frozen=True)
class _Plan:
    day: dt.date
    vaccines: tuple  # ((key, dose number), …); empty for a check-up


def _years(birth: dt.date, years: float) -> dt.date:
    return birth + dt.timedelta(days=round(years * 365.25))


def public_health_calendar(person_: Person, key: str, until: dt.date) -> list[_Plan]:
    """Every visit the person makes to the centre up to `until`, by date (pure, seeded by the
    person: the history is a fact about them, and a later `until` only adds to the end)."""
    rng = _rng("public-health", key)
    birth = person_.birth_date
    given: dict[dt.date, list] = {}

    def give(day: dt.date, vaccine: str) -> None:
        if birth <= day <= until:
            given.setdefault(day, []).append(vaccine)

    # Doses due at the same age are given at the same visit, a few days after they fall due.
    delay = {age: rng.randint(0, 10) for ages in CHILD_SCHEDULE.values() for age in ages}
    for vaccine, ages in CHILD_SCHEDULE.items():
        if vaccine == "hpv" and person_.sex != "female":
            continue
        if rng.random() < 0.97:  # national coverage of the childhood series
            for age in ages:
                day = birth + dt.timedelta(days=age + delay[age])
                if day >= NIP_SINCE.get(vaccine, birth):
                    give(day, vaccine)
    # Influenza, season by season: children from 6 months to 13 years and adults from 65 are
    # vaccinated free (most go); others sometimes.
    for year in range(birth.year, until.year + 1):
        day = dt.date(year, 10, 1) + dt.timedelta(days=rng.randint(14, 70))
        age = _age(birth, day)
        share = 0.75 if 0.5 <= age < 13 else 0.85 if age >= 65 else 0.5 if age >= 50 else 0.25
        if age >= 0.5 and rng.random() < share:
            give(day, "influenza")
    age_2021 = _age(birth, dt.date(2021, 7, 1))
    for youngest, start, interval in COVID_PRIMARY:
        if age_2021 >= youngest:
            if rng.random() < 0.93:
                first = start + dt.timedelta(days=rng.randint(0, 30))
                give(first, "covid19")
                give(first + dt.timedelta(days=interval), "covid19")
                if rng.random() < (0.75 if age_2021 >= 60 else 0.6):
                    give(first + dt.timedelta(days=interval + 120 + rng.randint(0, 40)), "covid19")
            break
    for start, youngest, share in COVID_CAMPAIGNS:
        day = start + dt.timedelta(days=rng.randint(0, 45))
        if _age(birth, day) >= youngest and rng.random() < share:
            give(day, "covid19")
    if rng.random() < 0.75:
        give(_years(birth, 65) + dt.timedelta(days=rng.randint(0, 300)), "ppsv23")
    if rng.random() < 0.35:
        give(_years(birth, 50 + rng.random() * 15), "zoster")
    for decade in range(20, 90, 10):
        if rng.random() < 0.15:
            give(_years(birth, decade + rng.random() * 9), "td")

    plans = []
    doses: dict[str, int] = {}
    for day in sorted(given):
        vaccines = []
        for vaccine in sorted(set(given[day])):
            doses[vaccine] = doses.get(vaccine, 0) + 1
            # Influenza is one dose per season; every other series counts up.
            vaccines.append((vaccine, 1 if vaccine == "influenza" else doses[vaccine]))
        plans.append(_Plan(day, tuple(vaccines)))
    for year in range(birth.year + 20, until.year + 1):
        if year % 2 == birth.year % 2 and rng.random() < 0.75:
            day = dt.date(year, rng.randint(3, 11), rng.randint(1, 28))
            if day <= until and day not in given:
                plans.append(_Plan(day, ()))
    return sorted(plans, key=lambda plan: plan.day)


def _age(birth: dt.date, day: dt.date) -> float:
    return (day - birth).days / 365.25


def _public_health_visits(
    spec: PatientSpec, person_: Person, until: dt.datetime
) -> Iterator[tuple[dt.datetime, _Plan]]:
    """The centre's visits inside its window (after the patient's history start), with times."""
    for plan in public_health_calendar(person_, spec.person_key, until.astimezone(KST).date()):
        rng = _rng("public-health-time", spec.person_key, plan.day)
        start = dt.datetime.combine(
            plan.day, dt.time(9 + int(rng.random() * 8), int(rng.random() * 60)), tzinfo=KST
        )
        if spec.history_start < start <= until:
            yield start, plan


# --- Patient and organisation --------------------------------------------------------------


def patient_resource(
    inst: InstitutionSpec, spec: PatientSpec, person_: Person, updated: dt.datetime
) -> dict:
    district, road, number, postal = person_.address
    phone = person_.phone
    identifiers = [
        {
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                ]
            },
            "system": f"urn:phr-mock:{inst.slug}:mrn",
            "value": spec.patient_id,
        }
    ]
    if spec.person_key and len(spec.person_key) == 64:
        identifiers.append({"system": c.PHR_IDENTITY_SYSTEM, "value": spec.person_key})
    return {
        "resourceType": "Patient",
        "id": spec.patient_id,
        "meta": _meta(c.KRCORE_PROFILE + "krcore-patient", updated),
        "identifier": identifiers,
        "name": [
            {
                "text": person_.full_name,
                "family": person_.full_name[0],
                "given": [person_.full_name[1:]],
            }
        ],
        "telecom": [
            {"system": "phone", "value": f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", "use": "mobile"}
        ],
        "gender": person_.sex,
        "birthDate": person_.birth_date.isoformat(),
        "address": [
            {
                "extension": [
                    {
                        "url": c.KRCORE_ROAD_ADDRESS,
                        "extension": [
                            {"url": "district", "valueString": district},
                            {"url": "roadName", "valueString": road},
                            {"url": "detailedAddress", "valueString": number},
                        ],
                    }
                ],
                "text": f"{district} {road} {number}",
                "postalCode": postal,
            }
        ],
        "managingOrganization": {
            "reference": f"Organization/org-{inst.hira_number}",
            "display": inst.name,
        },
    }


def organization_resource(inst: InstitutionSpec, updated: dt.datetime) -> dict:
    return {
        "resourceType": "Organization",
        "id": f"org-{inst.hira_number}",
        "meta": _meta(c.KRCORE_PROFILE + "krcore-healthcare-organization", updated),
        "identifier": [{"system": c.HIRA_KRNPI, "value": inst.hira_number}],
        "type": [
            {"coding": [_coding(c.HIRA_ORG_TYPES, inst.type_code, c.ORG_TYPES[inst.type_code])]}
        ],
        "name": inst.name,
        "address": [{"text": inst.region}],
    }


def visit_times(
    inst: InstitutionSpec, spec: PatientSpec, until: dt.datetime
) -> Iterator[dt.datetime]:
    """Visit start times from the patient's history start up to `until`, in order.

    The gaps come from one seeded stream, so the first N visits are the same whatever `until`.
    """
    rng = _rng("visits", inst.slug, spec.seed)
    # The density is fixed by the patient's size and span, never by `until`: a later window
    # continues the same sequence of visits instead of drawing a new one.
    visits = max(spec.size / PER_VISIT[inst.profile], 2)
    mean_gap = max(spec.span_days, 30) / visits
    day = spec.history_start
    while True:
        day = day + dt.timedelta(days=rng.expovariate(1 / mean_gap))
        # Clinic hours, 09:00–17:00 KST, on the visit's day.
        local = day.astimezone(KST)
        start = local.replace(
            hour=9 + int(rng.random() * 8), minute=int(rng.random() * 60), second=0, microsecond=0
        )
        if start > until:
            return
        yield start


def generate(
    inst: InstitutionSpec, spec: PatientSpec, *, since: dt.datetime | None, until: dt.datetime
) -> Iterator[dict]:
    """The resources for visits in (since, until]; with since=None also Patient and Organization.

    Yields dicts in a stable order. Memory stays flat: one visit at a time.
    """
    person_ = person(spec)
    if since is None:
        yield organization_resource(inst, spec.history_start)
        yield patient_resource(inst, spec, person_, spec.history_start)
    allergy_recorded = False
    problem_list: set[str] = set()
    builders = {
        "tertiary": lambda v, r: _hospital_visit(v, person_, r, until, rich=True),
        "general": lambda v, r: _hospital_visit(v, person_, r, until, rich=True),
        "clinic": lambda v, r: _hospital_visit(v, person_, r, until, rich=False),
        "dental": lambda v, r: _dental_visit(v, person_, r, until),
    }
    if inst.profile == "public_health":
        # Its visits follow the person's age (the vaccination schedule, check-ups), not a rate.
        visits = _public_health_visits(spec, person_, until)
    else:
        visits = ((start, None) for start in visit_times(inst, spec, until))
    for number, (start, plan) in enumerate(visits, start=1):
        visit = _Visit(inst, spec, number, start, until)
        rng = _rng("visit", inst.slug, spec.seed, number)
        if plan is not None:
            _public_health_visit(visit, person_, rng, plan)
        else:
            builders[inst.profile](visit, rng)
        # Once per institution: the allergy and each chronic problem, at the first visit
        # that knows of them (computed for every visit so a later window agrees).
        if person_.allergy and inst.profile != "public_health" and not allergy_recorded:
            allergy_recorded = True
            _allergy(visit, person_.allergy)
        if inst.profile in ("tertiary", "general", "clinic"):
            for key, (onset, _) in person_.chronic.items():
                if key not in problem_list and visit.day >= onset:
                    problem_list.add(key)
                    _condition(
                        visit,
                        c.CHRONIC[key],
                        category="problem-list-item",
                        active=True,
                        onset=onset,
                    )
        if since is None or start > since:
            yield from visit.resources

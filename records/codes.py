"""Human names of the code systems records carry (KR Core 2.0.0 canonical URLs and others),
and of the status codes FHIR resources use."""

from django.utils.translation import gettext_lazy as _

from records.projection import main_concept

SYSTEM_NAMES = {
    "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8": "KCD-8",
    "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-7": "KCD-7",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure": "HIRA EDI",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication": "HIRA EDI (drug)",
    "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode": "KD",
    "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types": "KDCA vaccine",
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://www.whocc.no/atc": "ATC",
    "http://unitsofmeasure.org": "UCUM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}


def system_name(url: str) -> str:
    return SYSTEM_NAMES.get(url or "", url or "")


def codings(resource: dict) -> list[dict]:
    """Every coding in the resource's main concept, with the system's name, for display."""
    return [
        {
            "system": system_name(c.get("system", "")),
            "code": c.get("code", ""),
            "display": c.get("display", ""),
        }
        for c in main_concept(resource).get("coding", [])
        if isinstance(c, dict)
    ]


STATUS_LABELS = {
    "active": _("active"),
    "completed": _("completed"),
    "final": _("final"),
    "amended": _("amended"),
    "corrected": _("corrected"),
    "preliminary": _("preliminary"),
    "finished": _("finished"),
    "resolved": _("resolved"),
    "inactive": _("inactive"),
    "remission": _("in remission"),
    "stopped": _("stopped"),
    "cancelled": _("cancelled"),
    "entered-in-error": _("entered in error"),
    "current": _("current"),
    "not-done": _("not done"),
    "in-progress": _("in progress"),
    "on-hold": _("on hold"),
    "unknown": _("unknown"),
    "draft": _("draft"),
    "intended": _("intended"),
    "declined": _("declined"),
    "not-taken": _("not taken"),
    "recurrence": _("recurrence"),
    "relapse": _("relapse"),
    "registered": _("registered"),
    "revoked": _("revoked"),
}


def status_label(code: str) -> str:
    return STATUS_LABELS.get(code, code)


# Vital signs by LOINC code, named in the reader's language: hospitals send the names in their
# own (a Korean hospital's 체온 would stay Korean on an English page).
VITAL_NAMES = {
    "8302-2": _("Height"),
    "29463-7": _("Weight"),
    "39156-5": _("BMI"),
    "8310-5": _("Body temperature"),
    "8867-4": _("Heart rate"),
    "9279-1": _("Respiratory rate"),
    "59408-5": _("Oxygen saturation"),
    "2708-6": _("Oxygen saturation"),
    "85354-9": _("Blood pressure"),
    "55284-4": _("Blood pressure"),
    "8480-6": _("Systolic blood pressure"),
    "8462-4": _("Diastolic blood pressure"),
}


def record_name(record) -> str:
    """What a record is called on a page: a vital sign's name in the reader's language, else the
    name the source gave it (or its resource type)."""
    if record.category == "vital" and record.code_value in VITAL_NAMES:
        return str(VITAL_NAMES[record.code_value])
    return record.display or record.resource_type

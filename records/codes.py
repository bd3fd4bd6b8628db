"""Human names of the code systems records carry (KR Core 2.0.0 canonical URLs and others),
and of the status codes FHIR resources use."""

from django.utils.translation import gettext_lazy as _

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
    concept = (
        resource.get("code")
        or resource.get("medicationCodeableConcept")
        or resource.get("vaccineCode")
        or resource.get("type")
        or {}
    )
    if isinstance(concept, list):
        concept = concept[0] if concept else {}
    if not isinstance(concept, dict):
        return []
    return [
        {
            "system": system_name(c.get("system", "")),
            "code": c.get("code", ""),
            "display": c.get("display", ""),
        }
        for c in concept.get("coding", [])
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
}


def status_label(code: str) -> str:
    return STATUS_LABELS.get(code, code)

"""FHIR exports: the records as a Bundle (the original resources, unchanged) and a patient
summary document (Composition + entries) in the spirit of the International Patient Summary."""

import json
import uuid

from django.http import StreamingHttpResponse
from django.utils import timezone

from audit import domain as audit
from audit.models import Action
from records.models import Category

CHUNK = 500


def bundle_stream(records):
    """A FHIR `collection` Bundle of the records' raw resources, streamed (flat memory)."""
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": timezone.now().isoformat(timespec="seconds"),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ',"entry":['
    first = True
    for record in records.only("code", "resource").order_by("id").iterator(chunk_size=CHUNK):
        entry = {"fullUrl": f"urn:uuid:{record.code}", "resource": record.resource}
        yield ("" if first else ",") + json.dumps(entry, ensure_ascii=False)
        first = False
    yield "]}"


SECTIONS = [
    # (LOINC section code, title, category)
    ("11450-4", "Problem list", Category.CONDITION),
    ("10160-0", "History of Medication use", Category.MEDICATION),
    ("48765-2", "Allergies and adverse reactions", Category.ALLERGY),
    ("11369-6", "History of Immunization", Category.IMMUNIZATION),
    ("30954-2", "Relevant diagnostic tests/laboratory data", Category.LAB),
]


def summary_document(*, patient, profile, sections: dict) -> dict:
    """A FHIR document Bundle: a Composition listing each section's records, then the records."""
    patient_entry = {
        "fullUrl": f"urn:uuid:{patient.code}",
        "resource": {
            "resourceType": "Patient",
            "id": str(patient.code),
            "name": [{"text": profile.full_name}] if profile.full_name else [],
            **({"gender": profile.sex} if profile.sex else {}),
            **({"birthDate": profile.birth_date.isoformat()} if profile.birth_date else {}),
        },
    }
    entries, composition_sections = [], []
    for code, title, category in SECTIONS:
        records = sections.get(category, [])
        section = {
            "title": title,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        }
        if records:
            section["entry"] = [{"reference": f"urn:uuid:{r.code}"} for r in records]
        else:  # cmp-2: a section without entries says why
            section["emptyReason"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                        "code": "unavailable",
                    }
                ]
            }
        composition_sections.append(section)
        entries += [{"fullUrl": f"urn:uuid:{r.code}", "resource": r.resource} for r in records]
    now = timezone.now()
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "60591-5",
                    "display": "Patient summary Document",
                }
            ]
        },
        "subject": {"reference": f"urn:uuid:{patient.code}"},
        "date": now.isoformat(timespec="seconds"),
        "author": [{"display": "PHR (compiled from the patient's linked institutions)"}],
        "title": "Patient summary",
        "section": composition_sections,
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": now.isoformat(timespec="seconds"),
        "entry": [
            {"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition},
            patient_entry,
            *entries,
        ],
    }


def bundle_response(records, *, prefix: str) -> StreamingHttpResponse:
    """A download of `records` as a FHIR Bundle (streamed), named `<prefix>-<date>.json`."""
    response = StreamingHttpResponse(bundle_stream(records), content_type="application/fhir+json")
    response["Content-Disposition"] = f'attachment; filename="{filename(prefix)}"'
    return response


def export_for_patient(request, records) -> StreamingHttpResponse:
    """The patient's own export: audited, then streamed."""
    audit.record(
        action=Action.RECORDS_EXPORTED,
        request=request,
        patient=request.user,
        extra={"kind": "bundle"},
    )
    return bundle_response(records, prefix="phr-records")


def filename(prefix: str) -> str:
    return f"{prefix}-{timezone.localdate():%Y%m%d}.json"

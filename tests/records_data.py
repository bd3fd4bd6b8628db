"""Putting real-looking records in the database without HTTP: through the product's own import
pipeline (validation, projection, upsert), from fixture files or the mock hospitals' generator."""

import datetime as dt
import json

from institutions import domain, sync
from mockhospital.generator import KST, InstitutionSpec, PatientSpec, generate


def import_resources(patient, label: str, resources: list[dict]):
    """An upload source named `label` holding `resources`, imported by the real run code."""
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in resources).encode()
    # Fragments of records (or another person's fixtures) for the cast's patient: confirmed as
    # the patient would on the import page.
    source = domain.import_file(
        patient=patient, filename=label, data=data, decision="import", identity_confirmed=True
    )
    run = source.runs.get()
    assert sync.execute_run(run_id=run.pk) == "succeeded"
    return source


def generated(
    patient,
    *,
    slug="hanbit",
    name="서울한빛대학교병원",
    profile="tertiary",
    size=300,
    type_code="01",
    seed=1,
) -> list[dict]:
    institution = InstitutionSpec(slug, name, f"1110{seed:04d}", type_code, profile, "서울")
    spec = PatientSpec(
        f"P{seed:07d}",
        patient.profile.verified_identifier,
        seed=seed,
        size=size,
        history_start=dt.datetime(2021, 1, 1, tzinfo=KST),
        span_days=5 * 365,
        full_name=patient.profile.full_name,
        birth_date=patient.profile.birth_date,
        sex=patient.profile.sex,
        phone=patient.profile.phone,
    )
    return list(generate(institution, spec, since=None, until=dt.datetime(2026, 1, 1, tzinfo=KST)))


def stored(source) -> dict:
    """What PHR holds for a source: {(type, id): resource}, comparable with the mock hospital's
    ground truth."""
    from records.models import Record

    return {
        (r.resource_type, r.resource_id): r.resource for r in Record.objects.filter(source=source)
    }

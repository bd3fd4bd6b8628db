"""records.ingest on a real file: what a page of FHIR resources becomes, without a sync run."""

import collections
import copy
import dataclasses
from pathlib import Path

import pytest

from records.bulk import UPDATE_FIELDS
from records.fhirfile import parse_fhir_entries, upload_owners
from records.ingest import Ingested, Refusal, ingest_page
from records.models import Record
from records.projection import PROJECTED_FIELDS, Projection, content_hash, project
from records.validation import OTHER_PATIENT
from tests.factories import SourceFactory

pytestmark = pytest.mark.django_db

# Synthea's Clemente Kreiger: 70 resources (48 Observations, 3 blood pressures among them).
CLEMENTE = (
    Path(__file__).parent
    / "fixtures/fhir/synthea/Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json"
)
BLOOD_PRESSURE = "d1b60d57-c1a2-4b70-b18a-34169ada507e"


def _file():
    entries = parse_fhir_entries(CLEMENTE.read_bytes())
    return [resource for resource, _url in entries], upload_owners(entries)


def _ingest(source, resources, owners, **extra) -> Ingested:
    return ingest_page(
        source_id=source.pk,
        patient_id=source.patient_id,
        resources=resources,
        owners=owners,
        **extra,
    )


def _stored(source) -> dict:
    return {
        (r.resource_type, r.resource_id): r
        for r in Record.objects.filter(source=source).order_by("pk")
    }


def test_the_projection_is_the_columns_written_on_insert_and_update():
    columns = {f.name for f in Record._meta.concrete_fields}
    assert set(PROJECTED_FIELDS) == {f.name for f in dataclasses.fields(Projection)}
    assert set(PROJECTED_FIELDS) <= columns
    assert set(UPDATE_FIELDS) == {*PROJECTED_FIELDS, "content_hash", "resource", "updated"}


def test_ingest_page_stores_a_synthea_file_and_a_rerun_changes_nothing():
    source = SourceFactory(upload=True)
    resources, owners = _file()

    first = _ingest(source, resources, owners, dedupe_with=[])

    assert (first.fetched, first.created, first.updated, first.unchanged, first.invalid) == (
        70,
        70,
        0,
        0,
        0,
    )
    assert first.refusals == []
    assert collections.Counter(t for t, _id in _stored(source)) == {
        "Observation": 48,
        "Immunization": 4,
        "DiagnosticReport": 4,
        "Encounter": 3,
        "Claim": 3,
        "ExplanationOfBenefit": 3,
        "Patient": 1,
        "Organization": 1,
        "Practitioner": 1,
        "Condition": 1,
        "Procedure": 1,
    }
    for resource in resources:
        record = _stored(source)[(resource["resourceType"], resource["id"])]
        assert record.patient_id == source.patient_id
        assert record.content_hash == content_hash(resource)
        assert {f: getattr(record, f) for f in PROJECTED_FIELDS} == project(resource).columns()
    before = {key: (r.updated, r.content_hash) for key, r in _stored(source).items()}

    again = _ingest(source, resources, owners, dedupe_with=[])

    assert (again.fetched, again.created, again.updated, again.unchanged, again.invalid) == (
        70,
        0,
        0,
        70,
        0,
    )
    assert {key: (r.updated, r.content_hash) for key, r in _stored(source).items()} == before


def test_ingest_page_writes_every_projected_column_of_a_changed_resource():
    source = SourceFactory(upload=True)
    resources, owners = _file()
    _ingest(source, resources, owners)
    key = ("Observation", BLOOD_PRESSURE)
    stored = _stored(source)[key]
    before = {f: getattr(stored, f) for f in PROJECTED_FIELDS}
    # The same blood pressure, corrected in every way the projection reads it.
    changed = copy.deepcopy(next(r for r in resources if r["id"] == BLOOD_PRESSURE))
    changed["status"] = "amended"
    changed["effectiveDateTime"] = "2012-09-11T08:00:00+09:00"
    changed["meta"] = {"lastUpdated": "2012-09-12T08:00:00+09:00"}
    changed["category"] = [{"coding": [{"code": "laboratory"}]}]
    changed["code"] = {
        "coding": [
            {"system": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure", "code": "E6541"},
            {"system": "http://snomed.info/sct", "code": "75367002"},
        ],
        "text": "혈압 (정정)",
    }
    for component in changed["component"]:
        component["valueQuantity"]["value"] += 2
        component["valueQuantity"]["unit"] = component["valueQuantity"]["code"] = "mmHg"

    result = _ingest(source, [changed], owners)

    assert (result.fetched, result.created, result.updated, result.unchanged) == (1, 0, 1, 0)
    record = _stored(source)[key]
    assert record.pk == stored.pk
    after = {f: getattr(record, f) for f in PROJECTED_FIELDS}
    assert after == project(changed).columns()
    # Every column but a prescription's facts, which an observation has none of (a changed
    # prescription's: test_medication_facts).
    changed_columns = {f for f in PROJECTED_FIELDS if after[f] != before[f]}
    assert changed_columns == set(PROJECTED_FIELDS) - {"medication"}
    assert record.content_hash == content_hash(changed)
    assert record.resource == changed
    assert record.updated > stored.updated
    assert Record.objects.filter(source=source).count() == 70


def test_ingest_page_refuses_another_patients_resource_and_deletes_its_stored_row():
    source = SourceFactory(upload=True)
    resources, owners = _file()
    _ingest(source, resources, owners)
    weight = copy.deepcopy(next(r for r in resources if r["id"] == BLOOD_PRESSURE))
    weight["subject"] = {"reference": "Patient/someone-else"}

    result = _ingest(source, [weight], owners)

    assert result.invalid == 1
    assert result.refusals == [
        Refusal(
            resource_type="Observation",
            resource_id=BLOOD_PRESSURE,
            code=OTHER_PATIENT,
            params={"element": "Observation.subject"},
            display="Blood Pressure",
            effective=project(weight).effective,
        )
    ]
    assert ("Observation", BLOOD_PRESSURE) not in _stored(source)


def test_ingest_page_does_not_store_twice_what_another_upload_holds():
    first = SourceFactory(upload=True)
    second = SourceFactory(upload=True, patient=first.patient)
    resources, owners = _file()
    _ingest(first, resources, owners)
    changed = copy.deepcopy(resources[-1])
    changed["meta"] = {"lastUpdated": "2020-01-01T00:00:00Z"}

    result = _ingest(second, [*resources[:-1], changed], owners, dedupe_with=[first.pk])

    assert (result.created, result.unchanged) == (1, 69)
    assert list(_stored(second)) == [(changed["resourceType"], changed["id"])]


def test_each_stored_record_has_a_code_of_its_own_made_as_uuid4_makes_them():
    """On PostgreSQL the database makes the codes of what ingest inserts (records.0015); a
    Record made by Django still gets the model's."""
    import uuid

    from records.bulk import insert_records

    source = SourceFactory(upload=True)
    resources, owners = _file()

    _ingest(source, resources, owners)

    codes = list(Record.objects.filter(source=source).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 70
    assert all(isinstance(code, uuid.UUID) and code.version == 4 for code in codes)
    made = Record(
        patient_id=source.patient_id,
        source_id=source.pk,
        resource_type="Basic",
        resource_id="b1",
        category="other",
        content_hash="0" * 64,
        resource={"resourceType": "Basic", "id": "b1"},
    )
    insert_records([made])
    assert Record.objects.get(resource_id="b1").code == made.code

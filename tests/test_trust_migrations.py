"""Data left behind by the defects the Trust fixes closed is cleaned up by migrations."""

import importlib

from django.apps import apps

from institutions.models import Source
from records.models import Record


def _record(source, resource_type, resource_id):
    resource = {"resourceType": resource_type, "id": resource_id}
    return Record.objects.create(
        patient=source.patient,
        source=source,
        resource_type=resource_type,
        resource_id=resource_id,
        category="patient" if resource_type == "Patient" else "other",
        content_hash=f"{resource_type}-{resource_id}",
        resource=resource,
    )


def test_migration_removes_other_patients_a_lenient_hospital_sent(patient, institution):
    migration = importlib.import_module("institutions.migrations.0005_purge_other_patients")
    source = Source.objects.create(
        patient=patient, kind="institution", institution=institution, patient_ref="p-1"
    )
    own = _record(source, "Patient", "p-1")
    strangers = [_record(source, "Patient", f"p-{n}") for n in (2, 3, 4)]
    observation = _record(source, "Observation", "o-1")
    upload = Source.objects.create(patient=patient, kind="upload", label="file.json")
    uploaded = _record(upload, "Patient", "someone-in-a-file")  # judged by the import review

    migration.purge_other_patients(apps, None)

    assert set(Record.objects.values_list("pk", flat=True)) == {
        own.pk,
        observation.pk,
        uploaded.pk,
    }
    assert not Record.objects.filter(pk__in=[r.pk for r in strangers]).exists()

"""Records of other patients that the per-type sync stored before it read the Patient by id.

Until the fix, a hospital without `$everything` was asked `Patient?patient=<id>`; a lenient
server ignores the unknown parameter and answered with every patient it knows, and each of them
was stored under this patient's source. The sync now refuses such resources and removes one it
had stored when the hospital sends it again — but a source that is never synced again would keep
them, so this migration removes them now: on a hospital source, a Patient row whose id is not the
patient's id at that institution (`Source.patient_ref`). Only Patient rows were stored that way
(every other type was asked for by a parameter the server knew).

The logic is written out here rather than imported, so later changes to the app's code cannot
change what this migration did.
"""

from django.db import migrations


def purge_other_patients(apps, schema_editor):
    Record = apps.get_model("records", "Record")
    Source = apps.get_model("institutions", "Source")
    for source in Source.objects.filter(kind="institution").exclude(patient_ref="").only(
        "pk", "patient_ref"
    ):
        Record.objects.filter(source=source, resource_type="Patient").exclude(
            resource_id=source.patient_ref
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("institutions", "0004_sync_run_error_message"),
        ("records", "0004_uploads_deduplicated_and_plans_named"),
    ]

    operations = [migrations.RunPython(purge_other_patients, migrations.RunPython.noop)]

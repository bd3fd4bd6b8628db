"""The facts of the prescriptions whose end comes from a period (a dosage's bounds or the
resource's effectivePeriod, not a supply) projected again: their `end` is now the day after
the period's last day, as a supply's is (records.prescriptions.bounds_end). Before, a course
bounded to end today read as over today. In batches, as 0008."""

from django.db import migrations

BATCH = 2000


def project_again(apps, schema_editor):
    from records.prescriptions import THERAPY_TYPES, facts

    Record = apps.get_model("records", "Record")
    # A supply's end was right: only the facts without one (days null) can change.
    rows = Record.objects.filter(resource_type__in=THERAPY_TYPES, medication__days=None)
    last = 0
    while True:
        batch = rows.filter(pk__gt=last).order_by("pk").only("pk", "effective", "resource")
        batch = list(batch[:BATCH])
        if not batch:
            return
        for record in batch:
            record.medication = facts(record.resource, record.effective)
        Record.objects.bulk_update(batch, ["medication"], batch_size=500)
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("records", "0012_code_window_index_undated_last")]

    operations = [migrations.RunPython(project_again, migrations.RunPython.noop, elidable=True)]

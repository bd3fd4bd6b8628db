"""The facts of every prescription, dispensing and statement projected again: a course starts
when its dosage's bounds or its period say (a prescription written today for next month starts
next month; a statement asserted today of last year's course started last year), before the
day it was written or asserted (records.prescriptions.start_of); and `order` says whether it
is a course to take at all (a request not to take it, a proposal: order_of), which the facts
did not hold. In batches, as 0008 and 0013 (the loop is this migration's own copy: a migration
does not import another's code, which a squash may remove)."""

from django.db import migrations

BATCH = 2000


def project_again(apps, schema_editor):
    from records.prescriptions import THERAPY_TYPES, facts

    Record = apps.get_model("records", "Record")
    rows = Record.objects.filter(resource_type__in=THERAPY_TYPES)
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
    dependencies = [("records", "0013_prescription_period_end_inclusive")]

    operations = [migrations.RunPython(project_again, migrations.RunPython.noop, elidable=True)]

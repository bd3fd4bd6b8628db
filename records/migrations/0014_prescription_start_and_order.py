"""The facts of every prescription, dispensing and statement projected again
(records.prescriptions): a prescription starts on the later of the day it was written and its
dosage's bounds' start (written today for next month: next month), a statement when it is
taken rather than when it was asserted; a course ends when its dosage's bounds end, if that
comes before its supply runs out; and `order` says whether it is a course to take at all (a
request not to take it, a proposal: order_of), which the facts did not hold. In batches, as
0008 and 0013 (the loop is this migration's own copy: a migration does not import another's
code, which a squash may remove)."""

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

from django.db import migrations, models

# Stored prescriptions, dispensings and statements get their `medication` column
# (records.prescriptions.facts), in batches so that a large database is not read at once.
BATCH = 2000


def project_facts(apps, schema_editor):
    from records.prescriptions import THERAPY_TYPES, facts

    Record = apps.get_model("records", "Record")
    rows = Record.objects.filter(resource_type__in=THERAPY_TYPES, medication__isnull=True)
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
    dependencies = [
        ("records", "0007_patient_source_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="record",
            name="medication",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(project_facts, migrations.RunPython.noop, elidable=True),
    ]

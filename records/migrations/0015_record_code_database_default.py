"""On PostgreSQL the database gives a new record its `code` (gen_random_uuid(), a version 4
UUID as uuid.uuid4 makes): ingest's COPY leaves the column out (records.bulk.insert_rows),
which spared a uuid4() and its text for each row (about 2.5 µs of about 150 in B1's profile:
the sync's Python is its bottleneck). Django still makes one for every Record it creates
itself (the model's default); SQLite keeps doing so for every row."""

from django.db import migrations

SET = "ALTER TABLE records_record ALTER COLUMN code SET DEFAULT gen_random_uuid()"
DROP = "ALTER TABLE records_record ALTER COLUMN code DROP DEFAULT"


def _on_postgresql(statement):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0014_prescription_start_and_order")]

    operations = [migrations.RunPython(_on_postgresql(SET), _on_postgresql(DROP))]

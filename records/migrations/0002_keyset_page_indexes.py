"""Indexes in the keyset pages' exact order, on PostgreSQL.

The timeline, category pages, records API and share views read
WHERE patient_id = %s [AND category = %s] ORDER BY effective DESC NULLS LAST, id DESC LIMIT n.
With these indexes a page is an index range scan whatever the number of records (measured in
docs/performance.md). SQLite (the embedded development default) cannot put NULLS LAST in an
index, so this migration does nothing there.
"""

from django.db import migrations

INDEXES = {
    "record_patient_cat_page_idx": '("patient_id", "category", "effective" DESC NULLS LAST, "id" DESC)',
    "record_patient_page_idx": '("patient_id", "effective" DESC NULLS LAST, "id" DESC)',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "records_record" {columns}')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]

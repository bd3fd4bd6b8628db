"""Indexes in the keyset pages' exact order, on PostgreSQL.

The timeline, category pages, records API and share views read
WHERE patient_id = %s [AND category = %s] ORDER BY effective DESC NULLS LAST, id DESC LIMIT n.
With these indexes a page is an index range scan whatever the number of records (measured in
docs/performance.md). SQLite (the embedded development default) cannot put NULLS LAST in an
index, so this migration does nothing there.
"""

from django.db import migrations

CREATE = [
    'CREATE INDEX IF NOT EXISTS "record_patient_cat_page_idx" ON "records_record" '
    '("patient_id", "category", "effective" DESC NULLS LAST, "id" DESC)',
    'CREATE INDEX IF NOT EXISTS "record_patient_page_idx" ON "records_record" '
    '("patient_id", "effective" DESC NULLS LAST, "id" DESC)',
]
DROP = [
    'DROP INDEX IF EXISTS "record_patient_cat_page_idx"',
    'DROP INDEX IF EXISTS "record_patient_page_idx"',
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]

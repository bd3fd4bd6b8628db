"""An index in the order of the windows that pick each code's latest results, on PostgreSQL.

queries.latest_per_code (the dashboard's latest vital signs, the summaries' problems and
allergies), results_overview (the labs page, the share view's labs: each test's latest 12) and
series_keys (the codes a lab series is filed under) read
WHERE patient_id = %s AND category = %s … PARTITION BY code_value ORDER BY effective DESC.
Without this index each read every row of the category from the table (3,500 heap pages for
6,300 vital signs) and sorted them: 12–24 ms a query at 20,000 records; with it, an index-only
scan already in the window's order: 1.5–2.5 ms (docs/performance.md). The included columns are
what those queries read besides the key (the status: active problems). SQLite (the embedded
development default) has no covering indexes, and its databases are small: this migration does
nothing there.
"""

from django.db import migrations

CREATE = [
    'CREATE INDEX IF NOT EXISTS "record_patient_cat_code_idx" ON "records_record" '
    '("patient_id", "category", "code_value", "effective" DESC) '
    'INCLUDE ("id", "code_alt", "value_num", "status")',
]
DROP = ['DROP INDEX IF EXISTS "record_patient_cat_code_idx"']


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0008_record_medication_facts")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]

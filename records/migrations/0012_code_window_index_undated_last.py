"""The index of records.0009 in the order its windows now read (queries.latest_per_code): each
code's newest first with undated records last (effective DESC NULLS LAST), as every database
now orders them. 0009's order (DESC, PostgreSQL's default: NULLS FIRST) took a reading whose
date a column cannot hold (year 1, 9999) for a vital sign's latest; with the windows ordered
NULLS LAST and the index still NULLS FIRST, PostgreSQL would sort every row of the category
again. PostgreSQL only, as 0009 (SQLite orders NULLs last in a descending order anyway).
"""

from django.db import migrations

def _create(order: str) -> list[str]:
    """The index again, its date in `order` ("DESC NULLS LAST", or 0009's "DESC")."""
    return [
        'DROP INDEX IF EXISTS "record_patient_cat_code_idx"',
        'CREATE INDEX "record_patient_cat_code_idx" ON "records_record" '
        f'("patient_id", "category", "code_value", "effective" {order}) '
        'INCLUDE ("id", "code_alt", "value_num", "status")',
    ]


def _on_postgresql(statements):
    # As in 0009: written out again here (a migration must not import another).
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0011_medication_end_index")]

    operations = [
        migrations.RunPython(
            _on_postgresql(_create("DESC NULLS LAST")), _on_postgresql(_create("DESC"))
        )
    ]

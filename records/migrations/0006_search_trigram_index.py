"""A trigram index for search, on PostgreSQL.

Search reads WHERE patient_id = %s AND UPPER(search_text) LIKE UPPER('%word%'): without an
index that is every row of the table's patient (100 ms at 20,000 records, B3), with this one a
bitmap of the rows holding the word's trigrams (11 ms). pg_trgm (Korean included: the trigrams
of a UTF-8 database) and btree_gin (the patient's id in the same index, so a common word of
other patients costs nothing) are trusted extensions: a database owner may create them. Where
they cannot be created, search works as before, without the index. SQLite (the embedded
development default) has neither: nothing is done there.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    'CREATE INDEX IF NOT EXISTS "record_search_trgm_idx" ON "records_record" '
    'USING gin ("patient_id", UPPER("search_text") gin_trgm_ops)',
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            for statement in CREATE:
                schema_editor.execute(statement)
    except DatabaseError as exc:  # no right to create extensions: search stays unindexed
        logger.warning("search trigram index not created: %s", exc)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX IF EXISTS "record_search_trgm_idx"')


class Migration(migrations.Migration):
    dependencies = [("records", "0005_data_version")]

    operations = [migrations.RunPython(create, drop)]

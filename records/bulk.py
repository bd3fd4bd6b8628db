"""Inserting many records fast.

On PostgreSQL new records go in with COPY (the fastest way in; measured in docs/performance.md
against Django's bulk_create, whose client-side quoting of large JSON arrays costs more than
the insert itself). Elsewhere (the embedded SQLite default) bulk_create does the same job.
Written here because no maintained package does COPY from Django model instances with their
field conversions (auto_now, JSON, UUID defaults); psycopg's copy API does the work.
"""

from django.db import connection
from django.utils import timezone

from records.models import Record
from records.projection import PROJECTED_FIELDS

# What an update of a changed resource writes: every projected column, the resource itself and
# its digest. `updated` is set by hand: bulk_update does not apply auto_now.
UPDATE_FIELDS = (*PROJECTED_FIELDS, "content_hash", "resource", "updated")


def insert_records(records: list[Record]) -> None:
    """Insert unsaved Record instances (their ids are not set afterwards).

    Side effect: the rows, within the caller's transaction.
    """
    if not records:
        return
    if connection.vendor != "postgresql":
        Record.objects.bulk_create(records, batch_size=1000)
        return
    fields = [f for f in Record._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(Record._meta.db_table)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(
                [f.get_db_prep_save(f.pre_save(record, True), connection) for f in fields]
            )


def update_records(records: list[Record]) -> None:
    """Write a changed resource's new content and every projected column over its stored row
    (each record has the pk of its row). Side effect: the rows, in the caller's transaction."""
    if not records:
        return
    now = timezone.now()
    for record in records:
        record.updated = now
    Record.objects.bulk_update(records, UPDATE_FIELDS, batch_size=500)

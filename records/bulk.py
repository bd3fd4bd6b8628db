"""Inserting many records fast.

On PostgreSQL new records go in with COPY (the fastest way in; measured in docs/performance.md
against Django's bulk_create, whose client-side quoting of large JSON arrays costs more than
the insert itself). Elsewhere (the embedded SQLite default) bulk_create does the same job.
Written here because no maintained package does COPY from Django model instances with their
field conversions (auto_now, JSON, UUID defaults); psycopg's copy API does the work.
"""

from django.db import connection, models
from django.utils import timezone

from records import fhirjson
from records.models import Record
from records.projection import PROJECTED_FIELDS

# What an update of a changed resource writes: every projected column, the resource itself and
# its digest. `updated` is set by hand: bulk_update does not apply auto_now.
UPDATE_FIELDS = (*PROJECTED_FIELDS, "content_hash", "resource", "updated")


def insert_records(records: list[Record]) -> None:
    """Insert unsaved Record instances (their ids are not set afterwards).

    Side effect: the rows, within the caller's transaction.
    """
    insert_rows([record.__dict__ for record in records])


def insert_rows(rows: list[dict]) -> None:
    """Insert new records given as {field attname: value} (patient_id, source_id, the
    resource, its digest and projected columns; `code`, `created` and `updated` are filled
    as the model would, `code` by PostgreSQL itself when no row has one): ingest's way,
    which spares a Record instance per row (a fifth of ingest's time). Side effect: the
    rows, within the caller's transaction."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        fields = {f.attname for f in Record._meta.concrete_fields}
        Record.objects.bulk_create(
            [Record(**{k: v for k, v in row.items() if k in fields}) for row in rows],
            batch_size=1000,
        )
        return
    fields = [f for f in Record._meta.concrete_fields if not f.primary_key]
    if not any(row.get("code") for row in rows):
        # The database makes each row's code (records.0015: gen_random_uuid()).
        fields = [f for f in fields if f.attname != "code"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(Record._meta.db_table)
    row = _row_maker(fields)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(row(values))


# Columns whose stored value is the attribute itself (psycopg adapts it): Django's per-field
# get_db_prep_save, called for each of 21 columns of each row, was half of insert_records.
_AS_IS = (
    models.CharField | models.TextField | models.FloatField | models.ForeignKey | models.UUIDField
)


def _row_maker(fields):
    """A function from {attname: value} to the COPY row: the values get_db_prep_save would
    give, made without it for the column types Record has (a missing value: the field's
    default; auto_now columns: one timestamp for the batch; the resource: its JSON text, as
    the field's encoder writes it)."""
    now = timezone.now()
    makers = []
    for field in fields:
        attname = field.attname
        if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
            makers.append(lambda values, now=now: now)
        elif isinstance(field, models.JSONField):
            # Ingest hands the text it hashed (`<attname>_json`): not serialised a second time.
            # A missing value of a nullable column is SQL NULL, not JSON null.
            makers.append(
                lambda values, a=attname, text=f"{attname}_json", null=field.null: (
                    values.get(text)
                    or (None if null and values.get(a) is None else fhirjson.dumps(values[a]))
                )
            )
        elif field.has_default():
            makers.append(
                lambda values, a=attname, f=field: (
                    values[a] if values.get(a) is not None else f.get_default()
                )
            )
        elif isinstance(field, _AS_IS | models.DateTimeField):  # datetimes: aware already
            makers.append(lambda values, a=attname: values.get(a))
        else:  # a column type added later: Django's conversion
            makers.append(
                lambda values, a=attname, f=field: f.get_db_prep_save(values.get(a), connection)
            )
    return lambda values: [make(values) for make in makers]


def update_records(records: list[Record]) -> None:
    """Write a changed resource's new content and every projected column over its stored row
    (each record has the pk of its row). Side effect: the rows, in the caller's transaction."""
    if not records:
        return
    now = timezone.now()
    for record in records:
        record.updated = now
    Record.objects.bulk_update(records, UPDATE_FIELDS, batch_size=500)

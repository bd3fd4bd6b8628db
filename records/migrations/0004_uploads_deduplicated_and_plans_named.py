"""Records stored before the import review: what it would have prevented is undone.

- Uploaded sources get the SHA-256 of their file (kept in Upload), so a file imported before
  this migration is recognised too.
- A resource that two uploads of the same patient both brought (same type, id and content) is
  kept once: the copy from the later upload is removed, so dashboard counts, lists and exports
  stop counting it twice. Records from institutions are not touched.
- CarePlans and Goals stored without a display get the one the projection now gives them (a
  Goal's description, a CarePlan's title or kind of plan), instead of their bare type.

The logic is written out here rather than imported, so that later changes to the app's code
cannot change what this migration did.
"""

import hashlib

from django.db import migrations
from django.db.models import Exists, OuterRef


def backfill_file_hashes(apps, schema_editor):
    Upload = apps.get_model("institutions", "Upload")
    Source = apps.get_model("institutions", "Source")
    for upload in Upload.objects.filter(source__file_hash="").only("pk", "source_id", "data"):
        digest = hashlib.sha256(bytes(upload.data)).hexdigest()
        Source.objects.filter(pk=upload.source_id).update(file_hash=digest)


def drop_duplicate_upload_records(apps, schema_editor):
    Record = apps.get_model("records", "Record")
    earlier = Record.objects.filter(
        patient=OuterRef("patient"),
        resource_type=OuterRef("resource_type"),
        resource_id=OuterRef("resource_id"),
        content_hash=OuterRef("content_hash"),
        source__kind="upload",
        id__lt=OuterRef("id"),
    ).exclude(source=OuterRef("source"))
    Record.objects.filter(source__kind="upload").filter(Exists(earlier)).delete()


def _plan_or_goal_name(resource: dict) -> str:
    if resource.get("resourceType") == "Goal":
        description = resource.get("description")
        return description.get("text", "") if isinstance(description, dict) else ""
    if isinstance(resource.get("title"), str) and resource["title"]:
        return resource["title"]
    for concept in resource.get("category") or []:
        if isinstance(concept, dict):
            text = concept.get("text") or next(
                (c.get("display") for c in concept.get("coding", []) if c.get("display")), ""
            )
            if text:
                return text
    description = resource.get("description")
    return description if isinstance(description, str) else ""


def name_plans_and_goals(apps, schema_editor):
    Record = apps.get_model("records", "Record")
    batch = []
    for record in Record.objects.filter(
        resource_type__in=["CarePlan", "Goal"], display=""
    ).iterator(chunk_size=1000):
        name = _plan_or_goal_name(record.resource or {})[:500]
        if name:
            record.display = name
            record.search_text = " ".join(p for p in (name, record.search_text) if p)
            batch.append(record)
    Record.objects.bulk_update(batch, ["display", "search_text"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0003_record_resource_keeps_decimals"),
        ("institutions", "0002_source_file_hash"),
    ]

    operations = [
        migrations.RunPython(backfill_file_hashes, migrations.RunPython.noop),
        migrations.RunPython(drop_duplicate_upload_records, migrations.RunPython.noop),
        migrations.RunPython(name_plans_and_goals, migrations.RunPython.noop),
    ]

"""Sync issues become a code with parameters (rendered in the reader's language); runs count
their abnormal ends. Messages stored as text are read back into codes where their form is known
(English or Korean), and kept as text otherwise."""

from django.db import migrations, models

from institutions.issues import from_text


def messages_to_codes(apps, schema_editor):
    SyncIssue = apps.get_model("institutions", "SyncIssue")
    batch = []
    for issue in SyncIssue.objects.only("pk", "message").iterator(chunk_size=2000):
        issue.code, issue.params = from_text(issue.message)
        batch.append(issue)
        if len(batch) >= 2000:
            SyncIssue.objects.bulk_update(batch, ["code", "params"])
            batch = []
    SyncIssue.objects.bulk_update(batch, ["code", "params"])


def codes_to_messages(apps, schema_editor):
    # Going back: the English words of each code (a downgrade is for developers).
    from institutions.issues import describe

    SyncIssue = apps.get_model("institutions", "SyncIssue")
    for issue in SyncIssue.objects.iterator(chunk_size=2000):
        issue.message = describe(issue.code, issue.params)
        issue.save(update_fields=["message"])


class Migration(migrations.Migration):
    dependencies = [
        ("institutions", "0002_source_file_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="crashes",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="syncissue",
            name="code",
            field=models.CharField(default="legacy", max_length=20),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="syncissue",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="syncissue",
            name="display",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="syncissue",
            name="effective",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(messages_to_codes, codes_to_messages, elidable=True),
        migrations.AlterField(
            model_name="syncissue",
            name="message",
            field=models.TextField(blank=True),
        ),
        migrations.RemoveField(model_name="syncissue", name="message"),
        migrations.RemoveIndex(model_name="syncissue", name="syncissue_run_idx"),
        migrations.AddIndex(
            model_name="syncissue",
            index=models.Index(fields=["run", "id"], name="syncissue_run_id_idx"),
        ),
    ]

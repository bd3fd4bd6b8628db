"""An index for a series' results by their second code (Record.Meta.indexes).

queries.series_points reads a chart's values WHERE patient_id = %s AND category = %s AND
(code_value IN (…) OR code_alt IN (…)). Only the first arm had an index
(record_patient_cat_code_idx), so PostgreSQL answered the OR by reading the whole table, every
patient's rows: 105 ms for the vital signs page's 6,050 values at 20,000 records, 20 ms with this
index (docs/performance.md). Partial: most records (vital signs, conditions, visits) have no
second code, so the index holds the labs', prescriptions' and procedures' only.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("institutions", "0007_institution_kind"),
        ("records", "0009_code_window_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                condition=~models.Q(code_alt=""),
                fields=["patient", "category", "code_alt"],
                name="record_patient_cat_alt_idx",
            ),
        ),
    ]

import uuid

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from core.scopes import patient_scoped_manager
from records import fhirjson


class Category(models.TextChoices):
    # The KR CDI classes the Korean platform shows, plus demographics.
    ENCOUNTER = "encounter", _("Visits")
    CONDITION = "condition", _("Diagnoses")
    MEDICATION = "medication", _("Medications")
    LAB = "lab", _("Lab results")
    IMAGING = "imaging", _("Imaging")
    PATHOLOGY = "pathology", _("Pathology")
    OTHER_TEST = "other_test", _("Other tests")
    PROCEDURE = "procedure", _("Procedures and surgery")
    ALLERGY = "allergy", _("Allergies and adverse reactions")
    IMMUNIZATION = "immunization", _("Immunizations")
    VITAL = "vital", _("Vital signs")
    DOCUMENT = "document", _("Clinical documents")
    PATIENT = "patient", _("Demographics")
    OTHER = "other", _("Other")


def open_until():
    """A medication record's projected end date (ISO text), or "99999", after every date, when
    it has none (an ongoing prescription, a Medication, facts not projected): what the index
    record_patient_med_end_idx holds, so that `open_until() > today` finds the few records
    that may be current among thousands of prescriptions (records.medications.current)."""
    return Coalesce(
        KeyTextTransform("end", "medication"),
        models.Value("99999"),
        output_field=models.TextField(),
    )


class Record(models.Model):
    """One FHIR resource received from a source: the raw resource and the columns pages query."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Their single-column indexes are left out: every index below starts with the patient, and
    # the unique constraint (source, type, id) with the source.
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    source = models.ForeignKey(
        "institutions.Source", on_delete=models.CASCADE, related_name="records", db_index=False
    )
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=100)  # the resource's id at the source
    category = models.CharField(max_length=20, choices=Category.choices)
    code_system = models.CharField(max_length=200, blank=True)
    code_value = models.CharField(max_length=100, blank=True)
    # The next preferred code (e.g. the HIRA EDI code when code_value is LOINC): lets a result
    # from an institution that only sends the EDI code join the LOINC series of the same test.
    code_alt = models.CharField(max_length=100, blank=True)
    display = models.CharField(max_length=500, blank=True)
    effective = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=40, blank=True)
    value_num = models.FloatField(null=True, blank=True)
    value_num2 = models.FloatField(null=True, blank=True)  # a second component (diastolic BP)
    unit = models.CharField(max_length=40, blank=True)
    search_text = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64)
    source_updated = models.DateTimeField(null=True, blank=True)  # the resource's meta.lastUpdated
    # What a prescription says (records.prescriptions.facts), projected at ingest; null for
    # other resources.
    medication = models.JSONField(null=True, blank=True)
    # Decimals keep the digits they were sent with (FHIR: precision is significant).
    resource = models.JSONField(encoder=fhirjson.Encoder, decoder=fhirjson.Decoder)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("patient")

    class Meta:
        constraints = [
            # A re-sync upserts: one row per resource per source.
            models.UniqueConstraint(
                fields=["source", "resource_type", "resource_id"],
                name="record_source_resource_unique",
            ),
        ]
        indexes = [
            # Category pages: WHERE patient_id = %s AND category = %s ORDER BY effective DESC
            models.Index(
                fields=["patient", "category", "-effective"], name="record_patient_cat_eff_idx"
            ),
            # Timeline: WHERE patient_id = %s ORDER BY effective DESC
            models.Index(fields=["patient", "-effective"], name="record_patient_effective_idx"),
            # On PostgreSQL, migration 0002 adds the keyset pages' exact order
            # (effective DESC NULLS LAST, id DESC), which SQLite cannot index.
            # Lab and vital series: WHERE patient_id = %s AND code_value = %s ORDER BY effective
            models.Index(
                fields=["patient", "code_value", "effective"], name="record_patient_code_idx"
            ),
            # Which sources a patient's records came from (queries.source_ids: an index probe
            # per source, where DISTINCT source_id read all of the patient's rows, 80 ms at
            # 20,000 records) and deleting a patient's records.
            models.Index(fields=["patient", "source"], name="record_patient_source_idx"),
            # A series' results by their second code (queries.series_points: WHERE … AND
            # (code_value IN (…) OR code_alt IN (…))). Without it the OR could not be answered
            # from indexes and PostgreSQL read the whole table: every patient's rows, 105 ms
            # for the vital signs page's 6,050 values at 20,000 records, 20 ms with it
            # (docs/performance.md). Partial: most records (vital signs, conditions) have none.
            models.Index(
                fields=["patient", "category", "code_alt"],
                condition=~models.Q(code_alt=""),
                name="record_patient_cat_alt_idx",
            ),
            # The prescriptions that may be current: records.medications.current reads those
            # whose end is after today (or unknown) of a patient's thousands, where it read
            # and tested every one's facts (12 ms for 4,392 at 20,000 records).
            models.Index(
                models.F("patient"),
                open_until(),
                condition=models.Q(category="medication"),
                name="record_patient_med_end_idx",
            ),
            # Sync upsert lookups are served by the unique constraint (source, type, id).
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.resource_id}"

    @property
    def category_label(self) -> str:
        """get_category_display without translating every category to find one (a list of 50
        records: 600 translations)."""
        known = self.category in Category.values
        return str(Category(self.category).label) if known else self.category


class DataVersion(models.Model):
    """A patient's data version: a counter that every change to their records bumps (an
    ingest that stored something, a purge, an import replacing another), in the transaction of
    the change. The summaries pages read (records.readmodels) are kept per data version, so a
    page never shows what an earlier version of the records said."""

    patient = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.patient_id}: {self.version}"

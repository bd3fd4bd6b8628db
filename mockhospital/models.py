"""Mock hospitals: stand-ins for institutions' FHIR R4 servers (development, demo and tests).

Generated data is materialised into MockResource rows the first time a patient's data is asked
for (and again when the institution's clock advances), so that paging is a keyset scan over a
stable id, `_since` is an index range, and serving a page never re-generates anything.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from mockhospital import codes


class Profile(models.TextChoices):
    # What kind of care the institution gives, and so which data it produces.
    TERTIARY = "tertiary", _("Tertiary hospital: every kind of record")
    GENERAL = "general", _("General hospital")
    CLINIC = "clinic", _("Clinic: outpatient visits")
    DENTAL = "dental", _("Dental clinic")
    PUBLIC_HEALTH = "public_health", _("Public health centre: immunizations, check-ups")
    # The public agencies (mockhospital.agencies): national data, every verified person.
    NHIS = "nhis", _("NHIS: national health check-ups and visit history")
    HIRA = "hira", _("HIRA: prescriptions and pharmacy dispensing")
    KDCA = "kdca", _("KDCA: vaccinations")


class SearchHandling(models.TextChoices):
    LENIENT = "lenient", _("Lenient: unknown search parameters are ignored")
    STRICT = "strict", _("Strict: unknown search parameters are refused (400)")


class MockInstitution(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100)
    hira_number = models.CharField(max_length=8, unique=True)
    type_code = models.CharField(max_length=2, choices=list(codes.ORG_TYPES.items()))
    region = models.CharField(max_length=40)
    profile = models.CharField(max_length=20, choices=Profile.choices, default=Profile.CLINIC)
    # OAuth2 client credentials (mock only: shown in /mock/ so that scripts can connect).
    client_id = models.CharField(max_length=64)
    client_secret = models.CharField(max_length=64)
    token_lifetime = models.PositiveIntegerField(default=3600, help_text="seconds")
    supports_everything = models.BooleanField(default=True)
    # What the server does with a search parameter it does not know: ignore it (lenient, FHIR's
    # default and what most servers do) or answer 400 (strict, as with `Prefer: handling=strict`).
    search_handling = models.CharField(
        max_length=10, choices=SearchHandling.choices, default=SearchHandling.LENIENT
    )
    default_page_size = models.PositiveIntegerField(default=100)
    max_page_size = models.PositiveIntegerField(default=1000)
    # Data generation
    seed = models.BigIntegerField(default=0)
    patient_size = models.PositiveIntegerField(
        default=300, help_text="about how many resources a patient found here has"
    )
    history_years = models.PositiveIntegerField(default=5)
    knows_fraction = models.FloatField(
        default=0.0,
        help_text="share (0–1) of other verified identities this institution knows",
    )
    clock = models.DateTimeField(help_text="the institution's 'now': data exists up to it")
    # Fault injection: see mockhospital.faults.FAULT_TYPES for the keys.
    faults = models.JSONField(default=dict, blank=True)
    fault_seed = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return f"{self.name} ({self.slug})"


class Source(models.TextChoices):
    GENERATED = "generated", _("generated")
    FILE = "file", _("loaded from a file")


class MockPatient(models.Model):
    """A person as one institution knows them."""

    institution = models.ForeignKey(MockInstitution, on_delete=models.CASCADE)
    # The platform's verified-identity identifier (an HMAC); blank for file-only patients.
    identifier = models.CharField(max_length=64, blank=True)
    patient_id = models.CharField(max_length=64)  # the id of the Patient at this institution
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.GENERATED)
    seed = models.BigIntegerField(default=0)
    size = models.PositiveIntegerField(default=300)
    full_name = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=10, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    history_start = models.DateTimeField()
    span_days = models.PositiveIntegerField(default=5 * 365)  # `size` resources over this span
    generated_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "patient_id"], name="mockpatient_institution_pid_unique"
            ),
            # Patient?identifier= lookups; one person is one patient per institution.
            models.UniqueConstraint(
                fields=["institution", "identifier"],
                condition=~models.Q(identifier=""),
                name="mockpatient_institution_identifier_unique",
            ),
        ]

    def __str__(self):
        return f"{self.patient_id} @ {self.institution.slug}"


class MockResource(models.Model):
    """One FHIR resource as the institution serves it; `body` is the JSON text, served as is."""

    patient = models.ForeignKey(MockPatient, on_delete=models.CASCADE, related_name="resources")
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    body = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "resource_type", "resource_id"],
                name="mockresource_identity_unique",
            ),
        ]
        indexes = [
            # $everything paging: WHERE patient_id = %s AND id > cursor AND id <= snapshot
            models.Index(fields=["patient", "id"], name="mockres_patient_id_idx"),
            # per-type search paging: WHERE patient_id = %s AND resource_type = %s AND id > …
            models.Index(
                fields=["patient", "resource_type", "id"], name="mockres_patient_type_idx"
            ),
            # _since / _lastUpdated=gt: WHERE patient_id = %s AND last_updated > %s
            models.Index(fields=["patient", "last_updated"], name="mockres_patient_updated_idx"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.resource_id}"

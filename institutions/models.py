import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.scopes import patient_scoped_manager
from institutions import issues, messages

# HIRA institution types (종별코드) — KR Core's hira-healthcare-organization-types.
INSTITUTION_TYPES = [
    ("01", _("Tertiary hospital (상급종합병원)")),
    ("11", _("General hospital (종합병원)")),
    ("21", _("Hospital (병원)")),
    ("28", _("Long-term care hospital (요양병원)")),
    ("29", _("Psychiatric hospital (정신병원)")),
    ("31", _("Clinic (의원)")),
    ("41", _("Dental hospital (치과병원)")),
    ("51", _("Dental clinic (치과의원)")),
    ("71", _("Public health centre (보건소)")),
    ("72", _("Public health branch (보건지소)")),
    ("92", _("Korean medicine hospital (한방병원)")),
    ("93", _("Korean medicine clinic (한의원)")),
    ("00", _("Public agency (공공기관)")),
]


class InstitutionKind(models.TextChoices):
    """What an institution is: a hospital (linked from the directory) or one of the three
    public agencies every verified patient can connect (institutions.windows: what each keeps)."""

    HOSPITAL = "hospital", _("Hospital or clinic")
    NHIS = "nhis", _("National Health Insurance Service (NHIS)")
    HIRA = "hira", _("Health Insurance Review and Assessment Service (HIRA)")
    KDCA = "kdca", _("Korea Disease Control and Prevention Agency (KDCA)")


AGENCY_KINDS = [InstitutionKind.NHIS, InstitutionKind.HIRA, InstitutionKind.KDCA]


class InstitutionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class Institution(models.Model):
    """A hospital or clinic whose FHIR endpoint the platform pulls records from."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name (Korean)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    hira_number = models.CharField(_("HIRA institution number"), max_length=20, unique=True)
    type_code = models.CharField(_("type"), max_length=2, choices=INSTITUTION_TYPES)
    kind = models.CharField(
        _("kind"), max_length=10, choices=InstitutionKind.choices, default=InstitutionKind.HOSPITAL
    )
    region = models.CharField(_("region"), max_length=100, blank=True)
    fhir_base_url = models.URLField(_("FHIR base URL"), max_length=500, blank=True)
    token_url = models.URLField(_("OAuth2 token URL"), max_length=500, blank=True)
    client_id = models.CharField(_("OAuth2 client id"), max_length=200, blank=True)
    client_secret = EncryptedTextField(_("OAuth2 client secret"), blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=InstitutionStatus.choices,
        default=InstitutionStatus.DRAFT,
    )
    max_concurrent_syncs = models.PositiveSmallIntegerField(
        _("concurrent syncs at most"),
        default=4,
        help_text=_("How many patients' syncs may run against this institution at once."),
    )
    # What the last connection test found (from /metadata).
    fhir_version = models.CharField(max_length=20, blank=True)
    resource_types = models.JSONField(default=list, blank=True)
    supports_everything = models.BooleanField(default=False)
    tested_at = models.DateTimeField(null=True, blank=True)
    test_ok = models.BooleanField(null=True)
    test_message = models.TextField(blank=True)  # in the tester's language (logs, older rows)
    # The same result as msgid + parameters (institutions.messages): shown in the reader's
    # language in the admin.
    test_result = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["name"]
        indexes = [
            # Patient directory: WHERE status = 'active' ORDER BY name
            models.Index(fields=["status", "name"], name="institution_status_name_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def test_summary(self) -> str:
        """What the last connection test found, in the active language."""
        return messages.render(self.test_result, self.test_message)

    @property
    def is_active(self) -> bool:
        return self.status == InstitutionStatus.ACTIVE

    @property
    def is_agency(self) -> bool:
        return self.kind in AGENCY_KINDS


class SourceKind(models.TextChoices):
    INSTITUTION = "institution", _("Institution")
    UPLOAD = "upload", _("Uploaded file")


class SourceStatus(models.TextChoices):
    ACTIVE = "active", _("Linked")
    UNLINKED = "unlinked", _("Unlinked")


class Source(models.Model):
    """One patient's link to one institution (with their consent), or one uploaded file."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sources"
    )
    kind = models.CharField(max_length=12, choices=SourceKind.choices)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="sources"
    )
    label = models.CharField(max_length=200, blank=True)  # an upload's file name
    # SHA-256 of an uploaded file's bytes: the same file imported again is recognised by it.
    file_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=10, choices=SourceStatus.choices, default=SourceStatus.ACTIVE
    )
    # The consent: when, what (resource types, from when) and which version of the text.
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_scope = models.JSONField(default=dict, blank=True)
    consent_version = models.CharField(max_length=20, blank=True)
    # The patient's id at the institution (found by their verified identifier).
    patient_ref = models.CharField(max_length=100, blank=True)
    # Incremental sync: the server time at which the last successful sync's search began.
    high_water_mark = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    unlinked_at = models.DateTimeField(null=True, blank=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("patient")

    class Meta:
        constraints = [
            # A patient links an institution once (until they unlink it).
            models.UniqueConstraint(
                fields=["patient", "institution"],
                condition=Q(status="active", kind="institution"),
                name="source_one_active_link_per_institution",
            ),
        ]
        indexes = [
            # Beat: WHERE status = 'active' AND kind = 'institution' ORDER BY last_synced_at
            models.Index(
                fields=["last_synced_at"],
                condition=Q(status="active", kind="institution"),
                name="source_due_for_sync_idx",
            ),
            # Import review: WHERE patient_id = %s AND file_hash = %s AND kind = 'upload'
            # AND status = 'active' (was this file imported already?)
            models.Index(
                fields=["patient", "file_hash"],
                condition=Q(status="active", kind="upload"),
                name="source_upload_file_hash_idx",
            ),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.institution.name if self.institution_id else self.label


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting to start")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Completed")
    FAILED = "failed", _("Failed")


ACTIVE_RUN_STATES = [RunStatus.QUEUED, RunStatus.RUNNING]


class RunTrigger(models.TextChoices):
    LINK = "link", _("First sync after linking")
    PATIENT = "patient", _("Requested by the patient")
    SCHEDULE = "schedule", _("Scheduled")
    OPERATOR = "operator", _("Retried by an operator")
    IMPORT = "import", _("File import")


class SyncRun(models.Model):
    """One attempt to bring a source up to date: its state, counts and errors in words."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A running run holds a lease it renews page by page; a worker that dies lets it lapse, and
    # the run can then be resumed by another worker from its cursor.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Where to resume: the next page's URL (and, for per-type search, which type).
    cursor = models.JSONField(default=dict, blank=True)
    since = models.DateTimeField(null=True, blank=True)  # the _since of this run
    server_time = models.DateTimeField(null=True, blank=True)  # the first page's meta.lastUpdated
    total = models.PositiveIntegerField(null=True, blank=True)  # what the server announced
    fetched = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    restarts = models.PositiveSmallIntegerField(default=0)
    # Attempts that ended abnormally (an unexpected exception, or a worker that died holding
    # the lease): bounded by PHR_SYNC_ATTEMPTS, after which the run fails with a reason.
    crashes = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)  # for a person to read; never clinical content
    # The same error as msgid + parameters (institutions.messages), put into words in the
    # reader's language; `error` keeps the words of the worker's language (logs, older rows).
    error_message = models.JSONField(default=dict, blank=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("source__patient")

    class Meta:
        ordering = ["-created"]
        constraints = [
            # One sync per source at a time: a second trigger finds this and does nothing.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_one_active_per_source",
            ),
        ]
        indexes = [
            # Source page and health: WHERE source_id = %s ORDER BY created DESC
            models.Index(fields=["source", "-created"], name="syncrun_source_created_idx"),
            # Stale-run recovery: WHERE status = 'running' AND lease_until < now()
            models.Index(
                fields=["lease_until"],
                condition=Q(status="running"),
                name="syncrun_running_lease_idx",
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.created:%Y-%m-%d %H:%M} {self.status}"

    @property
    def progress(self) -> int:
        """Percent done: resources handled of those announced (100 when finished)."""
        if self.status == RunStatus.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(99, self.fetched * 100 // self.total)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATES

    @property
    def reason(self) -> str:
        """Why the run failed, in the active language."""
        return messages.render(self.error_message, self.error)


class SyncIssue(models.Model):
    """A resource a run could not keep, and why: a code with parameters (institutions.issues),
    put into words in the reader's language when shown. The resource's type, id, display text
    and date name it for the patient, who alone sees it; no clinical values are kept."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="issues")
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=100)
    code = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True)
    display = models.CharField(max_length=200, blank=True)
    effective = models.DateTimeField(null=True, blank=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("run__source__patient")

    class Meta:
        indexes = [
            # The run's issues, paged in order: WHERE run_id = %s ORDER BY id
            models.Index(fields=["run", "id"], name="syncissue_run_id_idx"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.resource_id}: {self.code}"

    @property
    def message(self) -> str:
        """The issue in words, in the active language."""
        return issues.describe(self.code, self.params)


class Upload(models.Model):
    """An uploaded FHIR file, kept until its import run has read it."""

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="upload")
    data = models.BinaryField()
    size = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("source__patient")

    def __str__(self):
        return f"{self.size} bytes for {self.source}"

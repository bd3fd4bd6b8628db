"""The data windows of the public agencies: how far back the platform keeps each kind of their
data, as the real 나의건강기록 does — NHIS visits 1 year and check-ups 10 years, HIRA
prescriptions and dispensings 1 year, KDCA vaccinations all. A hospital's data has no window.

Enforced by the sync when it stores a page (institutions.sync_pull.store_page): a resource dated
before its window is not stored, and what an earlier sync stored that has since left its window
is deleted at the start of the next run, so the patient sees what the platform would show.
Undated resources (the Patient, Organizations) are kept.
"""

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.models import InstitutionKind
from records import readmodels
from records.fhirtime import parse_fhir_datetime
from records.models import Record

YEAR = 365
# kind → {resource type: days kept}; a type not listed is kept whatever its date.
WINDOWS: dict[str, dict[str, int]] = {
    InstitutionKind.NHIS: {
        "Encounter": YEAR,
        "DiagnosticReport": 10 * YEAR,
        "Observation": 10 * YEAR,
    },
    InstitutionKind.HIRA: {"MedicationRequest": YEAR, "MedicationDispense": YEAR},
    InstitutionKind.KDCA: {},
}
# What a patient is told of each agency's window (the national-data page, the consent screen).
EXPLAINED = {
    InstitutionKind.NHIS: _(
        "Visits to hospitals and clinics from the last year, and national health check-ups "
        "from the last 10 years."
    ),
    InstitutionKind.HIRA: _("Prescriptions and pharmacy dispensing from the last year."),
    InstitutionKind.KDCA: _("Every vaccination on record, since birth."),
}
# The date a resource's window is measured from, by type (the first one present).
DATE_FIELDS = {
    "Encounter": ("period.start", "period.end"),
    "Observation": ("effectiveDateTime", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "issued"),
    "MedicationRequest": ("authoredOn",),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
}


def _dated(resource: dict) -> dt.datetime | None:
    for path in DATE_FIELDS.get(resource.get("resourceType"), ()):
        value = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        moment = parse_fhir_datetime(value)
        if moment is not None:
            return moment
    return None


def cutoffs(kind: str, now: dt.datetime | None = None) -> dict[str, dt.datetime]:
    """{resource type: the earliest moment kept} for an institution kind ({} for no window)."""
    now = now or timezone.now()
    return {rtype: now - dt.timedelta(days=days) for rtype, days in WINDOWS.get(kind, {}).items()}


def within(kind: str, resources, now: dt.datetime | None = None) -> list:
    """The resources a source of `kind` keeps: those of a windowed type dated before its window
    left out (anything else, also what is not a resource, passes on to validation)."""
    limits = cutoffs(kind, now)
    if not limits:
        return list(resources)
    kept = []
    for resource in resources:
        limit = limits.get(resource.get("resourceType")) if isinstance(resource, dict) else None
        moment = _dated(resource) if limit is not None else None
        if moment is None or moment >= limit:
            kept.append(resource)
    return kept


def expire(source, now: dt.datetime | None = None) -> int:
    """Delete the source's records that have left their window since they were stored; the
    number deleted. One DELETE per windowed type (by the source's unique index)."""
    institution = source.institution
    if institution is None:
        return 0
    deleted = 0
    for resource_type, limit in cutoffs(institution.kind, now).items():
        count, _per_model = Record.objects.filter(
            source=source, resource_type=resource_type, effective__lt=limit
        ).delete()
        deleted += count
    if deleted:  # the patient's summaries (records.readmodels) change with them
        readmodels.bump(patient_id=source.patient_id)
    return deleted


def apply(run, resources) -> list:
    """The sync's one call: for a source of an agency, expire what left the window (on the
    run's first page) and keep the page's resources within it."""
    source = run.source
    institution = source.institution
    if institution is None or institution.kind not in WINDOWS:
        return resources if isinstance(resources, list) else list(resources)
    if not run.fetched:
        expire(source)
    return within(institution.kind, resources)

"""The access-scoped queries: everything a patient may see of sources and runs goes through here."""

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from institutions.models import Institution, InstitutionStatus, Source, SourceStatus, SyncRun


def directory(*, q: str = "", region: str = "", type_code: str = "") -> QuerySet[Institution]:
    """Active institutions a patient can link, filtered by name, region and type."""
    institutions = Institution.objects.filter(status=InstitutionStatus.ACTIVE)
    if q:
        institutions = institutions.filter(Q(name__icontains=q) | Q(name_en__icontains=q))
    if region:
        institutions = institutions.filter(region__icontains=region)
    if type_code:
        institutions = institutions.filter(type_code=type_code)
    return institutions.order_by("name")


def sources_for_patient(patient) -> QuerySet[Source]:
    """The patient's linked sources with their latest run and record count (2 subqueries)."""
    latest = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-created")
    return (
        Source.objects.filter(patient=patient, status=SourceStatus.ACTIVE)
        .select_related("institution")
        .annotate(
            record_count=Count("records", distinct=True),
            latest_run_id=Subquery(latest.values("pk")[:1]),
        )
        .order_by("created")
    )


def source_for_patient(patient, code) -> Source:
    """One of the patient's sources (linked or not) by its public code; 404 otherwise."""
    return get_object_or_404(
        Source.objects.select_related("institution"), patient=patient, code=code
    )


def runs_for_patient(patient) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(source__patient=patient).select_related("source__institution")


def latest_runs(sources) -> dict[int, SyncRun]:
    """The latest run of each source (annotated by sources_for_patient), in one query."""
    return SyncRun.objects.in_bulk([s.latest_run_id for s in sources if s.latest_run_id])

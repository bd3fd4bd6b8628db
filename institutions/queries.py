"""The access-scoped queries: everything a patient may see of sources and runs goes through here."""

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.queries import patient_for
from core.access import Actor
from institutions.models import (
    AGENCY_KINDS,
    Institution,
    InstitutionKind,
    InstitutionStatus,
    Source,
    SourceKind,
    SourceStatus,
    SyncRun,
)


def linkable() -> QuerySet[Institution]:
    """Every institution a patient can link: the active hospitals and agencies."""
    return Institution.objects.filter(status=InstitutionStatus.ACTIVE)


def agencies() -> QuerySet[Institution]:
    """The active public agencies (NHIS, HIRA, KDCA), in that order: every verified patient's
    national-data sources."""
    order = {kind: index for index, kind in enumerate(AGENCY_KINDS)}
    return sorted(linkable().filter(kind__in=AGENCY_KINDS), key=lambda i: order[i.kind])


def directory(*, q: str = "", region: str = "", type_code: str = "") -> QuerySet[Institution]:
    """Active hospitals and clinics a patient can link, filtered by name, region and type (the
    agencies are on the national-data page instead)."""
    institutions = linkable().filter(kind=InstitutionKind.HOSPITAL)
    if q:
        institutions = institutions.filter(Q(name__icontains=q) | Q(name_en__icontains=q))
    if region:
        institutions = institutions.filter(region__icontains=region)
    if type_code:
        institutions = institutions.filter(type_code=type_code)
    return institutions.order_by("name")


def sources_for(actor: Actor | None) -> QuerySet[Source]:
    """The one question about sources: which may this actor manage? All of the patient's
    sources, linked or unlinked (an unlinked one keeps its records, its page and its place in
    the download-all), with their institutions. Only an actor who may manage the patient's
    account has any: a share recipient, an app or an operator manages none (what a recipient
    may read of a source comes with its records: `records.readmodels.sources`). No actor (no
    one logged in): none. A delegate's grant scoped to some institutions manages those only:
    the others are 404 for them, on every source page and route of the API."""
    if not actor or not actor.may_manage:
        return Source.objects.none()
    sources = Source.objects.filter(patient_id=actor.patient_id)
    if actor.scope.source_ids:
        sources = sources.filter(pk__in=actor.scope.source_ids)
    return sources.select_related("institution")


def source_for(actor: Actor, code) -> Source:
    """One source the actor may manage (linked or not) by its public code; 404 for any other."""
    return get_object_or_404(sources_for(actor), code=code)


def linked_sources(actor: Actor) -> QuerySet[Source]:
    """The actor's linked sources, oldest first, with their latest run's id: the dashboard's
    list. A second function rather than an option of `sources_for`, because the annotation
    costs a subquery per row that no other caller (a lookup, a choice, the API) needs; the
    scope is `sources_for`'s, so there is still one definition of it. How many records each
    holds is a read model (records.readmodels.record_counts_by_source): counting them here
    joined every record of the patient on every request (200 ms at 20,000 records)."""
    latest = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-created")
    return (
        sources_for(actor)
        .filter(status=SourceStatus.ACTIVE)
        .annotate(latest_run_id=Subquery(latest.values("pk")[:1]))
        .order_by("created")
    )


def managing_patient(actor: Actor | None, *, user: User | None = None) -> User:
    """The patient whose sources `actor` links and imports to (no query when `user` is that
    patient); PermissionDenied for an actor who may not manage the patient's sources."""
    if not actor or not actor.may_manage:
        raise PermissionDenied
    return patient_for(actor, user=user)


def runs_for(actor: Actor | None) -> QuerySet[SyncRun]:
    """The sync runs of the sources the actor may manage (none for any other actor)."""
    if not actor or not actor.may_manage:
        return SyncRun.objects.none()
    runs = SyncRun.objects.filter(source__patient_id=actor.patient_id)
    if actor.scope.source_ids:
        runs = runs.filter(source_id__in=actor.scope.source_ids)
    return runs.select_related("source__institution")


def latest_runs(sources) -> dict[int, SyncRun]:
    """The latest run of each source (annotated by linked_sources), in one query."""
    return SyncRun.objects.in_bulk([s.latest_run_id for s in sources if s.latest_run_id])


def agencies_by_patient(kinds) -> dict[int, set[str]]:
    """For the daily reminders (a system task, not a request): patient id → which of the
    agency `kinds` they have an active linked source of. Ids and kinds only, no patient data.
    Queries: one."""
    linked = Source.objects.filter(
        status=SourceStatus.ACTIVE,
        kind=SourceKind.INSTITUTION,
        institution__kind__in=list(kinds),
    ).values_list("patient_id", "institution__kind")
    agencies: dict[int, set[str]] = {}
    for patient_id, kind in linked:
        agencies.setdefault(patient_id, set()).add(kind)
    return agencies

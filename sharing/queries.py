"""The access-scoped queries of sharing: a patient's shares, and what a share lets one see."""

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from records.models import Record
from records.queries import records_for_patient
from sharing.models import Share


def shares_for_patient(patient) -> QuerySet[Share]:
    return (
        Share.objects.filter(patient=patient)
        .annotate(opens=Count("accesses", distinct=True))
        .prefetch_related("sources__institution")
    )


def share_for_patient(patient, code) -> Share:
    """One of the patient's shares by its public code; 404 for anyone else's."""
    return get_object_or_404(Share.objects.filter(patient=patient), code=code)


def records_for_share(share: Share) -> QuerySet[Record]:
    """Exactly the share's scope: its patient's records in its categories, sources and dates.

    With a date range, records without a date are outside it.
    """
    records = records_for_patient(share.patient_id)
    if share.categories:
        records = records.filter(category__in=share.categories)
    source_ids = list(share.sources.values_list("pk", flat=True))
    if source_ids:
        records = records.filter(source_id__in=source_ids)
    if share.date_from:
        records = records.filter(effective__date__gte=share.date_from)
    if share.date_to:
        records = records.filter(effective__date__lte=share.date_to)
    return records


def record_for_share(share: Share, code) -> Record | None:
    """One record of the share's scope by its public code; None for any other record."""
    return records_for_share(share).select_related("source__institution").filter(code=code).first()

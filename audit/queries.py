"""The access-scoped query over audit events: which events an actor may read."""

from django.db.models import QuerySet

from audit.models import AuditEvent
from core.access import Actor


def events_for(actor: Actor | None) -> QuerySet[AuditEvent]:
    """The events about the actor's patient's data or account, newest first: the query behind
    "Who saw my data", /api/v1/audit-events/ and the download of all one's data. Only the
    patient themself reads their trail; any other actor (a share's recipient, a delegate, an
    app) sees none of it."""
    if actor is None or not actor.is_patient:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(patient_id=actor.patient_id).order_by("-created", "-id")

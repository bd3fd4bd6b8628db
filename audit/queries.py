"""The access-scoped query over audit events: which events an actor may read."""

from django.db.models import QuerySet

from audit.models import ActorKind, AuditEvent
from core.access import Actor
from core.scopes import scopes_disabled


def events_for(actor: Actor | None) -> QuerySet[AuditEvent]:
    """The events about the actor's patient's data or account, newest first: the query behind
    "Who saw my data", /api/v1/audit-events/ and the download of all one's data. Only the
    patient themself reads their trail; any other actor (a share's recipient, a delegate, an
    app) sees none of it."""
    if actor is None or not actor.is_patient:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(patient_id=actor.patient_id).order_by("-created", "-id")


def acted_by(actor: Actor | None) -> list[AuditEvent]:
    """What the actor's user did acting for others (a guardian, a caregiver), newest first,
    at most ACTED_BY_LIMIT: their own record of it, beside the patient's. Only on their own
    account (not while acting for someone). The events are the other patients', so they
    are read outside the request's scope, by the one condition that makes them this user's."""
    if actor is None or not actor.is_patient:
        return []
    with scopes_disabled():
        return list(
            AuditEvent.objects.filter(actor_kind=ActorKind.DELEGATE, actor_id=actor.user_id)
            .exclude(patient_id=actor.patient_id)
            .order_by("-created", "-id")[:ACTED_BY_LIMIT]
        )


ACTED_BY_LIMIT = 500

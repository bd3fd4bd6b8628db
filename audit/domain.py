"""The one way the product writes audit events."""

import contextlib
import datetime as dt
import ipaddress

import pgtrigger
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import Action, ActorKind, AuditEvent


def truncate_ip(address: str | None) -> str | None:
    """Coarse location only: the /24 of an IPv4 address, the /48 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _user_id(user) -> int | None:
    if user is None:
        return None
    if isinstance(user, int):
        return user
    return user.pk if getattr(user, "is_authenticated", False) else None


def record(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor=None,
    actor_kind: str | None = None,
    actor_label: str = "",
    patient=None,
    obj=None,
    extra: dict | None = None,
) -> AuditEvent:
    """Write one audit event. Every feature calls this; nothing else writes events.

    `actor` defaults to the request's logged-in user; `patient` is the user whose data or
    account is concerned (a User or an id); `obj` any model instance the event is about.
    `extra` must hold no clinical content, tokens or secrets. On a request of someone acting
    for the patient (a guardian, a caregiver), the event is theirs as a delegate: kind
    DELEGATE, their e-mail as label, the grant's id in `extra["grant"]`.
    Side effect: one INSERT.
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    actor_id = _user_id(actor)
    patient_id = _user_id(patient)
    # Someone acting for the patient under a grant (sharing.middleware sets the request's
    # delegated actor): recorded as "X acting for Y", with the grant.
    delegated = getattr(request, "delegated_actor", None) if request is not None else None
    if (
        actor_kind in (None, ActorKind.PATIENT)
        and delegated is not None
        and actor_id == delegated.user_id
        and patient_id == delegated.patient_id
        and actor_id != patient_id
    ):
        actor_kind = ActorKind.DELEGATE
        actor_label = actor_label or delegated.label
        extra = {**(extra or {}), "grant": delegated.grant_id}
    if actor_kind is None:
        if actor_id is None:
            actor_kind = ActorKind.ANONYMOUS
        elif actor.is_staff and actor_id != patient_id:
            actor_kind = ActorKind.STAFF
        else:
            actor_kind = ActorKind.PATIENT
    if not actor_label and actor_kind == ActorKind.STAFF:
        actor_label = actor.email
    ip = user_agent = None
    if request is not None:
        ip = truncate_ip(request.META.get("REMOTE_ADDR"))
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:200]
    return AuditEvent.objects.create(
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        actor_label=actor_label[:200],
        patient_id=patient_id,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip=ip,
        user_agent=user_agent or "",
        extra=extra or {},
    )


def purge_expired(*, now=None) -> int:
    """Delete audit events older than settings.PHR_AUDIT_RETENTION_DAYS; return how many.

    The only deletion of audit events anywhere: the append-only trigger is lifted for this one
    statement (pgtrigger.ignore is scoped to this connection and block). The purge itself is
    recorded, with the count and cutoff, as a system event.
    Side effects: one DELETE, one INSERT.
    """
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.PHR_AUDIT_RETENTION_DAYS)
    with transaction.atomic(), _append_only_lifted():
        deleted = AuditEvent.objects.filter(created__lt=cutoff).purge()
    if deleted:
        record(
            action=Action.AUDIT_PURGED,
            actor_kind=ActorKind.SYSTEM,
            extra={"deleted": deleted, "cutoff": cutoff.isoformat()},
        )
    return deleted


def _append_only_lifted():
    if connection.vendor == "postgresql":
        return pgtrigger.ignore("audit.AuditEvent:audit_append_only")
    return contextlib.nullcontext()

"""What happens across apps at once: erasing a patient."""

from allauth.usersessions.models import UserSession
from django.db import transaction

from accounts.models import User
from audit import domain as audit
from audit.models import Action, ActorKind
from core.access import Actor
from sharing.domain import revoke_share
from sharing.queries import shares_for


def delete_account(*, user: User, request=None) -> dict:
    """Erase a patient: every share (revoked first, so a link in flight stops at once), source,
    sync run, upload, record, profile field, e-mail address, second factor and session.

    What stays is the audit trail (the law asks for it), and it holds no clinical content:
    actions, times, truncated IPs and ids only. The deletion itself is the last event.
    Side effects: revokes shares (audited), deletes the user's rows, ends their sessions.
    Returns the number of rows deleted per model (non-clinical counts, kept in the event).
    """
    for share in shares_for(Actor.patient(user)).filter(revoked_at__isnull=True):
        revoke_share(share=share, request=request)
    for session in UserSession.objects.filter(user=user):
        session.end()
    user_id = user.pk  # Model.delete() clears it
    with transaction.atomic():
        _, counts = user.delete()
        counts = {label: count for label, count in counts.items() if count}
        audit.record(
            action=Action.ACCOUNT_DELETED,
            request=request,
            actor=user_id,
            actor_kind=ActorKind.PATIENT,
            patient=user_id,
            extra={"deleted": counts},
        )
    return counts

"""The access-scoped queries of sharing: the shares an actor may manage.

What a share lets its recipient read is not a query of its own: the share is a grant, and
`records.queries.records_for(sharing.grants.actor_for_share(share))` answers it.
"""

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from core.access import Actor
from sharing.models import Delegation, Share


def shares_for(actor: Actor | None) -> QuerySet[Share]:
    """The one question about shares: which may this actor manage? The patient's shares, any
    state, for the patient and for a delegate whose grant lets them share; none for any other
    actor (a share's own recipient sees no shares, not even the one they hold; a read-only
    caregiver none). No actor (no one logged in): none.

    A delegate manages only the shares made under their own grant (`Share.created_under`):
    the patient's own shares, and other delegates', are 404 for them — they may be wider than
    the delegate's scope, and reissuing one would end the patient's link."""
    if not actor or not actor.may_share:
        return Share.objects.none()
    shares = Share.objects.filter(patient_id=actor.patient_id)
    if actor.is_delegate:
        return shares.filter(created_under_id=actor.grant_id)
    return shares


def share_for(actor: Actor, code) -> Share:
    """One share the actor may manage by its public code; 404 for any other."""
    return get_object_or_404(shares_for(actor), code=code)


def share_list(actor: Actor) -> QuerySet[Share]:
    """The patient's list of shares, with how often each was opened and its sources (one
    query and one prefetch): `shares_for` with what the list page shows."""
    return (
        shares_for(actor)
        .annotate(opens=Count("accesses", distinct=True))
        .prefetch_related("sources__institution")
    )


def delegations_given(actor: Actor | None) -> QuerySet[Delegation]:
    """The grants the patient gave to accounts that act for them (caregivers; a child's
    guardians), any state, newest first, with each delegate: only the patient themself reads
    them; nobody acting for them (a guardian, a caregiver) sees or changes them."""
    if not actor or not actor.is_patient:
        return Delegation.objects.none()
    return Delegation.objects.filter(patient_id=actor.patient_id).select_related("delegate")


def delegation_given(actor: Actor, code, *, kind: str | None = None) -> Delegation:
    """One grant the patient gave, by its public code; 404 for any other."""
    grants = delegations_given(actor)
    if kind:
        grants = grants.filter(kind=kind)
    return get_object_or_404(grants, code=code)

"""Grants: who may read which of a patient's records, why, and until when.

A grant is a patient's right, given to someone else, to read part of their records. Every
grant has the same parts, and every surface reads it through the same actor:

- an **owner**: the patient whose records it opens (`patient`);
- a **grantee**: who it is for (`label`: "Dr. Kim, Seoul Clinic"), and, on each use, who
  said they were using it (the name a recipient gives, kept in the audit trail);
- a **scope**: which records (`categories`, `sources`, `date_from`–`date_to`; empty means
  all), read as `core.access.Scope`;
- a **purpose** (`purpose`), shown to the patient and the grantee;
- an **expiry** (`expires_at`) and a **revocation** (`revoked_at`): `state` is active only
  before the one and without the other;
- an **audit trail of every use**: `sharing.domain.record_access` writes a `ShareAccess`
  row (what the patient sees on the share's page) and an `AuditEvent` (the activity log)
  for every open, view and download.

A `Share` is such a grant, to whoever holds its link (and passcode); a SMART Health Link is
the same grant read by an SHL viewer (`ActorKind.SHL`). `actor_for_share` turns the grant
into the actor that `records.queries.records_for` takes, so the share view, its download, the
SHL's encrypted Bundle and the patient's preview all read exactly the grant's scope, through
the one query that the patient's own pages use.

A **delegate grant** (`Delegation`: a parent acting for a child, a caregiver) has the
same parts, and in addition a grantee that is an account rather than a link, and whether it
lets the delegate manage (link sources, share, export), share, or only read. It lives in
`sharing.models.Delegation`; `actor_for_delegation` turns it into the actor (`ActorKind.DELEGATE`,
its rights in `grant_may_share`/`grant_may_manage`).

`sharing.middleware.actor_for_request` resolves it when a logged-in user chooses to act for
someone who delegated to them, so that every view below, which reads `request.actor`, needs
no change. An app grant (OAuth, later) is the same with an app as grantee.
"""

from core.access import Actor, ActorKind, Scope
from sharing.models import Delegation, Share

LINK_KINDS = (ActorKind.SHARE, ActorKind.SHL)


def scope_of(share: Share | Delegation) -> Scope:
    """The grant's scope as the records query reads it (one query for its sources, none when
    they were prefetched)."""
    return Scope(
        categories=frozenset(share.categories),
        source_ids=frozenset(source.pk for source in share.sources.all()),
        date_from=share.date_from,
        date_to=share.date_to,
    )


def actor_for_share(share: Share, *, kind: ActorKind = ActorKind.SHARE, recipient="") -> Actor:
    """Whoever holds the share's link, acting on its patient's records within its scope:
    read-only (no account, nothing to manage). `kind`: SHARE for the web link (and the
    patient's preview of it), SHL for a SMART Health Link viewer; `recipient`: the name they
    gave, for the audit trail. The caller has checked the share is active (`find_active`).
    Queries: one, for the scope's sources."""
    if kind not in LINK_KINDS:
        raise ValueError(f"A share is read through a link, not as {kind!r}.")
    return Actor(
        kind=kind,
        patient_id=share.patient_id,
        scope=scope_of(share),
        grant_id=share.pk,
        label=recipient,
    )


def actor_for_delegation(delegation: Delegation, *, user) -> Actor:
    """`user` acting for the delegation's patient within its scope and rights. Refuses
    (ValueError) a grant that is not active or that is not `user`'s: the caller looked it up
    through the delegate's own active grants, so this is a second lock, not the first.
    Queries: one, for the scope's sources."""
    if not delegation.is_active or delegation.delegate_id != user.pk:
        raise ValueError("This grant is not the user's or is no longer active.")
    return Actor(
        kind=ActorKind.DELEGATE,
        patient_id=delegation.patient_id,
        scope=scope_of(delegation),
        user_id=user.pk,
        grant_id=delegation.pk,
        label=user.email,
        grant_may_share=delegation.may_share,
        grant_may_manage=delegation.may_manage,
    )

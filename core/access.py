"""Who is reading: the actor every access-scoped query takes instead of `request.user`.

An actor is someone acting on one patient's records under some right: the patient themself,
the holder of a share link or a SMART Health Link, and (designed in, built by later issues) a
delegate such as a parent or a caregiver, an app, or an operator. The grant that gives the right
lives in the access layer (`sharing.grants`); the layers below only read the actor's patient and
scope, so a new kind of grant needs no change in them.

Plain values, no models: this sits at the bottom of the house and imports no app.
"""

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    PATIENT = "patient"  # the patient themself: everything, and may manage it
    SHARE = "share"  # a share link's recipient: read-only, within the share's scope
    SHL = "shl"  # a SMART Health Link's viewer: read-only, within the share's scope
    DELEGATE = "delegate"  # a guardian or caregiver (the Family issue)
    APP = "app"  # an app the patient authorised (later)
    OPERATOR = "operator"  # staff reading for support, always audited


@dataclass(frozen=True)
class Scope:
    """Which of a patient's records: empty sets mean "all"; a date range leaves out records
    without a date."""

    categories: frozenset[str] = frozenset()
    source_ids: frozenset[int] = frozenset()
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def is_whole(self) -> bool:
        return not (self.categories or self.source_ids or self.date_from or self.date_to)


WHOLE = Scope()


@dataclass(frozen=True)
class Actor:
    """Someone acting on `patient_id`'s records within `scope`.

    `user_id`: the account acting (None for a link holder); `grant_id`: the grant it acts
    under (None for the patient); `label`: who they said they are, for the audit trail.
    """

    kind: ActorKind
    patient_id: int
    scope: Scope = WHOLE
    user_id: int | None = None
    grant_id: int | None = None
    label: str = field(default="", compare=False)
    # A delegate's rights under their grant (the Family issue); the patient has all of them.
    grant_may_share: bool = False
    grant_may_manage: bool = False

    @classmethod
    def patient(cls, user) -> "Actor":
        """The patient acting on their own records (a logged-in user)."""
        return cls(kind=ActorKind.PATIENT, patient_id=user.pk, user_id=user.pk)

    @property
    def is_patient(self) -> bool:
        """The owner acting on their own records: may link, share, export and delete."""
        return self.kind == ActorKind.PATIENT and self.user_id == self.patient_id

    @property
    def is_delegate(self) -> bool:
        """A guardian or caregiver acting for someone else under a `sharing.Delegation`."""
        return self.kind == ActorKind.DELEGATE

    @property
    def may_manage(self) -> bool:
        """May change what the patient has (sources, links, imports, exports): the patient,
        or a delegate whose grant lets them manage (a parent of a young child)."""
        return self.is_patient or (self.is_delegate and self.grant_may_manage)

    @property
    def may_share(self) -> bool:
        """May create and revoke shares of the patient's records."""
        return self.is_patient or (
            self.is_delegate and (self.grant_may_share or self.grant_may_manage)
        )

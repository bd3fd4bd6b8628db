"""Children: a parent adds a child under 14 and acts for them through a guardian grant.

Korea's 나의건강기록 lets a parent add a child under 14 once government records confirm that
the child is registered at the parent's address as their child. Here:

- `add_child`: a verified patient names a child (name, birth date, sex); the family registry
  (`accounts.family_registry`, the stand-in for the resident registration check) must confirm
  the relation. The child becomes a patient without a login (`accounts.domain.child_patient`)
  and the parent gets a guardian `Delegation` over them: may share and manage, ending at
  00:00 Asia/Seoul on the 14th birthday. The other parent adds the same child by the same
  check and gets a grant of their own over the same patient.
- `end_guardian_grants` (Celery beat, hourly): tells the guardians 30 days before the 14th
  birthday and on the day (once each), ends the grants on the day (`ended_reason`
  "age_out") and revokes the shares of the child's records (the guardians made them: the
  child had no login). The child can then claim the record by verifying their own identity
  (`accounts.domain.claim_child_record`).

The grant's rights are read as every delegate's are (`sharing.grants.actor_for_delegation`):
the pages below take the actor, so linking, syncing, browsing, importing, exporting and sharing
work for the child exactly as for the parent's own record.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts import domain as accounts_domain
from accounts import family_registry
from accounts.models import PatientProfile, User
from accounts.queries import profile_for
from audit import domain as audit
from audit.models import Action, ActorKind
from core import mail, scopes
from core.access import Actor
from sharing.models import Delegation, DelegationKind, Share

logger = logging.getLogger("phr.family")

NOTICE_DAYS = 30  # the guardians are told this many days before the 14th birthday
AGE_OUT = "age_out"


class ChildRefused(Exception):
    """The child cannot be added; `message` says why, in the user's language."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _refusal(reason: family_registry.Reason) -> str:
    if reason == family_registry.Reason.PARENT_NOT_REGISTERED:
        return _(
            "The family registry has no household with you as a parent. Check that your "
            "verified name and birth date are those on your resident registration."
        )
    return _(
        "The family registry does not list this child as yours at your address. Check the "
        "child's name, birth date and sex as registered, and that the child is registered at "
        "your address."
    )


def add_child(
    *, guardian: User, full_name: str, birth_date: dt.date, sex: str, request=None
) -> Delegation:
    """Add a child the family registry confirms as `guardian`'s, with a guardian grant.

    Raises ChildRefused (a clear message) when the guardian is not verified, the child is 14
    or older, the registry does not confirm the relation, or the guardian already has the
    child. Side effects: the child's managed patient when new (the other parent may have added
    them), a guardian Delegation (share and manage, until the 14th birthday), an audit event
    on the child's record.
    """
    profile = profile_for(Actor.patient(guardian))
    if not profile.is_verified or profile.managed:
        raise ChildRefused(_("Verify your own identity first: the family registry asks for it."))
    full_name = full_name.strip()
    now = timezone.now()
    if birth_date > timezone.localdate():
        raise ChildRefused(_("The birth date cannot be in the future."))
    ends = accounts_domain.age_out_at(birth_date)
    if ends <= now:
        raise ChildRefused(
            _(
                "A parent can add a child until the child's 14th birthday. %(name)s is 14 or "
                "older: they can sign up and verify their own identity."
            )
            % {"name": full_name}
        )
    answer = family_registry.lookup(
        parent_name=profile.full_name,
        parent_birth_date=profile.birth_date,
        child_name=full_name,
        child_birth_date=birth_date,
        child_sex=sex,
    )
    if not answer.confirmed:
        raise ChildRefused(_refusal(answer.reason))
    with transaction.atomic():
        try:
            child, created = accounts_domain.child_patient(
                full_name=full_name, birth_date=birth_date, sex=sex
            )
        except accounts_domain.IdentityAlreadyLinked:
            raise ChildRefused(
                _("This child already has their own PHR account: ask them to share with you.")
            ) from None
        # The guardian's request runs in their own scope; the child's grants are looked up
        # by the child, whom the registry has just confirmed as theirs.
        with scopes.scopes_disabled():
            if Delegation.objects.filter(
                patient=child, delegate=guardian, revoked_at__isnull=True
            ).exists():
                raise ChildRefused(_("You have already added %(name)s.") % {"name": full_name})
            delegation = Delegation.objects.create(
                kind=DelegationKind.GUARDIAN,
                patient=child,
                delegate=guardian,
                label=profile.full_name,
                purpose=_("Parent or guardian of a child under 14"),
                may_share=True,
                may_manage=True,
                accepted_at=now,
                expires_at=ends,
            )
        audit.record(
            # A new child, or a second parent's grant over a child the other one added.
            action=Action.CHILD_ADDED if created else Action.DELEGATION_CREATED,
            request=request,
            actor=guardian,
            actor_kind=ActorKind.DELEGATE,
            actor_label=profile.full_name,
            patient=child,
            obj=delegation,
        )
    return delegation


def children_of(guardian: User) -> list[Delegation]:
    """The guardian grants `guardian` holds that are still active, with each child's profile
    (one query): the children they act for."""
    # A delegate's own grants, across the patients they act for (sharing.models.Delegation).
    with scopes.scopes_disabled():
        return list(
            Delegation.objects.filter(
                delegate=guardian,
                kind=DelegationKind.GUARDIAN,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .select_related("patient__profile")
            .order_by("patient__profile__birth_date")
        )


# --- Age-out ---------------------------------------------------------------------------------


@dataclass
class AgeOutResult:
    notices: int = 0  # children whose guardians were told 30 days ahead
    ended: int = 0  # children whose guardian grants ended today
    shares_revoked: int = 0


def end_guardian_grants(*, now: dt.datetime | None = None) -> AgeOutResult:
    """The age-out, run by Celery beat: notices 30 days ahead, and the end on the day.

    Each child is handled once per step, whatever how often this runs or how many workers run
    it: a conditional UPDATE on the child's profile claims the step before anything is sent.
    Side effects: PatientProfile.age_out_notice_at / aged_out_at, guardian Delegations ended
    (revoked_at, ended_reason "age_out"), the child's active shares revoked, audit events,
    e-mails to the guardians (by the worker, after commit).
    """
    now = now or timezone.now()
    result = AgeOutResult()
    today = timezone.localdate(now)
    # Born on or before this day: 14 within NOTICE_DAYS (a day's slack for 29 February).
    latest_birth = accounts_domain.birthday(
        today + dt.timedelta(days=NOTICE_DAYS + 1), -accounts_domain.GUARDIAN_AGE_LIMIT
    )
    with scopes.scopes_disabled():
        children = list(
            PatientProfile.objects.filter(
                managed=True, aged_out_at__isnull=True, birth_date__lte=latest_birth
            ).select_related("user")
        )
    for child in children:
        ends = accounts_domain.age_out_at(child.birth_date)
        if ends <= now:
            result.shares_revoked += _age_out(child, now=now)
            result.ended += 1
        elif (
            ends - now <= dt.timedelta(days=NOTICE_DAYS)
            and child.age_out_notice_at is None
            and _notify_ahead(child, ends=ends, now=now)
        ):
            result.notices += 1
    return result


def _guardians(child: PatientProfile, *, live_at: dt.datetime) -> list[Delegation]:
    with scopes.scopes_disabled():
        return list(
            Delegation.objects.filter(
                patient_id=child.user_id,
                kind=DelegationKind.GUARDIAN,
                delegate__isnull=False,
                revoked_at__isnull=True,
                expires_at__gte=live_at,
            ).select_related("delegate")
        )


def _notify_ahead(child: PatientProfile, *, ends: dt.datetime, now: dt.datetime) -> bool:
    with transaction.atomic(), scopes.scopes_disabled():
        claimed = PatientProfile.objects.filter(
            pk=child.pk, age_out_notice_at__isnull=True, aged_out_at__isnull=True
        ).update(age_out_notice_at=now)
        if not claimed:
            return False
        for grant in _guardians(child, live_at=now):
            _mail(grant.delegate, child=child, ends=ends, ahead=True)
    return True


def _age_out(child: PatientProfile, *, now: dt.datetime) -> int:
    ends = accounts_domain.age_out_at(child.birth_date)
    with transaction.atomic(), scopes.scopes_disabled():
        claimed = PatientProfile.objects.filter(pk=child.pk, aged_out_at__isnull=True).update(
            aged_out_at=now
        )
        if not claimed:
            return 0
        # The grants that were live until the birthday (their expiry is the birthday itself).
        grants = _guardians(child, live_at=ends)
        Delegation.objects.filter(pk__in=[g.pk for g in grants]).update(
            revoked_at=now, ended_reason=AGE_OUT
        )
        for grant in grants:
            audit.record(
                action=Action.DELEGATION_ENDED,
                actor=None,
                actor_kind=ActorKind.SYSTEM,
                patient=child.user_id,
                obj=grant,
                extra={"reason": AGE_OUT},
            )
            _mail(grant.delegate, child=child, ends=ends, ahead=False)
        # The shares of the child's records were made by the guardians (the child had no
        # login): they end with the guardians' right to make them.
        shares = list(
            Share.objects.filter(patient_id=child.user_id, revoked_at__isnull=True).only("pk")
        )
        Share.objects.filter(pk__in=[s.pk for s in shares]).update(revoked_at=now)
        for share in shares:
            audit.record(
                action=Action.SHARE_REVOKED,
                actor=None,
                actor_kind=ActorKind.SYSTEM,
                patient=child.user_id,
                obj=share,
                extra={"reason": AGE_OUT},
            )
    logger.info("guardian grants ended child=%s grants=%d", child.user_id, len(grants))
    return len(shares)


def _mail(guardian: User, *, child: PatientProfile, ends: dt.datetime, ahead: bool) -> None:
    """One message to a guardian, in their language: the child's name and the date, no
    records."""
    with translation.override(guardian.language or settings.LANGUAGE_CODE):
        values = {
            "name": child.full_name,
            "date": formats.date_format(timezone.localdate(ends), "DATE_FORMAT"),
        }
        if ahead:
            subject = _("Your guardian access for %(name)s ends on %(date)s") % values
            body = (
                _(
                    "%(name)s turns 14 on %(date)s. On that day your access to %(name)s's health "
                    "records in PHR ends by itself, and the shares you made of them end too. "
                    "%(name)s can then sign up and verify their own identity to keep the records "
                    "synced so far."
                )
                % values
            )
        else:
            subject = _("Your guardian access for %(name)s has ended") % values
            body = (
                _(
                    "%(name)s turned 14 on %(date)s, so your access to %(name)s's health records "
                    "in PHR has ended, and the shares you made of them have ended too. %(name)s "
                    "can sign up and verify their own identity to take the records over."
                )
                % values
            )
        message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [guardian.email])
    mail.send_after_commit(message)

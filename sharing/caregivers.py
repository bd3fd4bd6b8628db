"""Caregivers: an adult patient lets another account act for them, within a scope, until a date.

The patient invites someone by e-mail: who it is for (a name), what (kinds of records,
institutions; empty means all), what they may do (read; read and share; manage links —
linking institutions, syncing, importing, exporting, and sharing), and until when (mandatory;
renewable; revocable at any moment). The invitation carries a one-time token of 256 bits of
which only the SHA-256 is stored; it is sent by the worker after commit, in the invitee's
language when PHR knows them. The invitee logs in (or signs up) with the invited address and
accepts: the grant's `delegate` is set by one conditional UPDATE, so of any number of
simultaneous acceptances exactly one wins. From then on they open the patient's record under
`/for/<the patient's code>/…` (`sharing.delegation`), every use audited as "X acting for Y".

Each function names its side effects; every change is an audit event of the patient's.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from audit import domain as audit
from audit.models import Action, ActorKind
from core import mail, scopes
from core.access import Actor
from sharing import delegation as delegations
from sharing.domain import hash_token, new_token
from sharing.models import Delegation, DelegationKind, Share

# How long a caregiver's access may last at most before the patient renews it.
MAX_DAYS = 365
ADULT_AGE = 19  # 민법: adulthood at 19


class Rights:
    READ = "read"
    SHARE = "share"
    MANAGE = "manage"


def rights_of(grant: Delegation) -> str:
    if grant.may_manage:
        return Rights.MANAGE
    return Rights.SHARE if grant.may_share else Rights.READ


def _flags(rights: str) -> dict:
    if rights not in (Rights.READ, Rights.SHARE, Rights.MANAGE):
        raise ValidationError({"rights": _("Choose what they may do.")})
    return {"may_share": rights == Rights.SHARE, "may_manage": rights == Rights.MANAGE}


def check_expiry(expires_at: dt.datetime, *, now=None) -> None:
    """In the future, and at most MAX_DAYS away. Raises ValidationError."""
    now = now or timezone.now()
    if expires_at is None or expires_at <= now:
        raise ValidationError({"expires_at": _("The end of the access must be in the future.")})
    if expires_at > now + dt.timedelta(days=MAX_DAYS):
        raise ValidationError(
            {"expires_at": _("At most %(days)d days from now.") % {"days": MAX_DAYS}}
        )


def _age(birth_date: dt.date, today: dt.date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def check_may_invite(actor: Actor, patient: User) -> None:
    """Only the patient themself, an adult whose identity is verified, invites caregivers.
    Raises PermissionDenied (someone acting for them) or ValidationError (why not)."""
    if actor is None or not actor.is_patient or actor.patient_id != patient.pk:
        raise PermissionDenied
    profile = getattr(patient, "profile", None)
    if profile is None or not profile.identity_verified_at or not profile.birth_date:
        raise ValidationError(
            _("Verify your identity first: only you can let someone act for you.")
        )
    if _age(profile.birth_date, timezone.localdate()) < ADULT_AGE:
        raise ValidationError(_("Only an adult can invite a caregiver."))


def invitation_url(token: str, *, request=None) -> str:
    path = reverse("caregiver_accept", args=[token])
    return request.build_absolute_uri(path) if request else f"{settings.SITE_URL}{path}"


def invite(
    *,
    actor: Actor,
    patient: User,
    email: str,
    label: str,
    purpose: str = "",
    categories=(),
    sources=(),
    rights: str = Rights.READ,
    expires_at: dt.datetime,
    request=None,
) -> tuple[Delegation, str]:
    """Invite `email` to act for `patient` (the actor, themself); returns the grant and the
    invitation's token (sent by e-mail, stored only as its SHA-256).
    Raises PermissionDenied / ValidationError (not the patient, not verified or not adult,
    their own address, a bad expiry or rights). Side effects: a Delegation (no delegate yet)
    with its sources, an audit event, an e-mail queued after commit."""
    check_may_invite(actor, patient)
    email = User.objects.normalize_email(email).strip()
    if email.lower() == patient.email.lower():
        raise ValidationError({"email": _("That is your own address.")})
    check_expiry(expires_at)
    flags = _flags(rights)
    token = new_token()
    with transaction.atomic():
        grant = Delegation.objects.create(
            kind=DelegationKind.CAREGIVER,
            patient=patient,
            label=label,
            purpose=purpose,
            categories=list(categories),
            invited_email=email,
            invite_token_hash=hash_token(token),
            expires_at=expires_at,
            **flags,
        )
        grant.sources.set(sources)
        audit.record(
            action=Action.DELEGATION_INVITED,
            request=request,
            actor=patient,
            patient=patient,
            obj=grant,
            extra={"rights": rights, "grant": grant.pk},
        )
        _send_invitation(grant, token, patient=patient, request=request)
    return grant, token


def _send_invitation(grant: Delegation, token: str, *, patient: User, request=None) -> None:
    # In the invitee's language when they have an account, else in the patient's.
    invitee = User.objects.filter(email__iexact=grant.invited_email).only("language").first()
    language = (
        (invitee.language if invitee is not None else "")
        or patient.language
        or translation.get_language()
        or settings.LANGUAGE_CODE
    )
    name = delegations.display_name(patient)
    with translation.override(language):
        body = _(
            "%(name)s invites you to help with their health records in PHR, as their "
            "caregiver, until %(date)s.\n\n"
            "To accept, open this link and log in (or sign up) with this e-mail address:\n"
            "%(link)s\n\n"
            "If you do not know %(name)s, ignore this message: nothing happens."
        ) % {
            "name": name,
            "date": timezone.localtime(grant.expires_at).date().isoformat(),
            "link": invitation_url(token, request=request),
        }
        message = EmailMessage(
            _("%(name)s invites you as caregiver") % {"name": name},
            body,
            settings.DEFAULT_FROM_EMAIL,
            [grant.invited_email],
            headers={"Content-Language": language},
        )
    mail.send_after_commit(message)


class NotAcceptable(Exception):
    """Why an invitation cannot be accepted (the message is for the invitee)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def find_invitation(token: str) -> Delegation | None:
    """The open invitation behind `token` (not accepted, not revoked, not expired), with
    its patient's profile; None for anything else. One query."""
    if not token or len(token) > 100:
        return None
    # The capability lookup: whose grant it is, nobody knows yet (core.scopes).
    with scopes.scopes_disabled():
        grant = (
            Delegation.objects.filter(
                invite_token_hash=hash_token(token),
                kind=DelegationKind.CAREGIVER,
                delegate__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .select_related("patient__profile")
            .first()
        )
    return grant


def accept(*, token: str, user: User, request=None) -> Delegation:
    """`user` accepts the invitation behind `token`: they become its delegate. Exactly one
    acceptance of an invitation succeeds, however many arrive at once (a conditional UPDATE).
    Raises NotAcceptable (unknown, used, expired or revoked; the patient's own; another
    address; already acting for this patient). Side effects: the Delegation updated (the
    token's hash cleared: the link is one-time), an audit event; with `request`, the
    switcher's people in the session."""
    grant = find_invitation(token)
    if grant is None:
        raise NotAcceptable(_("This invitation is not valid any more: ask for a new one."))
    if grant.patient_id == user.pk:
        raise NotAcceptable(_("This is your own invitation: it is for someone else."))
    if grant.invited_email.lower() != user.email.lower():
        raise NotAcceptable(
            _(
                "This invitation was sent to another e-mail address. Log in with the account "
                "of that address (or sign up with it) to accept it."
            )
        )
    now = timezone.now()
    try:
        with transaction.atomic(), scopes.scopes_disabled():
            won = Delegation.objects.filter(
                pk=grant.pk,
                delegate__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
                invite_token_hash=grant.invite_token_hash,
            ).update(delegate=user, accepted_at=now, invite_token_hash="")
    except IntegrityError:
        # One live grant per patient and delegate (the URL names the patient).
        raise NotAcceptable(
            _("You already act for this person. They can renew or change that access.")
        ) from None
    if won != 1:
        raise NotAcceptable(_("This invitation is not valid any more: ask for a new one."))
    grant.delegate, grant.accepted_at, grant.invite_token_hash = user, now, ""
    audit.record(
        action=Action.DELEGATION_ACCEPTED,
        request=request,
        actor=user,
        actor_kind=ActorKind.DELEGATE,
        actor_label=user.email,
        patient=grant.patient_id,
        obj=grant,
        extra={"grant": grant.pk},
    )
    if request is not None:
        delegations.remember_grants(request, user=user)
    return grant


def revoke(*, grant: Delegation, actor: Actor, request=None) -> None:
    """End the grant now (the patient's choice): the delegate's next request is a 404; an
    open invitation's link stops working. Side effects: the Delegation updated (conditional:
    revoking twice records once), an audit event."""
    _check_owner(actor, grant)
    if grant.revoked_at is not None:
        return
    now = timezone.now()
    with transaction.atomic():
        updated = Delegation.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            revoked_at=now, ended_reason="revoked", invite_token_hash=""
        )
        # The shares the delegate made under the grant end with it.
        Share.objects.filter(created_under=grant, revoked_at__isnull=True).update(revoked_at=now)
    if updated:
        grant.revoked_at, grant.ended_reason = now, "revoked"
        audit.record(
            action=Action.DELEGATION_REVOKED,
            request=request,
            actor=actor.user_id,
            actor_kind=ActorKind.PATIENT,
            patient=grant.patient_id,
            obj=grant,
            extra={"grant": grant.pk},
        )


def renew(*, grant: Delegation, actor: Actor, expires_at: dt.datetime, request=None) -> None:
    """A new end for a grant not revoked (active or expired): the patient's choice.
    Raises ValidationError (revoked, or a bad expiry). Side effects: the Delegation updated,
    an audit event."""
    _check_owner(actor, grant)
    if grant.revoked_at is not None:
        raise ValidationError(_("This access was revoked: invite them again instead."))
    check_expiry(expires_at)
    with transaction.atomic():
        updated = Delegation.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            expires_at=expires_at
        )
        # Shorter: the shares the delegate made under the grant end with it, not later.
        Share.objects.filter(created_under=grant, expires_at__gt=expires_at).update(
            expires_at=expires_at
        )
    if not updated:
        raise ValidationError(_("This access was revoked: invite them again instead."))
    grant.expires_at = expires_at
    audit.record(
        action=Action.DELEGATION_RENEWED,
        request=request,
        actor=actor.user_id,
        actor_kind=ActorKind.PATIENT,
        patient=grant.patient_id,
        obj=grant,
        extra={"grant": grant.pk, "until": expires_at.date().isoformat()},
    )


def _check_owner(actor: Actor, grant: Delegation) -> None:
    # Only the patient changes the grants they gave (a delegate never reaches these pages).
    if actor is None or not actor.is_patient or actor.patient_id != grant.patient_id:
        raise PermissionDenied


def invitation_sources(grant: Delegation) -> list:
    """The institutions an open invitation covers, for the invitee's page (the invitee's
    request is in their own scope, not the inviting patient's: read outside it, only the
    grant's own sources)."""
    with scopes.scopes_disabled():
        return list(grant.sources.select_related("institution"))

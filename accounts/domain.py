"""What happens to accounts: identity verification and the patient profile."""

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
import uuid
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import PatientProfile, User
from audit import domain as audit
from audit.models import Action
from core import scopes


class IdentityAlreadyLinked(Exception):
    """The verified identity already belongs to another account."""


def normalize_phone(phone: str) -> str:
    """Digits of a Korean mobile number in national form: '+82 10-1234-5678' → '01012345678'."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("82") and len(digits) >= 11:
        digits = "0" + digits[2:]
    return digits


def normalize_name(name: str) -> str:
    # NFC so that a name typed on a phone (often decomposed jamo) and on a PC compare equal;
    # inner spaces removed because Korean names are written with and without them.
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", name or "")).casefold()


def identity_identifier(*, full_name: str, birth_date: dt.date, phone: str) -> str:
    """The stable identifier of a verified person: HMAC-SHA256 of the normalised values.

    The same person always gets the same value (so institutions can match them); nobody can
    recover the name, birth date or phone from it without settings.IDENTITY_HMAC_KEY.
    """
    message = "|".join(
        [normalize_name(full_name), birth_date.isoformat(), normalize_phone(phone)]
    ).encode()
    return hmac.new(settings.IDENTITY_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()


def verify_identity(
    *, user: User, full_name: str, birth_date: dt.date, sex: str, phone: str, request=None
) -> PatientProfile:
    """Record a (mock) 본인인증 result on the user's profile.

    Side effects: creates or updates the profile, writes an `identity.verified` audit event.
    Raises IdentityAlreadyLinked when another account holds the same verified identity.
    """
    profile, _created = PatientProfile.objects.get_or_create(user=user)
    profile.full_name = full_name.strip()
    profile.birth_date = birth_date
    profile.sex = sex
    profile.phone = normalize_phone(phone)
    profile.verified_identifier = identity_identifier(
        full_name=full_name, birth_date=birth_date, phone=phone
    )
    profile.identity_verified_at = timezone.now()
    try:
        with transaction.atomic():
            profile.save()
            audit.record(action=Action.IDENTITY_VERIFIED, request=request, actor=user, patient=user)
    except IntegrityError:
        raise IdentityAlreadyLinked from None
    return profile


# --- Children (the Family issue) -------------------------------------------------------------

GUARDIAN_AGE_LIMIT = 14  # a parent acts for a child until their 14th birthday (나의건강기록)
CHILD_EMAIL_DOMAIN = "children.phr.invalid"  # .invalid (RFC 2606): no mail can ever arrive


class ChildClaimRefused(Exception):
    """The account cannot take over a child's record (it already holds data of its own)."""


def birthday(birth_date: dt.date, years: int) -> dt.date:
    """The birthday `years` after `birth_date`; 29 February falls on 1 March in other years
    (the day after 28 February, when Korean civil law counts the year as completed)."""
    try:
        return birth_date.replace(year=birth_date.year + years)
    except ValueError:
        return dt.date(birth_date.year + years, 3, 1)


def age_out_at(birth_date: dt.date) -> dt.datetime:
    """When a guardian's grant over a child ends: 00:00 Asia/Seoul on the 14th birthday."""
    day = birthday(birth_date, GUARDIAN_AGE_LIMIT)
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo("Asia/Seoul"))


def child_identifier(*, full_name: str, birth_date: dt.date) -> str:
    """The verified identifier of a child confirmed by the family registry: the identity's
    HMAC without a phone (a child has no mobile registered in their name). Institutions find
    the child by it, before and after the child claims the record."""
    return identity_identifier(full_name=full_name, birth_date=birth_date, phone="")


def child_patient(*, full_name: str, birth_date: dt.date, sex: str) -> tuple[User, bool]:
    """The managed patient of a child the family registry confirmed: the existing one (added
    by the other parent), else a new one. Returns (user, created).

    The child has no login: an account with an unusable password and an address under a
    reserved domain, its profile verified from the registry. The caller (sharing.family) has
    asked the registry and holds a transaction. Raises IdentityAlreadyLinked when the identity
    belongs to an account that is not a managed child (it has been claimed).
    Side effects: a User and its PatientProfile when new.
    """
    identifier = child_identifier(full_name=full_name, birth_date=birth_date)
    # Whose profile this is, nobody knows yet: the caller is the parent, in their own scope.
    with scopes.scopes_disabled():
        existing = (
            PatientProfile.objects.select_related("user")
            .filter(verified_identifier=identifier)
            .first()
        )
    if existing is not None:
        if not existing.managed or existing.claimed_at:
            raise IdentityAlreadyLinked
        return existing.user, False
    user = User(email=f"child-{uuid.uuid4().hex}@{CHILD_EMAIL_DOMAIN}")
    user.set_unusable_password()
    user.save()
    with scopes.scopes_disabled():
        PatientProfile.objects.create(
            user=user,
            full_name=full_name.strip(),
            birth_date=birth_date,
            sex=sex,
            verified_identifier=identifier,
            identity_verified_at=timezone.now(),
            managed=True,
        )
    return user, True


def claimable_child(*, full_name: str, birth_date: dt.date, sex: str) -> PatientProfile | None:
    """The record a parent kept for this person as a child, if they may now take it over:
    managed, its guardian grants ended (the 14th birthday passed and the age-out ran), not yet
    claimed, and the same name, birth date and sex as the identity just verified."""
    identifier = child_identifier(full_name=full_name, birth_date=birth_date)
    # The capability lookup of the identity step: whose record it is, nobody knows yet.
    with scopes.scopes_disabled():
        profile = (
            PatientProfile.objects.select_related("user")
            .filter(
                verified_identifier=identifier,
                managed=True,
                claimed_at__isnull=True,
                aged_out_at__isnull=False,
            )
            .first()
        )
    if profile is None or profile.sex != sex:
        return None
    return profile


# What a new account may already have without holding records of its own: its login's rows
# (allauth's e-mail addresses and authenticators move with the login), one-to-one bookkeeping
# (a profile, a data version, when the digest was last seen), rows the scope guard does not
# protect (notifications and their settings). Anything else pointing at it — sources,
# records, shares, grants: the models whose default manager is patient-scoped — is data,
# and refuses the claim (deleting the account would take it away).
_LOGIN_APPS = {"accounts", "account", "mfa", "usersessions", "auth", "admin", "headless"}


def _holds_data(user: User) -> bool:
    # Every app above accounts points at the user; asked through the model's relations, so
    # this layer names none of them. A few EXISTS queries, once per claim.
    with scopes.scopes_disabled():
        for relation in User._meta.related_objects:
            model = relation.related_model
            if (
                model._meta.app_label in _LOGIN_APPS
                or relation.many_to_many
                or relation.one_to_one
                or type(model._default_manager).__name__ != "PatientScopedManager"
            ):
                continue
            if model._base_manager.filter(**{relation.field.name: user}).exists():
                return True
    return False


def claim_child_record(*, user: User, child: PatientProfile, phone: str, request=None) -> User:
    """`user`, just signed up, takes over the record their parents kept for them.

    The child's patient keeps everything (records, sources, their history, the audit trail)
    and gets `user`'s login: the e-mail, password, language, e-mail addresses and second
    factors move to it, and the empty new account is deleted. Returns the child's account,
    which the caller logs in. Raises ChildClaimRefused when `user` already holds data.
    Side effects: the child's User and profile updated, allauth's rows moved, `user` deleted,
    an `identity.verified` audit event on the child's record.
    """
    # Imported here: allauth's models, only for moving the login's own rows.
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator

    if _holds_data(user):
        raise ChildClaimRefused
    child_user = child.user
    with transaction.atomic(), scopes.scopes_disabled():
        email, password, language = user.email, user.password, user.language
        EmailAddress.objects.filter(user=user).update(user=child_user)
        Authenticator.objects.filter(user=user).update(user=child_user)
        user.delete()
        child_user.email = email
        child_user.password = password
        child_user.language = language
        child_user.save(update_fields=["email", "password", "language"])
        now = timezone.now()
        PatientProfile.objects.filter(pk=child.pk).update(
            phone=normalize_phone(phone), managed=False, claimed_at=now, identity_verified_at=now
        )
        audit.record(
            action=Action.RECORD_CLAIMED, request=request, actor=child_user, patient=child_user
        )
    return child_user

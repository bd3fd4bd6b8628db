"""What happens to accounts: identity verification and the patient profile."""

import datetime as dt
import hashlib
import hmac
import re
import unicodedata

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import PatientProfile, User
from audit import domain as audit
from audit.models import Action


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

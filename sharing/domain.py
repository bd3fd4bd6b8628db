"""What happens to shares: creation, revocation, reissue, passcodes and every recipient access."""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import domain as audit
from audit.models import Action, ActorKind
from core import scopes
from core.access import Actor
from institutions.models import Source
from notifications.domain import notify
from notifications.models import Kind
from sharing import shl
from sharing.models import (
    AccessAction,
    Delegation,
    Share,
    ShareAccess,
    ShareState,
    ShlFileLocation,
)


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_url(token: str, *, request=None) -> str:
    """The link a recipient opens (absolute: it is sent, printed or shown as a QR code), on
    the request's host or, without a request, on SITE_URL."""
    path = reverse("share_entry", args=[token])
    # Made by someone acting for the patient (under /for/<code>/, sharing.middleware): the
    # script prefix names the patient's record there, but the link names nobody's.
    acting_prefix = getattr(request, "for_prefix", None)
    if acting_prefix and path.startswith(acting_prefix + "/"):
        path = path[len(acting_prefix) :]
    return request.build_absolute_uri(path) if request else f"{settings.SITE_URL}{path}"


def check_expiry(expires_at: dt.datetime, *, now: dt.datetime | None = None) -> None:
    """A share ends in the future, and at most PHR_SHARE_MAX_DAYS from now. Raises
    ValidationError otherwise."""
    now = now or timezone.now()
    if expires_at <= now:
        raise ValidationError(_("The expiry must be in the future."), code="expiry_past")
    if expires_at > now + dt.timedelta(days=settings.PHR_SHARE_MAX_DAYS):
        raise ValidationError(
            _("At most %(days)d days from now.") % {"days": settings.PHR_SHARE_MAX_DAYS},
            code="expiry_too_far",
        )


def check_dates(date_from: dt.date | None, date_to: dt.date | None) -> None:
    """The scope's dates, when both are given, are in order. Raises ValidationError otherwise."""
    if date_from and date_to and date_from > date_to:
        raise ValidationError(_("The end date is before the start date."), code="date_range")


def check_terms(*, expires_at, date_from, date_to) -> None:
    """Every rule of a share's terms, the errors under the fields they concern (`expires_at`,
    `date_to`): what create_share enforces, and what its form and serializer show."""
    errors = {}
    for field, check in (
        ("expires_at", lambda: check_expiry(expires_at)),
        ("date_to", lambda: check_dates(date_from, date_to)),
    ):
        try:
            check()
        except ValidationError as refused:
            errors[field] = refused.error_list
    if errors:
        raise ValidationError(errors)


def within_scope(actor: Actor, *, categories, sources, date_from, date_to):
    """A share's scope for `actor`, never wider than the actor's own: what is left open
    ("all kinds", "all institutions", no date) becomes the actor's bound; a kind, an
    institution or a date outside it is refused (ValidationError under its field). The
    patient's scope is whole: nothing changes (no query)."""
    scope = actor.scope
    if scope.is_whole:
        return categories, sources, date_from, date_to
    errors = {}
    categories = list(categories)
    sources = list(sources)
    if scope.categories:
        if set(categories) - scope.categories:
            errors["categories"] = _("You may share only the kinds of records you may see.")
        categories = categories or sorted(scope.categories)
    if scope.source_ids:
        if {source.pk for source in sources} - scope.source_ids:
            errors["sources"] = _("You may share only the institutions you may see.")
        sources = sources or _sources_by_id(scope.source_ids)
    if scope.date_from and (date_from is None or date_from < scope.date_from):
        date_from = scope.date_from
    if scope.date_to and (date_to is None or date_to > scope.date_to):
        date_to = scope.date_to
    if errors:
        raise ValidationError(errors)
    return categories, sources, date_from, date_to


def _sources_by_id(ids):
    # The ids are the actor's grant's own sources (of its patient).
    return list(Source.objects.filter(pk__in=ids))


def create_share(
    *,
    actor: Actor,
    label,
    purpose,
    categories,
    sources,
    date_from,
    date_to,
    expires_at,
    passcode,
    allow_download,
    notify_on_open,
    include_explanations=False,
    request=None,
    base_url: str | None = None,
) -> tuple[Share, str]:
    """Create a share; returns it and its token (shown to the patient this once, never stored).

    When downloads are allowed, the share also gets a SMART Health Link (an SHL is a download by
    nature): `share.shlink` then holds its URI, shown once too; otherwise it is None.
    Side effects: a Share (token hash, hashed passcode, encrypted SHL file), its sources, an
    audit event.
    `actor`: who shares — one who may share the patient's records (the patient, or a
    delegate whose grant lets them share; PermissionDenied for any other). A delegate shares
    within their own grant's scope (`within_scope`). Raises ValidationError for terms
    check_terms refuses, storing nothing. `include_explanations`: the recipient also reads the
    plain-language explanations (records.explain), off unless the patient chooses it.
    """
    if not actor.may_share:
        raise PermissionDenied
    check_terms(expires_at=expires_at, date_from=date_from, date_to=date_to)
    categories, sources, date_from, date_to = within_scope(
        actor, categories=categories, sources=sources, date_from=date_from, date_to=date_to
    )
    created_under_id = None
    if actor.is_delegate:
        # A delegate's share is their grant's: it ends at the latest when the grant does.
        created_under_id = actor.grant_id
        grant_ends = (
            Delegation.objects.filter(pk=actor.grant_id).values_list("expires_at", flat=True).get()
        )
        expires_at = min(expires_at, grant_ends)
    token = new_token()
    with transaction.atomic():
        share = Share.objects.create(
            patient_id=actor.patient_id,
            label=label,
            purpose=purpose,
            categories=list(categories),
            date_from=date_from,
            date_to=date_to,
            expires_at=expires_at,
            passcode_hash=make_password(passcode) if passcode else "",
            allow_download=allow_download,
            notify_on_open=notify_on_open,
            include_explanations=include_explanations,
            token_hash=hash_token(token),
            created_under_id=created_under_id,
        )
        share.sources.set(sources)
        share.shlink = None
        if allow_download:
            base_url = base_url or (
                request.build_absolute_uri("/") if request else settings.SITE_URL
            )
            manifest_id, share.shlink = shl.create_link(share, base_url=base_url)
            share.shl_id_hash = hash_token(manifest_id)
            share.save(update_fields=["shl_id_hash", "shl_file"])
        audit.record(
            action=Action.SHARE_CREATED,
            request=request,
            actor=actor.user_id,
            actor_kind=ActorKind.PATIENT,  # or, acting for them, a delegate (audit.record)
            patient=actor.patient_id,
            obj=share,
            extra={"smart_health_link": bool(share.shlink)},
        )
    return share, token


def revoke_share(*, share: Share, request=None) -> None:
    """End a share at once: the next request with its link finds nothing."""
    if share.revoked_at is None:
        Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        share.refresh_from_db()
        audit.record(
            action=Action.SHARE_REVOKED, request=request, patient=share.patient_id, obj=share
        )


class NotReissuable(Exception):
    """A revoked or expired share cannot get a new link: a new link would be dead on arrival."""

    def __init__(self, share: Share):
        if share.revoked_at:
            message = _(
                "This share was revoked: it cannot get a new link. Create a new share instead."
            )
        else:
            message = _(
                "This share has expired: it cannot get a new link. Create a new share instead."
            )
        super().__init__(message)
        self.message = message


def reissue_share(*, share: Share, request=None, base_url: str | None = None) -> str:
    """New links for an active or locked share; returns the new token (shown once).

    Everything a holder of the old links could use is rotated: the link token, and for a
    SMART Health Link the manifest id, the key (so the file is encrypted again, with the scope
    as it is now) and the file locations. The old link, manifest and files answer 404; the
    wrong-passcode count starts again. `share.shlink` holds the new SHL URI (None without one).
    Raises NotReissuable for a revoked or expired share. Side effects: the Share updated, its
    file locations deleted, an audit event.
    """
    if share.revoked_at or share.expires_at <= timezone.now():
        raise NotReissuable(share)
    token = new_token()
    share.shlink = None
    with transaction.atomic():
        share.token_hash = hash_token(token)
        share.failed_attempts = 0
        fields = ["token_hash", "failed_attempts"]
        if share.shl_id_hash:
            base_url = base_url or (
                request.build_absolute_uri("/") if request else settings.SITE_URL
            )
            manifest_id, share.shlink = shl.create_link(share, base_url=base_url)
            share.shl_id_hash = hash_token(manifest_id)
            fields += ["shl_id_hash", "shl_file"]
        # Only while still not revoked: a revocation in between wins.
        updated = Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
            **{field: getattr(share, field) for field in fields}
        )
        if not updated:
            share.refresh_from_db()
            raise NotReissuable(share)
        ShlFileLocation.objects.filter(share=share).delete()
        audit.record(
            action=Action.SHARE_REISSUED, request=request, patient=share.patient_id, obj=share
        )
    return token


def find_active_link(manifest_id: str) -> Share | None:
    """The active share behind a SMART Health Link's manifest id (None when inactive)."""
    # The capability lookup: whose share it is, nobody knows yet (core.scopes).
    with scopes.scopes_disabled():
        share = (
            Share.objects.select_related("created_under")
            .filter(shl_id_hash=hash_token(manifest_id))
            .exclude(shl_id_hash="")
            .first()
        )
    return share if share is not None and is_open(share) else None


# --- SMART Health Link file locations (the link's format and encryption: sharing.shl) ------

FILE_LOCATION_SECONDS = 3600  # file locations expire within an hour (spec: short-lived)


def file_location(share, *, base_url: str, recipient: str = "") -> str:
    """A new location for the share's file, valid for FILE_LOCATION_SECONDS.

    256 random bits, of which only the hash is stored: it reveals nothing about the share, and
    reissuing the share deletes its locations. Side effects: a ShlFileLocation row (and the
    share's expired ones deleted).
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    ShlFileLocation.objects.filter(share=share, expires_at__lte=now).delete()
    ShlFileLocation.objects.create(
        share=share,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        recipient_name=recipient[:200],
        expires_at=now + dt.timedelta(seconds=FILE_LOCATION_SECONDS),
    )
    return f"{base_url.rstrip('/')}/shl/file/{token}"


def _find_location(token: str) -> ShlFileLocation | None:
    """The unexpired location behind a file URL's token, with its share (None otherwise)."""
    # The capability lookup: whose share it is, nobody knows yet (core.scopes).
    with scopes.scopes_disabled():
        return (
            ShlFileLocation.objects.select_related("share__created_under")
            .filter(
                token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at__gt=timezone.now()
            )
            .first()
        )


def find_active_file(location: str) -> ShlFileLocation | None:
    """The file location behind an SHL file URL, with its share — None when unknown, expired,
    or when the share is inactive or has no file."""
    found = _find_location(location)
    if found is None or not is_open(found.share) or not found.share.shl_file:
        return None
    return found


def find_active(token: str) -> Share | None:
    """The active share behind a link, or None — for unknown, expired, revoked and locked alike.

    Always one hash and one indexed query, whatever the case, so timing does not tell them apart.
    """
    # The capability lookup: whose share it is, nobody knows yet (core.scopes).
    with scopes.scopes_disabled():
        share = (
            Share.objects.select_related("patient", "created_under")
            .filter(token_hash=hash_token(token))
            .first()
        )
    if share is None or not is_open(share):
        return None
    return share


def is_open(share: Share) -> bool:
    """Whether a link may be opened: the share is active and, made by a delegate, so is the
    grant it was made under (revoked or expired, its shares end with it — no task needed).
    Reads `share.created_under` (the lookups select it: no query)."""
    if share.state != ShareState.ACTIVE:
        return False
    grant = share.created_under if share.created_under_id else None
    return grant is None or grant.state == ShareState.ACTIVE


def _log(share, action, *, request, name="", what="") -> None:
    ip = audit.truncate_ip(request.META.get("REMOTE_ADDR")) if request else None
    ShareAccess.objects.create(
        share=share, action=action, recipient_name=name[:200], what=what[:100], ip=ip
    )


AUDIT_ACTIONS = {
    AccessAction.OPENED: Action.SHARE_OPENED,
    AccessAction.VIEWED: Action.SHARE_VIEWED,
    AccessAction.DOWNLOADED: Action.SHARE_DOWNLOADED,
    AccessAction.WRONG_PASSCODE: Action.SHARE_WRONG_PASSCODE,
}


def record_access(*, share: Share, action: str, request, name: str = "", what: str = "") -> None:
    """Log what a recipient did: in the share's access log (shown to the patient) and the audit.

    Side effects: a ShareAccess row, an AuditEvent; on the first open, an e-mail to the patient
    if they asked for one.
    """
    _log(share, action, request=request, name=name, what=what)
    audit.record(
        action=AUDIT_ACTIONS[action],
        request=request,
        actor=None,
        actor_kind=ActorKind.RECIPIENT,
        actor_label=name,
        patient=share.patient_id,
        obj=share,
        extra={"what": what} if what else None,
    )
    if action == AccessAction.OPENED and share.notify_on_open:
        # Told as the patient chose in their notification settings (notifications.notify: in
        # PHR, by e-mail — sent by the worker after commit, so that the recipient's page never
        # waits on, or fails with, the SMTP server — in the patient's language, not the
        # clinician's, whose request this is).
        notify(
            user=share.patient,
            kind=Kind.SHARE_OPENED,
            params={"name": name, "label": share.label},
            link=reverse("share_detail", args=[share.code]),
        )


@dataclass(frozen=True)
class PasscodeCheck:
    """The outcome of one passcode attempt.

    `checked` is False when the share was already locked (or no longer active): the passcode was
    refused without being compared. `remaining` is the wrong attempts left after this one.
    """

    accepted: bool
    checked: bool
    remaining: int


def check_passcode(*, share: Share, passcode: str, request) -> PasscodeCheck:
    """Compare a passcode under the share's lifetime cap of wrong attempts.

    The comparison and its count are one step under a row lock: without it, parallel requests
    were all compared before any of them was counted (44 of 50 compared with a cap of 5), and a
    right passcode inside such a burst got in. The lock is held only for the one hash; once the
    cap is reached nothing is compared at all. Side effects: failed_attempts + 1, a ShareAccess
    row and an AuditEvent for a wrong passcode.
    """
    cap = settings.PHR_SHARE_MAX_ATTEMPTS
    with transaction.atomic():
        # select_for_update: serialises the attempts on this share (the race above).
        current = Share.objects.select_for_update().get(pk=share.pk)
        if current.state != ShareState.ACTIVE:
            return PasscodeCheck(accepted=False, checked=False, remaining=0)
        if check_password(passcode, current.passcode_hash):
            return PasscodeCheck(
                accepted=True, checked=True, remaining=cap - current.failed_attempts
            )
        Share.objects.filter(pk=share.pk).update(failed_attempts=F("failed_attempts") + 1)
    share.failed_attempts = current.failed_attempts + 1
    record_access(share=share, action=AccessAction.WRONG_PASSCODE, request=request)
    return PasscodeCheck(accepted=False, checked=True, remaining=cap - share.failed_attempts)

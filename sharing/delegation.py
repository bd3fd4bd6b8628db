"""Acting for someone else: the delegate's side of a `Delegation` (a guardian, a caregiver).

Whose record a page shows is in its URL: `/for/<the patient's User.code>/…` (the patient's
own pages have no prefix). A shared browser tab, a bookmark or a link sent to oneself then
always opens the same person's record, whatever the session last "switched" to; a session
switch (a value in the session) would show whoever was chosen last in another tab. The
access layer's middleware (`sharing.middleware.ActorMiddleware`) strips the prefix, finds
the logged-in user's active grant for that patient (one query: 404 when there is none, it
expired or it was revoked), acts as `grants.actor_for_delegation(grant)` and sets the
script prefix, so every `reverse()` and `{% url %}` on the page stays with that person.

What no delegate reaches, even with a grant that lets them manage: the patient's account
(password, e-mail, second factor, sessions, identity, deleting the account, the activity
log, the grants the patient gave) — `refused_for_delegate`.

The header's switcher ("me" and each person one acts for) is read from the session, so that
the patient's own pages cost no query for it: written at login (`remember_grants`), after an
invitation is accepted or a child is added (the caller calls `remember_grants(request)`), and
again when a `/for/` URL finds its grant gone.
"""

import hashlib

from django.urls import Resolver404, resolve
from django.utils import timezone

from core import scopes
from sharing.models import Delegation

PREFIX = "/for/"
SESSION_KEY = "sharing:acts-for"

# The band's colours (static/css/phr.css: .acting-band-0 … -5): the same person always has
# the same colour, whichever browser or device.
BAND_COLOURS = 6

# Routes under /for/<code>/ answered 404 whatever the grant: the patient's account, the
# grants they gave, the operators' admin, the API (which takes ?patient=), and the pages of
# share links and mock hospitals (nobody's record is in their URL).
REFUSED_PREFIXES = (
    "/accounts/",
    "/_allauth/",
    "/admin/",
    "/api/",
    "/mock/",
    "/s/",
    "/shl/",
    "/healthz",
    "/family/",
    # The viewer's own notifications (and their settings): never under someone else's band.
    "/notifications/",
)
REFUSED_NAMES = frozenset(
    {
        "account_home",
        "verify_identity",
        "delete_account",
        "activity",
        # "Download all my data" holds the account's facts (e-mail, phone, the shares with
        # who opened them): the patient's alone. The FHIR export (records, within the
        # grant's scope) stays open to a delegate who may manage.
        "download_all",
    }
)
# API routes about the caller themself, whatever `?patient=` says: 404 with it.
CALLERS_OWN_NAMES = frozenset({"api-me"})
# Under /accounts/ all the same: logging out works from any page.
ALLOWED_NAMES = frozenset({"account_logout"})
# Routes that change what the patient has, or take their records away (exports): only for a
# grant that lets its holder manage. Shares: only for one that lets them share. Answered
# 404 to anyone else acting for the patient; the views and the scoped queries refuse them
# too (managing_patient, sources_for, shares_for, create_share), this is the second lock.
MANAGE_NAMES = frozenset(
    {
        "directory",
        "link_institution",
        "import_file",
        "source_detail",
        "source_progress",
        "source_sync",
        "source_unlink",
        "export_fhir",
        "summary_document",
        "api-import",
        "api-export-fhir",
        "api-source-list",
        "api-source-detail",
        "api-source-sync",
        "api-sync-run-list",
        "api-sync-run-detail",
        "api-sync-run-issues",
    }
)
SHARE_NAMES = frozenset(
    {
        "share_list",
        "share_new",
        "share_detail",
        "share_revoke",
        "share_reissue",
        "share_preview",
    }
)
# Reads that are not the patient's data (a sync's progress, polled every few seconds): not
# audited as a view of the record.
NOT_READS = frozenset({"source_progress"})


def refused_for_delegate(path: str) -> bool:
    """Whether `path` (after the /for/<code> prefix) is one no one acting for the patient
    may open: their account, their grants, the admin, the API, link pages."""
    try:
        name = resolve(path).url_name
    except Resolver404:
        return False  # answered 404 by the resolver anyway
    if name in ALLOWED_NAMES:
        return False
    return name in REFUSED_NAMES or path.startswith(REFUSED_PREFIXES)


def may_open(actor, name: str) -> bool:
    """Whether `actor` (acting for the patient) may open the route `name` at all."""
    if name in REFUSED_NAMES or name in CALLERS_OWN_NAMES:
        return False
    if name in MANAGE_NAMES:
        return actor.may_manage
    if name in SHARE_NAMES or name.startswith("api-share"):
        return actor.may_share
    return True


def page_name(path: str) -> str:
    """The route's name, what a delegate's read is audited as (never the URL's codes)."""
    try:
        return resolve(path).url_name or ""
    except Resolver404:
        return ""


def active_grant(user, patient_code) -> Delegation | None:
    """`user`'s active grant over the patient whose public code is `patient_code`, with the
    patient's profile (for the band), or None: not theirs, not accepted, expired or revoked.
    One query."""
    if user is None or not user.is_authenticated:
        return None
    # The lookup that decides whose scope the request enters: nobody's is entered yet.
    with scopes.scopes_disabled():
        return (
            Delegation.objects.filter(
                delegate_id=user.pk,
                patient__code=patient_code,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .select_related("patient__profile")
            .first()
        )


def held_by(user) -> list[Delegation]:
    """The active grants `user` holds, soonest ending first, with each patient's profile.
    One query."""
    with scopes.scopes_disabled():
        return list(
            Delegation.objects.filter(
                delegate_id=user.pk, revoked_at__isnull=True, expires_at__gt=timezone.now()
            )
            .select_related("patient__profile")
            .order_by("expires_at", "pk")
        )


def display_name(patient) -> str:
    """How the band and the switcher name the patient: their verified name, else the
    e-mail address their account has (a child has no login, but has a name)."""
    profile = getattr(patient, "profile", None)
    name = getattr(profile, "full_name", "") if profile is not None else ""
    return name or patient.email


def band_colour(patient_code) -> int:
    """One of the band's colours, the same for the same person everywhere."""
    return hashlib.sha256(str(patient_code).encode()).digest()[0] % BAND_COLOURS


def prefix_for(patient_code) -> str:
    """The path prefix of `patient_code`'s record: "/for/<code>" (no trailing slash)."""
    return f"{PREFIX}{patient_code}"


def _entry(grant: Delegation) -> dict:
    return {
        "code": str(grant.patient.code),
        "name": display_name(grant.patient),
        "kind": grant.kind,
        "colour": band_colour(grant.patient.code),
        "expires": grant.expires_at.isoformat(),
    }


def remember_grants(request, user=None) -> list[dict]:
    """Write the switcher's people (the grants the user holds) into the session and return
    them. One query. For login, an accepted invitation, a child added."""
    user = user or request.user
    entries = [_entry(grant) for grant in held_by(user)]
    request.session[SESSION_KEY] = entries
    return entries


def remembered(request) -> list[dict]:
    """The switcher's people, from the session (no query); those whose grant has expired
    since are left out (a revoked one shows until its URL answers 404, which forgets it)."""
    session = getattr(request, "session", None)
    if session is None:
        return []
    now = timezone.now().isoformat()
    return [entry for entry in session.get(SESSION_KEY, []) if entry["expires"] > now]


def forget(request, patient_code) -> None:
    """Drop a person from the switcher (their URL found no active grant)."""
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return
    entries = [e for e in session[SESSION_KEY] if e["code"] != str(patient_code)]
    if len(entries) != len(session[SESSION_KEY]):
        session[SESSION_KEY] = entries


def names_for(user) -> dict[int, str]:
    """The names of everyone `user` holds or held a grant for (any state): what their own
    activity calls the people they acted for. One query."""
    with scopes.scopes_disabled():
        grants = Delegation.objects.filter(delegate_id=user.pk).select_related("patient__profile")
        return {grant.patient_id: display_name(grant.patient) for grant in grants}

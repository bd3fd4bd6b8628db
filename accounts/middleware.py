"""The account's session rules: absolute and idle timeouts, and MFA before the admin."""

import time

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from audit import domain as audit
from audit.models import Action

SESSION_STARTED = "phr_started"
SESSION_SEEN = "phr_seen"
# The last-seen time is written at most this often: a session save on every request would be
# a database write per page, and a minute does not matter against a 30-minute idle limit.
SEEN_RESOLUTION = 60


def start_session_clock(session) -> None:
    """Called at login: the absolute and idle timeouts count from now."""
    now = int(time.time())
    session[SESSION_STARTED] = now
    session[SESSION_SEEN] = now


class SessionTimeoutMiddleware:
    """Ends a logged-in session after settings.PHR_SESSION_IDLE_TIMEOUT seconds without a
    request, and in any case settings.PHR_SESSION_ABSOLUTE_TIMEOUT seconds after login.

    The request then goes on as anonymous: pages redirect to the login form (with a message),
    the API answers 401/403. The expiry is audited.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            session = request.session
            now = int(time.time())
            started = session.get(SESSION_STARTED)
            seen = session.get(SESSION_SEEN)
            if started is None or seen is None:
                start_session_clock(session)
            elif (
                now - seen > settings.PHR_SESSION_IDLE_TIMEOUT
                or now - started > settings.PHR_SESSION_ABSOLUTE_TIMEOUT
            ):
                user = request.user
                audit.record(
                    action=Action.SESSION_EXPIRED,
                    request=request,
                    actor=user,
                    patient=user,
                    extra={"idle": now - seen > settings.PHR_SESSION_IDLE_TIMEOUT},
                )
                logout(request)
                messages.info(request, _("You were logged out to protect your records."))
            elif now - seen >= SEEN_RESOLUTION:
                session[SESSION_SEEN] = now
        return self.get_response(request)


# Paths a user without a second factor may still reach: setting one up, logging out, the
# language switch, the health check and the recipients' share pages (not logged-in pages).
MFA_EXEMPT_PREFIXES = ("/accounts/", "/_allauth/", "/i18n/", "/healthz", "/s/", "/shl/", "/mock/")


class MFARequiredMiddleware:
    """Asks for a second factor before anything else is reached.

    Staff: before the admin (where patients' data is), per settings.PHR_STAFF_MFA_REQUIRED.
    Everyone: before any page, per settings.PHR_PATIENT_MFA_REQUIRED (off by default; a
    deployment may turn it on). Users with MFA enabled are always asked for it at login.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_set_up(request):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": _("Set up two-factor authentication first.")}, status=403
                )
            messages.warning(
                request, _("Set up two-factor authentication to protect your health records.")
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)

    @staticmethod
    def _must_set_up(request) -> bool:
        user = request.user
        if not user.is_authenticated:
            return False
        path = request.path
        if user.is_staff and settings.PHR_STAFF_MFA_REQUIRED:
            applies = path.startswith(reverse("admin:index")) or (
                settings.PHR_PATIENT_MFA_REQUIRED and not path.startswith(MFA_EXEMPT_PREFIXES)
            )
        else:
            applies = settings.PHR_PATIENT_MFA_REQUIRED and not path.startswith(MFA_EXEMPT_PREFIXES)
        return applies and not is_mfa_enabled(user)

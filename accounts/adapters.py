from http import HTTPStatus
from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.headless.base.response import RateLimitResponse
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpResponse
from django.shortcuts import render

from accounts import throttle
from accounts.signals import record_rate_limited_login
from audit import domain as audit
from audit.models import Action
from core import mail


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request, **credentials):
        # Replaces allauth's per-e-mail failed-login limit (see accounts/throttle.py): one
        # attempt is reserved before the password is checked; allauth gives it back through
        # `_login_failed_rl_usage.rollback()` when the password was right. A refusal is a
        # security event the account owner should see, answered 429 with Retry-After.
        login = credentials.get("email") or credentials.get("username") or ""
        try:
            self._login_failed_rl_usage = throttle.reserve(
                login=login, address=self.get_client_ip(request)
            )
        except throttle.Throttled as refused:
            record_rate_limited_login(request, credentials)
            raise ImmediateHttpResponse(_too_many_attempts(request, refused.retry_after)) from None

    def _delete_login_attempts_cached_email(self, request, **credentials):
        # A password reset by e-mail proves the owner: their account-wide ceiling starts over.
        throttle.clear(login=credentials.get("email") or "")

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Rendered here (the request's language, its site, its links), delivered by the worker
        # after commit: an SMTP server that is down must not turn sign-up or a reset into a 500.
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": _product_site(request)}
        ctx.update(context)
        mail.send_after_commit(self.render_mail(template_prefix, email, ctx))


def _product_site(request) -> SimpleNamespace:
    """The site as allauth's e-mails name it ("Hello from PHR!"): the product's name, the
    request's domain. Without django.contrib.sites, allauth would name the host (127.0.0.1:8102)."""
    return SimpleNamespace(name=settings.PHR_PRODUCT_NAME, domain=get_current_site(request).domain)


def _too_many_attempts(request, retry_after: int) -> HttpResponse:
    if hasattr(request.allauth, "headless"):  # the app API: allauth's JSON 429
        response = RateLimitResponse(request)
    else:
        response = render(
            request,
            "429.html",
            {"minutes": max(1, round(retry_after / 60))},
            status=HTTPStatus.TOO_MANY_REQUESTS,
        )
    response["Retry-After"] = str(retry_after)
    return response


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    """Ending other sessions ("Where you are logged in") is a security action: audited."""

    def end_sessions(self, sessions) -> None:
        sessions = list(sessions)
        super().end_sessions(sessions)
        if sessions:
            user = sessions[0].user
            audit.record(
                action=Action.SESSIONS_ENDED,
                request=self.request,
                actor=user,
                patient=user,
                extra={"count": len(sessions)},
            )

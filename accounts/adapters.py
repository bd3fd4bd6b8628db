from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import ValidationError

from accounts.signals import record_rate_limited_login
from audit import domain as audit
from audit.models import Action
from phr import mail


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request, **credentials):
        # allauth refuses the attempt before checking the password while the failed-login
        # limit holds; the refusal is a security event the account owner should see.
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            record_rate_limited_login(request, credentials)
            raise

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Rendered here (the request's language, its site, its links), delivered by the worker
        # after commit: an SMTP server that is down must not turn sign-up or a reset into a 500.
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        mail.send_after_commit(self.render_mail(template_prefix, email, ctx))


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

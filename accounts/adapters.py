from allauth.account.adapter import DefaultAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.core.exceptions import ValidationError

from accounts.signals import record_rate_limited_login
from audit import domain as audit
from audit.models import Action


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request, **credentials):
        # allauth refuses the attempt before checking the password while the failed-login
        # limit holds; the refusal is a security event the account owner should see.
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            record_rate_limited_login(request, credentials)
            raise


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

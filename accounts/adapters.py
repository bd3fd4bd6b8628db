from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError

from accounts.signals import record_rate_limited_login


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request, **credentials):
        # allauth refuses the attempt before checking the password while the failed-login
        # limit holds; the refusal is a security event the account owner should see.
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            record_rate_limited_login(request, credentials)
            raise

"""The switcher's people, remembered in the session at login (sharing.delegation)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from sharing import delegation


@receiver(user_logged_in, dispatch_uid="sharing.remember_grants")
def remember_grants_at_login(sender, request, user, **kwargs):
    # One query: the grants the user holds, for the header's switcher on every page.
    if request is not None and hasattr(request, "session"):
        delegation.remember_grants(request, user=user)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from accounts import signals  # noqa: F401  (connects the audit receivers)

        _refuse_empty_reset_user_ids()


def _refuse_empty_reset_user_ids() -> None:
    """django-allauth 65.x splits a headless password-reset key "<uidb36>-<token>" and, when
    the user part is empty ("-x"), passes None on to base36_to_int: a TypeError, answered 500.
    No setting or adapter reaches UserTokenForm, so its user lookup is wrapped here: an empty
    user part is simply no user (the form then says the key is invalid, 400)."""
    from allauth.account.forms import UserTokenForm

    lookup = UserTokenForm._get_user
    if getattr(lookup, "refuses_empty", False):
        return

    def _get_user(self, uidb36):
        return lookup(self, uidb36) if uidb36 else None

    _get_user.refuses_empty = True
    UserTokenForm._get_user = _get_user

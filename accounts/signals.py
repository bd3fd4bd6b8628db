"""Audit receivers for authentication events raised by Django and django-allauth.

Receivers only translate a signal into audit.record(); they never log credentials:
Django has already replaced the password in `credentials`, and we do not keep the
attempted address either (it might be a mistyped password).
"""

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.middleware import start_session_clock
from accounts.models import User
from audit import domain as audit
from audit.models import Action


@receiver(auth_signals.user_logged_in)
def on_logged_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        start_session_clock(request.session)
    language = getattr(request, "LANGUAGE_CODE", "")
    if language and language != user.language:
        user.language = language
        User.objects.filter(pk=user.pk).update(language=language)
    audit.record(action=Action.LOGIN, request=request, actor=user, patient=user)


@receiver(post_save, sender=User)
def end_sessions_of_deactivated(sender, instance, **kwargs):
    """A deactivated account is logged out everywhere at once."""
    if not instance.is_active:
        from allauth.usersessions.models import UserSession

        for session in UserSession.objects.filter(user=instance):
            session.end()


@receiver(auth_signals.user_logged_out)
def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action=Action.LOGOUT, request=request, actor=user, patient=user)


def _account_for(credentials: dict) -> User | None:
    address = credentials.get("email") or credentials.get("username") or ""
    return User.objects.filter(email__iexact=address.strip()).first() if address else None


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    # The attempt is filed under the account it targeted (if any), so its owner sees it.
    audit.record(
        action=Action.LOGIN_FAILED,
        request=request,
        actor=None,
        patient=_account_for(credentials),
        extra={"stage": "password"},
    )


def record_rate_limited_login(request, credentials: dict) -> None:
    """Called by the account adapter when a login is refused by the failed-login limit."""
    audit.record(
        action=Action.LOGIN_FAILED,
        request=request,
        actor=None,
        patient=_account_for(credentials),
        extra={"stage": "rate_limited"},
    )


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender, request, user, **kwargs):
    audit.record(
        action=Action.LOGIN_FAILED,
        request=request,
        actor=None,
        patient=user,
        extra={"stage": "mfa", "reauthentication": bool(kwargs.get("reauthentication"))},
    )


@receiver(account_signals.password_changed)
@receiver(account_signals.password_set)
def on_password_changed(sender, request, user, **kwargs):
    audit.record(action=Action.PASSWORD_CHANGED, request=request, actor=user, patient=user)


@receiver(account_signals.password_reset)
def on_password_reset(sender, request, user, **kwargs):
    audit.record(action=Action.PASSWORD_RESET, request=request, actor=user, patient=user)


@receiver(account_signals.email_changed)
def on_email_changed(sender, request, user, **kwargs):
    audit.record(action=Action.EMAIL_CHANGED, request=request, actor=user, patient=user)


def _on_authenticator(action):
    def handler(sender, request, user, authenticator, **kwargs):
        audit.record(
            action=action,
            request=request,
            actor=user,
            patient=user,
            extra={"type": authenticator.type},
        )

    return handler


# Kept as module attributes: signals hold weak references to their receivers.
on_mfa_added = _on_authenticator(Action.MFA_ADDED)
on_mfa_removed = _on_authenticator(Action.MFA_REMOVED)
on_mfa_reset = _on_authenticator(Action.MFA_RESET)
mfa_signals.authenticator_added.connect(on_mfa_added)
mfa_signals.authenticator_removed.connect(on_mfa_removed)
mfa_signals.authenticator_reset.connect(on_mfa_reset)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """In-app notifications, each patient's choice of which kinds they get, and their e-mails
    (sent after commit by the mail task). Higher layers call `notifications.domain.notify`."""

    name = "notifications"
    verbose_name = _("Notifications")

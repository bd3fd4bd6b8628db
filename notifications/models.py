"""What PHR tells a person, and which kinds they want (in the app, by e-mail).

A Notification holds no clinical content: its kind, a few plain values its message is written
from (an institution's name, a count, a share's label), and a link inside PHR. The message is
written when it is shown, in the reader's language.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    VACCINATION_DUE = "vaccination_due", _("A vaccination is due or overdue")
    CHECKUP_DUE = "checkup_due", _("A health check-up is due")
    NEW_RESULTS = "new_results", _("New results arrived from an institution")
    SYNC_FAILED = "sync_failed", _("An update from an institution failed and needs you")
    SHARE_OPENED = "share_opened", _("Someone opened records you shared")


class Notification(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # Whose records it is about, when that is not the reader (a child's, for their guardian).
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=300, blank=True)
    # At most one notification per key and reader (a reminder of one due dose): set by the
    # caller for what must not repeat, empty otherwise.
    key = models.CharField(max_length=200, blank=True)
    in_app = models.BooleanField(default=True)  # False: kept only so that it is not sent again
    emailed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], condition=~Q(key=""), name="notification_once_per_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["user", "created"],
                condition=Q(in_app=True, read_at__isnull=True),
                name="notification_unread",
            )
        ]

    def __str__(self):
        return f"{self.kind} for user {self.user_id}"


class Preference(models.Model):
    """One person's choice for one kind; a kind without a row has both channels on."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    in_app = models.BooleanField(_("in PHR"), default=True)
    email = models.BooleanField(_("by e-mail"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")
        ]

    def __str__(self):
        return f"{self.kind} for user {self.user_id}"

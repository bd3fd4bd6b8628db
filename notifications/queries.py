"""Reading a person's notifications: their own, never anyone else's (by the reader, not an
actor: a notification is addressed to a person, whoever they act for)."""

from django.db.models import QuerySet

from notifications.models import Notification


def notifications_for(user) -> QuerySet[Notification]:
    """The notifications shown to `user` in PHR, newest first."""
    return Notification.objects.filter(user=user, in_app=True)


def unread_count(user) -> int:
    return notifications_for(user).filter(read_at__isnull=True).count()

"""Audit housekeeping run by Celery beat."""

from celery import shared_task

from audit import domain


@shared_task(name="audit.tasks.purge_expired_events")
def purge_expired_events():
    """Delete events past their retention period (daily, see CELERY_BEAT_SCHEDULE)."""
    return domain.purge_expired()

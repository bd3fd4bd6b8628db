"""Sharing's scheduled work, run by Celery beat (thin wrappers over the domain)."""

from celery import shared_task

from sharing import family


@shared_task(name="sharing.tasks.end_guardian_grants")
def end_guardian_grants():
    """Guardian grants at the child's 14th birthday: notices 30 days ahead, the end on the day
    (hourly, see CELERY_BEAT_SCHEDULE; each step happens once per child)."""
    result = family.end_guardian_grants()
    return {"notices": result.notices, "ended": result.ended, "shares": result.shares_revoked}

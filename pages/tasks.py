"""Thin Celery wrappers for pages (explicit names: queued messages carry them)."""

from celery import shared_task

from pages import reminders


@shared_task(name="pages.tasks.send_due_reminders")
def send_due_reminders():
    """Vaccination and check-up reminders, at most one per due item (beat, daily)."""
    return reminders.send_due_reminders()

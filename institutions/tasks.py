"""Thin Celery wrappers around institutions.sync: primitive arguments, enqueued after commit."""

from celery import shared_task

from institutions import sync


@shared_task(bind=True, max_retries=None, acks_late=True)
def sync_run(self, *, run_id: int):
    """Perform one sync run (see sync.execute_run). Re-tried later while the run is busy."""
    try:
        return sync.execute_run(run_id=run_id)
    except sync.Busy as busy:
        raise self.retry(countdown=busy.seconds) from None


@shared_task
def recover_runs():
    """Re-send runs that no worker holds (beat, every minute)."""
    return sync.recover_runs()


@shared_task
def schedule_syncs():
    """Queue the linked sources that are due for a re-sync (beat)."""
    return sync.schedule_due_sources()

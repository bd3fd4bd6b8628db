"""Thin Celery wrappers around the sync: primitive arguments, enqueued after commit.

Each task has an explicit name, the one it had when Celery named it after this module: queued
messages carry the name, so moving or renaming the code must never change it.
"""

import logging

from celery import shared_task

from institutions import sync, sync_notices, sync_schedule

logger = logging.getLogger(__name__)

# How many times a delivery waits for a run that cannot start (the institution at its cap, or
# another worker holding the lease) before it gives up. Nothing is lost then: the run is still
# queued (or running under the other worker's lease), and recover_runs sends it again.
BUSY_RETRIES = 30


@shared_task(name=sync.SYNC_RUN_TASK, bind=True, max_retries=BUSY_RETRIES, acks_late=True)
def sync_run(self, *, run_id: int):
    """Perform one sync run (see sync.execute_run). Tried again later while the run is busy,
    at most BUSY_RETRIES times."""
    try:
        status = sync.execute_run(run_id=run_id)
    except sync.Busy as busy:
        if self.request.retries >= BUSY_RETRIES:
            logger.info("sync busy, left for recovery run=%s", run_id)
            return None
        raise self.retry(countdown=busy.seconds) from None
    # The patient is told of new records, or of a failure that needs them, once per run.
    sync_notices.run_ended(run_id=run_id, status=status)
    return status


@shared_task(name="institutions.tasks.recover_runs")
def recover_runs():
    """Re-send runs that no worker holds (beat, every minute)."""
    return sync_schedule.recover_runs()


@shared_task(name="institutions.tasks.schedule_syncs")
def schedule_syncs():
    """Queue the linked sources that are due for a re-sync (beat)."""
    return sync_schedule.schedule_due_sources()

"""Periodic sync work, run by Celery beat (institutions.tasks): sending again the runs no worker
holds, and queueing re-syncs of the sources that are due.

Both send runs through institutions.sync.enqueue, the one path to the broker: if it is down the
runs stay queued, no exception escapes, and the next recovery sends them.
"""

import datetime as dt
import random

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from institutions.models import (
    ACTIVE_RUN_STATES,
    RunStatus,
    RunTrigger,
    Source,
    SourceKind,
    SourceStatus,
    SyncRun,
)
from institutions.sync import enqueue


def recover_runs() -> int:
    """Send again the runs no worker holds: queued ones whose enqueue may have been lost (or
    whose task gave up waiting for the institution's cap), and running ones whose worker died
    (lease lapsed). Returns how many were sent."""
    now = timezone.now()
    stale = SyncRun.objects.filter(
        Q(status=RunStatus.QUEUED, created__lt=now - dt.timedelta(minutes=2))
        | Q(status=RunStatus.RUNNING, lease_until__lt=now)
    ).only("pk")
    count = 0
    for run in stale:
        enqueue(run)
        count += 1
    return count


def schedule_due_sources(*, limit: int = 1000) -> int:
    """Queue syncs of linked sources not synced within the interval, spread over 10 minutes.

    The per-institution cap is applied when each run is claimed.
    """
    due = timezone.now() - dt.timedelta(hours=settings.PHR_SYNC_INTERVAL_HOURS)
    sources = (
        Source.objects.filter(
            status=SourceStatus.ACTIVE,
            kind=SourceKind.INSTITUTION,
            institution__status="active",
        )
        .filter(Q(last_synced_at__lt=due) | Q(last_synced_at__isnull=True))
        .exclude(runs__status__in=ACTIVE_RUN_STATES)
        .order_by("last_synced_at")[:limit]
    )
    count = 0
    for index, source in enumerate(sources):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(source=source, trigger=RunTrigger.SCHEDULE)
        except IntegrityError:
            continue
        countdown = (index * 600 / max(limit, 1)) + random.uniform(0, 5)  # noqa: S311
        enqueue(run, countdown=countdown)
        count += 1
    return count

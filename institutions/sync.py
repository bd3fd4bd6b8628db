"""Sync runs: request one, claim it, perform it, record how it ended.

One run per source at a time (a partial unique index on active runs); a run is claimed under a
lease that it renews page by page, so a worker that dies mid-sync lets the lease lapse and
another worker resumes from the cursor committed with the last page — at most one page is
fetched twice, and the upsert makes that harmless. At most `max_concurrent_syncs` runs of an
institution hold a lease at once (Busy: try later). A run that crashes is tried again a bounded
number of times (PHR_SYNC_ATTEMPTS), then fails with a reason a person can read.

The work itself — what to ask the institution, page by page, and storing it — is
institutions.sync_pull; periodic work (recovering runs, scheduling re-syncs) is
institutions.sync_schedule; the Celery tasks, institutions.tasks.
"""

import logging
import random
import traceback

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from institutions import fhir_client, sync_pull
from institutions.messages import Message, message
from institutions.models import (
    ACTIVE_RUN_STATES,
    Institution,
    RunStatus,
    Source,
    SourceKind,
    SourceStatus,
    SyncRun,
)
from records import readmodels

logger = logging.getLogger(__name__)

SYNC_RUN_TASK = "institutions.tasks.sync_run"  # the worker's entry point (institutions.tasks)


class Busy(Exception):
    """The run cannot start now (another worker holds it, or the institution is at its cap)."""

    def __init__(self, seconds: float):
        super().__init__(f"retry in {seconds:.0f}s")
        self.seconds = seconds


# --- Requesting runs ---------------------------------------------------------------------


def enqueue(run: SyncRun, *, countdown: float | None = None) -> None:
    """Send the run to a worker once the current transaction commits (after `countdown`
    seconds if given): the one path every run takes to the broker.

    If the broker is unreachable the run stays queued: recover_runs() sends it again, and the
    patient sees it as waiting, not as an error page.

    Sent by the task's name, which institutions.tasks gives it explicitly: the tasks call this
    module, so importing them here would make a cycle.
    """

    def send():
        try:
            current_app.send_task(SYNC_RUN_TASK, kwargs={"run_id": run.pk}, countdown=countdown)
        except Exception as exc:  # kombu/redis raise many types; none may fail the request
            logger.warning("enqueue deferred run=%s: %s", run.pk, type(exc).__name__)

    transaction.on_commit(send)


def request_sync(*, source: Source, trigger: str) -> tuple[SyncRun, bool]:
    """Queue a sync of `source` unless one is already queued or running.

    Returns (run, created). A second trigger gets the active run back and starts nothing.
    Side effects: a SyncRun row; a Celery task after commit.
    """
    if source.status != SourceStatus.ACTIVE:
        raise ValueError("An unlinked source is not synced.")
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(source=source, trigger=trigger)
    except IntegrityError:  # the partial unique index: a run is already active
        return SyncRun.objects.get(source=source, status__in=ACTIVE_RUN_STATES), False
    enqueue(run)
    return run, True


# --- Running -----------------------------------------------------------------------------


def claim(run_id: int) -> SyncRun | None:
    """Take the run for this worker, or say why not (None: nothing to do; Busy: later)."""
    now = timezone.now()
    with transaction.atomic():
        # Row lock: two deliveries of the same task (redelivery after a lost ack) must not
        # both see the run as claimable.
        run = (
            SyncRun.objects.select_for_update(of=("self",))
            .select_related("source__institution")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status not in ACTIVE_RUN_STATES:
            return None
        if run.status == RunStatus.RUNNING and run.lease_until and run.lease_until > now:
            raise Busy((run.lease_until - now).total_seconds() + 1)
        if run.status == RunStatus.RUNNING:  # its worker died holding the lease: an attempt
            run.crashes += 1
            if run.crashes >= settings.PHR_SYNC_ATTEMPTS:
                run.status, run.finished_at, run.lease_until = RunStatus.FAILED, now, None
                reason = _crash_reason(message(gettext_noop("the worker stopped")), run.crashes)
                run.error, run.error_message = str(reason), reason.to_json()
                run.save(
                    update_fields=[
                        "status",
                        "finished_at",
                        "lease_until",
                        "error",
                        "error_message",
                        "crashes",
                    ]
                )
                return None
        institution = run.source.institution
        if institution is not None and _running_elsewhere(run, now) >= (
            institution.max_concurrent_syncs
        ):
            raise Busy(random.uniform(5, 15))  # noqa: S311 - staggering, not security
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or now
        run.lease_until = sync_pull.lease_deadline()
        run.save(update_fields=["status", "started_at", "lease_until", "crashes"])
    return run


def _running_elsewhere(run: SyncRun, now) -> int:
    """How many other runs of the run's institution hold a lease, counted after locking the
    institution's row: the cap is a count-then-start, which two workers starting syncs against
    the same hospital at once would otherwise both pass. Two statements on purpose: a count in
    the locking statement itself would read the snapshot taken before the lock was granted, and
    miss the run that the lock's previous holder just started (seen: 5 running at a cap of 3)."""
    Institution.objects.select_for_update().filter(pk=run.source.institution_id).first()
    return (
        SyncRun.objects.filter(
            source__institution_id=run.source.institution_id,
            status=RunStatus.RUNNING,
            lease_until__gt=now,
        )
        .exclude(pk=run.pk)
        .count()
    )


def execute_run(*, run_id: int) -> str | None:
    """Claim and perform a run. Returns its final status, or None if there was nothing to do.

    Raises Busy when it must be tried again later.
    """
    run = claim(run_id)
    if run is None:
        return None
    try:
        if run.source.kind == SourceKind.UPLOAD:
            sync_pull.import_upload(run)
        else:
            sync_pull.pull(run)
    except SoftTimeLimitExceeded:
        # Not a failure: give the lease back and continue from the cursor in a new task.
        SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, lease_until=None)
        enqueue(run)
        return RunStatus.QUEUED
    except fhir_client.FHIRError as exc:
        _fail(run, exc.message, detail=exc.detail)
        return RunStatus.FAILED
    except sync_pull.Stopped:
        return RunStatus.FAILED
    except Exception as exc:
        # A bug or a fault nobody foresaw: tried again a bounded number of times, then the run
        # fails with a reason instead of staying "running" while recovery re-sends it forever.
        return _crashed(run, exc)
    _succeed(run)
    return RunStatus.SUCCEEDED


def _crash_reason(error, attempts: int) -> Message:
    return message(
        gettext_noop(
            "The sync stopped because of an unexpected error (%(error)s), %(attempts)d times "
            "in a row. It has been logged for the operators; try again later."
        )
    ) % {"error": error, "attempts": attempts}


def _crashed(run: SyncRun, exc: Exception) -> str:
    """Count an abnormal end of the run; queue it again after a back-off, or fail it for good
    once PHR_SYNC_ATTEMPTS is reached. Returns the run's new status.

    The log names the exception's type and where it was raised, never its message: that can
    quote a resource's content.
    """
    where = "".join(traceback.format_tb(exc.__traceback__, limit=-3)).strip()
    logger.error("sync crashed run=%s: %s at\n%s", run.pk, type(exc).__name__, where)
    # An error can leave the connection broken (a cut connection, an aborted transaction).
    connection.close_if_unusable_or_obsolete()
    try:
        with transaction.atomic():
            crashes = (
                SyncRun.objects.select_for_update().values_list("crashes", flat=True).get(pk=run.pk)
            )
            crashes += 1
            if crashes >= settings.PHR_SYNC_ATTEMPTS:
                reason = _crash_reason(type(exc).__name__, crashes)
                SyncRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.FAILED,
                    crashes=crashes,
                    error=str(reason),
                    error_message=reason.to_json(),
                    finished_at=timezone.now(),
                    lease_until=None,
                )
                return RunStatus.FAILED
            SyncRun.objects.filter(pk=run.pk).update(
                status=RunStatus.QUEUED, crashes=crashes, lease_until=None
            )
    except Exception:
        # The database itself is failing: the run keeps its lease, which lapses; recovery
        # re-sends it and claim() counts the attempt then.
        logger.warning("sync crash not recorded run=%s", run.pk)
        raise exc from None
    enqueue(run, countdown=settings.PHR_SYNC_RETRY_DELAY * 2 ** (crashes - 1))
    return RunStatus.QUEUED


def _fail(run: SyncRun, reason: Message | str, *, detail: str = "") -> None:
    logger.warning("sync failed run=%s source=%s: %s", run.pk, run.source_id, detail or reason)
    SyncRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        error=str(reason),
        error_message=reason.to_json() if isinstance(reason, Message) else {},
        finished_at=timezone.now(),
        lease_until=None,
    )


def _succeed(run: SyncRun) -> None:
    now = timezone.now()
    with transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED,
            finished_at=now,
            lease_until=None,
            error="",
            error_message={},
        )
        updates = {"last_synced_at": now}
        if run.server_time:
            updates["high_water_mark"] = run.server_time
        Source.objects.filter(pk=run.source_id).update(**updates)
        if run.source.last_synced_at is None:  # as claimed: one run of a source at a time
            # Its first completed sync: its records are known now, none or some, and the
            # pages that said they had not arrived (readmodels.unfetched_names) start again.
            readmodels.bump(patient_id=run.source.patient_id)

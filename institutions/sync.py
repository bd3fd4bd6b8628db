"""The sync engine: pull a source's FHIR resources into Record rows, page by page.

One run per source at a time (a partial unique index on active runs); a run is claimed under a
lease that it renews page by page, so a worker that dies mid-sync lets the lease lapse and
another worker resumes from the cursor committed with the last page — at most one page is
fetched twice, and the upsert makes that harmless. Incremental from the source's high-water
mark (`_since`). Validation with fhir.resources R4B only for new or changed resources: an
unchanged resource (same content hash) was validated when it was stored.
"""

import datetime as dt
import logging
import random
import traceback
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from institutions import checks, fhir_client
from institutions.messages import Message, message
from institutions.models import (
    ACTIVE_RUN_STATES,
    Institution,
    RunStatus,
    RunTrigger,
    Source,
    SourceKind,
    SourceStatus,
    SyncIssue,
    SyncRun,
)
from records.fhirfile import parse_fhir_entries, upload_owners
from records.ingest import ingest_page
from records.models import Record
from records.projection import parse_fhir_datetime

logger = logging.getLogger(__name__)


class Busy(Exception):
    """The run cannot start now (another worker holds it, or the institution is at its cap)."""

    def __init__(self, seconds: float):
        super().__init__(f"retry in {seconds:.0f}s")
        self.seconds = seconds


# --- Requesting runs ---------------------------------------------------------------------


def enqueue(run: SyncRun) -> None:
    """Send the run to a worker once the current transaction commits.

    If the broker is unreachable the run stays queued: recover_runs() sends it again, and the
    patient sees it as waiting, not as an error page.
    """
    from institutions import tasks

    def send():
        try:
            tasks.sync_run.delay(run_id=run.pk)
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


def _lease() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.PHR_SYNC_LEASE_SECONDS)


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
        if institution is not None:
            # Institution row lock: the per-institution cap is a count-then-start, which two
            # workers starting syncs against the same hospital at once would both pass.
            Institution.objects.select_for_update().filter(pk=institution.pk).first()
            running = (
                SyncRun.objects.filter(
                    source__institution=institution, status=RunStatus.RUNNING, lease_until__gt=now
                )
                .exclude(pk=run.pk)
                .count()
            )
            if running >= institution.max_concurrent_syncs:
                raise Busy(random.uniform(5, 15))  # noqa: S311 - staggering, not security
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or now
        run.lease_until = _lease()
        run.save(update_fields=["status", "started_at", "lease_until", "crashes"])
    return run


def execute_run(*, run_id: int) -> str | None:
    """Claim and perform a run. Returns its final status, or None if there was nothing to do.

    Raises Busy when it must be tried again later.
    """
    run = claim(run_id)
    if run is None:
        return None
    try:
        if run.source.kind == SourceKind.UPLOAD:
            _import_upload(run)
        else:
            _pull(run)
    except SoftTimeLimitExceeded:
        # Not a failure: give the lease back and continue from the cursor in a new task.
        SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, lease_until=None)
        enqueue(run)
        return RunStatus.QUEUED
    except fhir_client.FHIRError as exc:
        _fail(run, exc.message, detail=exc.detail)
        return RunStatus.FAILED
    except _Stopped:
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
    _send_later(run, countdown=settings.PHR_SYNC_RETRY_DELAY * 2 ** (crashes - 1))
    return RunStatus.QUEUED


def _send_later(run: SyncRun, *, countdown: float) -> None:
    from institutions import tasks

    try:
        tasks.sync_run.apply_async(kwargs={"run_id": run.pk}, countdown=countdown)
    except Exception as exc:  # the broker: recover_runs() re-sends a queued run
        logger.warning("enqueue deferred run=%s: %s", run.pk, type(exc).__name__)


class _Stopped(Exception):
    """The source was unlinked while its run was going on."""


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


def store_page(run: SyncRun, resources: Iterable, *, owners: frozenset[str] = frozenset()) -> dict:
    """Store one page of resources for the run's source (records.ingest) and record what was
    refused as the run's SyncIssues.

    `owners`: for an upload, the ids and fullUrls of the file's Patients (from the whole file).

    Returns the page's counts, by the run's counter fields.
    Side effects: Record inserts/updates and SyncIssue rows — within the caller's transaction.
    """
    source = run.source
    upload = source.kind == SourceKind.UPLOAD
    # Whose records these are: an institution's resources must all be its patient's (a lenient
    # server that ignored a search parameter answers with everyone's); an upload's, the file's
    # Patients' (whose file it is, is asked when it is imported). A file naming no Patient has
    # nobody to hold it to: the import asked the patient to confirm it.
    stored = ingest_page(
        source_id=source.pk,
        patient_id=source.patient_id,
        resources=resources,
        owners=owners if upload else frozenset({source.patient_ref} - {""}),
        dedupe_with=Source.objects.filter(
            patient_id=source.patient_id, kind=SourceKind.UPLOAD
        ).values_list("pk", flat=True)
        if upload
        else None,
    )
    SyncIssue.objects.bulk_create(
        SyncIssue(
            run=run,
            resource_type=refusal.resource_type[:40],
            resource_id=refusal.resource_id[:100],
            code=refusal.code,
            params=refusal.params,
            display=refusal.display[:200],
            effective=refusal.effective,
        )
        for refusal in stored.refusals
    )
    return {
        "fetched": stored.fetched,
        "created_count": stored.created,
        "updated": stored.updated,
        "unchanged": stored.unchanged,
        "invalid": stored.invalid,
    }


def _commit_page(
    run: SyncRun, resources: list, cursor: dict, *, owners: frozenset[str] = frozenset(), **extra
) -> None:
    """Store a page and move the cursor in one transaction: a crash replays at most this page."""
    with transaction.atomic():
        if not Source.objects.filter(pk=run.source_id, status=SourceStatus.ACTIVE).exists():
            stopped = message(gettext_noop("Stopped: the source was unlinked."))
            SyncRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED,
                finished_at=timezone.now(),
                lease_until=None,
                error=str(stopped),
                error_message=stopped.to_json(),
            )
            raise _Stopped
        counts = store_page(run, resources, owners=owners)
        for field, value in counts.items():
            setattr(run, field, getattr(run, field) + value)
        run.cursor = cursor
        run.lease_until = _lease()
        for field, value in extra.items():
            setattr(run, field, value)
        run.save(update_fields=[*counts, "cursor", "lease_until", *extra])


def _first_request(run: SyncRun, index: int) -> tuple[str, dict]:
    source = run.source
    params = {"_count": settings.PHR_SYNC_PAGE_SIZE}
    if run.since:
        params["_since" if run.cursor.get("mode") == "everything" else "_lastUpdated"] = (
            run.since.isoformat()
            if run.cursor.get("mode") == "everything"
            else f"gt{run.since.isoformat()}"
        )
    if run.cursor.get("mode") == "everything":
        return f"Patient/{source.patient_ref}/$everything", params
    resource_type, param, *ids = run.cursor["plan"][index]
    if ids:  # a batch of the resources the records reference: read by id, whenever changed
        return resource_type, {"_count": settings.PHR_SYNC_PAGE_SIZE, "_id": ids[0]}
    if resource_type == "Patient":  # `patient` is no parameter of Patient: read it by id
        return "Patient", {**params, "_id": source.patient_ref}
    return resource_type, {**params, param: f"Patient/{source.patient_ref}"}


def _restart(run: SyncRun, reason: Message | str) -> None:
    if run.restarts >= settings.PHR_SYNC_RESTARTS:
        raise fhir_client.TransientError(reason)
    logger.info("sync restart run=%s: %s", run.pk, reason)
    run.restarts += 1
    run.cursor, run.total, run.fetched = {}, None, 0
    run.save(update_fields=["restarts", "cursor", "total", "fetched"])


def _pull(run: SyncRun) -> None:
    """Page through the institution's FHIR search for the source's patient."""
    source = run.source
    institution = source.institution
    with fhir_client.FHIRClient(institution) as client:
        while True:
            if not run.cursor or (run.cursor["mode"] == "types" and "plan" not in run.cursor):
                run.since = source.high_water_mark
                mode = "everything" if institution.supports_everything else "types"
                run.cursor = {"mode": mode, "index": 0, "url": None, "received": 0}
                if mode == "types":
                    # What the server says it can search by patient now; kept in the cursor so
                    # that a resumed run asks for the same types.
                    capability = client.capability()
                    run.cursor["plan"] = checks.patient_searches(capability)
                    run.cursor["refer"] = checks.referenced_types(capability)
                run.total = None
                run.save(update_fields=["since", "cursor", "total"])
            if _pull_pages(run, client):
                return


def _reference_batches(run: SyncRun, types: list[str]) -> list[list[str]]:
    """[type, "_id", "a,b,c"] searches for the resources of `types` (no patient's) that the
    source's records reference: PHR_SYNC_REFERENCE_BATCH ids a request, at most
    PHR_SYNC_REFERENCE_CAP a run (the rest is logged, not guessed at)."""
    if not types:
        return []
    source = run.source
    wanted = checks.references_to(
        Record.objects.filter(source=source)
        .values_list("resource", flat=True)
        .iterator(chunk_size=500),
        set(types),
        source.institution.fhir_base_url,
    )
    chosen = sorted(wanted)[: settings.PHR_SYNC_REFERENCE_CAP]
    if len(chosen) < len(wanted):
        logger.warning("sync references capped run=%s: %d of %d", run.pk, len(chosen), len(wanted))
    size = settings.PHR_SYNC_REFERENCE_BATCH
    batches = []
    for resource_type in types:
        ids = [rid for kind, rid in chosen if kind == resource_type]
        batches += [
            [resource_type, "_id", ",".join(ids[n : n + size])] for n in range(0, len(ids), size)
        ]
    return batches


def _pull_pages(run: SyncRun, client) -> bool:
    """Fetch pages from the cursor to the end. True when complete; False to start again."""
    cursor = dict(run.cursor)
    types = cursor.get("plan", [])
    while True:
        try:
            if cursor["url"]:
                bundle = client.get_json(cursor["url"], paging=True)
            else:
                path, params = _first_request(run, cursor["index"])
                bundle = client.get_json(path, params)
        except fhir_client.PageExpired as exc:
            _restart(run, exc.message)
            return False
        if bundle.get("resourceType") != "Bundle":
            raise fhir_client.TransientError(
                message(gettext_noop("The hospital answered a search without a Bundle."))
            )
        extra = {}
        if not cursor["url"]:  # the first page of a search: what the server says it holds
            total = bundle.get("total")
            extra["total"] = (run.total or 0) + total if isinstance(total, int) else run.total
            if cursor["index"] == 0 and run.server_time is None:
                extra["server_time"] = parse_fhir_datetime(
                    (bundle.get("meta") or {}).get("lastUpdated")
                )
        resources = [e.get("resource") for e in bundle.get("entry", []) if isinstance(e, dict)]
        next_url = next(
            (link.get("url") for link in bundle.get("link", []) if link.get("relation") == "next"),
            None,
        )
        asked = types[cursor["index"]] if cursor["mode"] == "types" else []
        keep = resources
        if len(asked) == 3:  # only what was asked for: never a directory a server sent instead
            wanted = {(asked[0], rid) for rid in asked[2].split(",")}
            keep = [
                r
                for r in resources
                if not isinstance(r, dict) or (r.get("resourceType"), str(r.get("id"))) in wanted
            ]
        # Distinct resources, and whatever else an entry held (a page's count includes it);
        # str(): a hostile page's type or id can be a list, which a set cannot hold.
        cursor["received"] += len(
            {
                (str(r.get("resourceType")), str(r.get("id")))
                for r in resources
                if isinstance(r, dict)
            }
        ) + sum(1 for r in resources if not isinstance(r, dict))
        if next_url:
            cursor["url"] = next_url
        elif cursor["mode"] == "types" and cursor["index"] + 1 < len(types):
            cursor["index"], cursor["url"] = cursor["index"] + 1, None
        else:
            cursor["url"], cursor["done"] = None, True
        _commit_page(run, keep, dict(cursor), **extra)
        if cursor.get("done") and cursor["mode"] == "types" and "refer_planned" not in cursor:
            # The patient's records are in: read what they reference that no patient search
            # brings. Planned once, kept in the cursor: a resumed run neither redoes nor loses it.
            batches = _reference_batches(run, cursor.get("refer", []))
            cursor["refer_planned"] = len(batches)
            if batches:
                types = cursor["plan"] = [*types, *batches]
                cursor["index"], cursor["url"] = cursor["index"] + 1, None
                del cursor["done"]
            run.cursor = dict(cursor)
            run.save(update_fields=["cursor"])
        if cursor.get("done"):
            break
    # A page cut short loses resources silently; only the announced total tells.
    if run.total is not None and cursor["received"] < run.total:
        _restart(
            run,
            message(
                gettext_noop(
                    "The hospital sent fewer resources than it announced (%(got)d of %(total)d)."
                )
            )
            % {"got": cursor["received"], "total": run.total},
        )
        return False
    return True


def _import_upload(run: SyncRun) -> None:
    entries = parse_fhir_entries(bytes(run.source.upload.data))  # parsed once per task
    owners = upload_owners(entries)
    resources = [resource for resource, _full_url in entries]
    start = run.cursor.get("offset", 0)
    size = settings.PHR_SYNC_PAGE_SIZE
    if run.total is None:
        run.total = len(resources)
        run.save(update_fields=["total"])
    for offset in range(start, len(resources), size):
        _commit_page(
            run, resources[offset : offset + size], {"offset": offset + size}, owners=owners
        )


# --- Periodic work -----------------------------------------------------------------------


def recover_runs() -> int:
    """Send again the runs no worker holds: queued ones whose enqueue may have been lost, and
    running ones whose worker died (lease lapsed). Returns how many were sent."""
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
    from institutions import tasks

    count = 0
    for index, source in enumerate(sources):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(source=source, trigger=RunTrigger.SCHEDULE)
        except IntegrityError:
            continue
        countdown = (index * 600 / max(limit, 1)) + random.uniform(0, 5)  # noqa: S311
        transaction.on_commit(
            lambda run=run, countdown=countdown: tasks.sync_run.apply_async(
                kwargs={"run_id": run.pk}, countdown=countdown
            )
        )
        count += 1
    return count

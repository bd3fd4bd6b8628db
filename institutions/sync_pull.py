"""The work of a sync run: a source's resources, page by page, into records.

A run's cursor says where it is, and is committed with each page it stores (one transaction),
so a run stopped anywhere — a killed worker, a soft time limit — resumes from its last page:
  - `{"mode": "everything", "url", "received"}`: Patient/<id>/$everything;
  - `{"mode": "types", "plan", "index", "url", "received", "refer", "refer_planned"}`: one search
    by patient for each type the CapabilityStatement lists (the plan, kept so that a resumed
    run asks for the same), then reads by id of what the records reference that no patient
    search brings (planned once, appended to the plan);
  - `{"offset"}`: an uploaded file.
The FHIR client does the paging (next links, `_since`/`_lastUpdated`, the announced total and
the server's time); this module decides what to ask, stores what comes (records.ingest), counts
what was received against what was announced, and starts the search again when paging breaks
(PHR_SYNC_RESTARTS times). The run's lifecycle — claim, lease, cap, outcome — is
institutions.sync.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.queries import profile_for
from core.access import Actor
from institutions import checks, fhir_client, windows
from institutions.messages import Message, message
from institutions.models import RunStatus, Source, SourceKind, SourceStatus, SyncIssue, SyncRun
from records.fhirfile import parse_fhir_entries, upload_owners
from records.ingest import ingest_page, prepare_page
from records.models import Record

logger = logging.getLogger(__name__)


class Stopped(Exception):
    """The source was unlinked while its run was going on (the run is failed already)."""


def lease_deadline() -> dt.datetime:
    """Until when a worker holds a run it claimed or just stored a page of."""
    return timezone.now() + dt.timedelta(seconds=settings.PHR_SYNC_LEASE_SECONDS)


# --- Storing a page ------------------------------------------------------------------------


def store_page(
    run: SyncRun, resources: Iterable, *, owners: frozenset[str] = frozenset(), ahead=None
) -> dict:
    """Store one page of resources for the run's source (records.ingest) and record what was
    refused as the run's SyncIssues.

    `owners`: for an upload, the ids and fullUrls of the file's Patients (from the whole file).
    `ahead`: records.ingest.prepare_page of the page, if it was worked out while it was fetched.

    Returns the page's counts, by the run's counter fields.
    Side effects: Record inserts/updates and SyncIssue rows — within the caller's transaction.
    """
    source = run.source
    upload = source.kind == SourceKind.UPLOAD
    resources = windows.apply(run, resources)  # an agency's data windows (none for others)
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
        ahead=ahead,
    )
    SyncIssue.objects.bulk_create(
        SyncIssue(
            run=run,
            resource_type=_text(refusal.resource_type)[:40],
            resource_id=_text(refusal.resource_id)[:100],
            code=refusal.code,
            params=_text(refusal.params),
            display=_text(refusal.display)[:200],
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


def _text(value):
    """`value` with each NUL character (U+0000) shown as U+FFFD: a refused resource is named
    by what it says, and its name may hold the NUL it was refused for, which no text or JSON
    column of PostgreSQL takes (the whole page was lost)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def _commit_page(
    run: SyncRun,
    resources: list,
    cursor: dict,
    *,
    owners: frozenset[str] = frozenset(),
    ahead=None,
    **extra,
) -> None:
    """Store a page and move the cursor in one transaction: a worker's crash replays at most
    this page (a database server's, the pages of its last fraction of a second: see below).

    The run's row is written only while its source is still linked (one UPDATE, which also
    says whether it is): a source unlinked meanwhile rolls the page back and stops the run.
    """
    try:
        with transaction.atomic():
            counts = store_page(run, resources, owners=owners, ahead=ahead)
            if connection.vendor == "postgresql" and (counts["created_count"] or counts["updated"]):
                # The commit of a page that stored records does not wait for its WAL to reach
                # the disk (a sixth of a big sync's time waiting on the database). What a
                # server crash could lose is the last fraction of a second of pages, each
                # whole with its cursor: the run resumes from the cursor it finds and fetches
                # them again (upserts). Nothing in a page is what only PHR knows: the
                # hospital holds it.
                with connection.cursor() as statement:
                    statement.execute("SET LOCAL synchronous_commit TO OFF")
            for field, value in counts.items():
                setattr(run, field, getattr(run, field) + value)
            run.cursor = cursor
            run.lease_until = lease_deadline()
            for field, value in extra.items():
                setattr(run, field, value)
            fields = [*counts, "cursor", "lease_until", "since", *extra]
            linked = SyncRun.objects.filter(pk=run.pk, source__status=SourceStatus.ACTIVE).update(
                **{field: getattr(run, field) for field in fields}
            )
            if not linked:
                raise _Unlinked
    except _Unlinked:
        stopped = message(gettext_noop("Stopped: the source was unlinked."))
        SyncRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            lease_until=None,
            error=str(stopped),
            error_message=stopped.to_json(),
        )
        raise Stopped from None


class _Unlinked(Exception):
    pass


# --- Pulling from an institution ------------------------------------------------------


def pull(run: SyncRun) -> None:
    """Page through the institution's FHIR searches for the source's patient, from the run's
    cursor (a new cursor plans what to ask)."""
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
                if mode == "types":
                    run.save(update_fields=["since", "cursor", "total"])
                # $everything plans nothing a resumed run must repeat: the first page's
                # commit stores the cursor, `since` and the total (one query less per sync).
            if _pull_pages(run, client):
                return


def _restart(run: SyncRun, reason: Message | str) -> None:
    if run.restarts >= settings.PHR_SYNC_RESTARTS:
        raise fhir_client.TransientError(reason)
    logger.info("sync restart run=%s: %s", run.pk, reason)
    run.restarts += 1
    run.cursor, run.total, run.fetched = {}, None, 0
    run.save(update_fields=["restarts", "cursor", "total", "fetched"])


def _search(run: SyncRun, index: int) -> tuple[str, dict]:
    """The resource type and parameters of the plan's search at `index` (mode "types")."""
    source = run.source
    resource_type, param, *ids = run.cursor["plan"][index]
    if ids:  # a batch of the resources the records reference: read by id
        return resource_type, {"_id": ids[0]}
    if resource_type == "Patient":  # `patient` is no parameter of Patient: read it by id
        return "Patient", {"_id": source.patient_ref}
    return resource_type, {param: f"Patient/{source.patient_ref}"}


def _pages(run: SyncRun, client: fhir_client.FHIRClient, cursor: dict) -> Iterator:
    """The pages of the search the cursor is at, from its stored next link if it has one."""
    size = settings.PHR_SYNC_PAGE_SIZE
    prepare = _preparer(run)
    if cursor["url"]:
        return client.resume(cursor["url"], prepare=prepare)
    if cursor["mode"] == "everything":
        return client.everything(
            run.source.patient_ref, since=run.since, page_size=size, prepare=prepare
        )
    resource_type, params = _search(run, cursor["index"])
    by_id = len(cursor["plan"][cursor["index"]]) == 3  # referenced reads: whenever changed
    return client.search(
        resource_type,
        params,
        since=None if by_id else run.since,
        page_size=size,
        prepare=prepare,
    )


def _preparer(run: SyncRun):
    """What the client works out of a page fetched ahead, in its thread, while this run
    stores the page before (records.ingest.prepare_page: validation and projection, which
    the database's work on the page before would otherwise not overlap). Only while the run
    stores more than it finds unchanged: a server that sends everything again on each sync
    (one ignoring `_since`) would have every unchanged resource validated for nothing. The
    run's counts are read as they are when the page arrives (a page's own thread writes
    none of them)."""

    owners = frozenset({run.source.patient_ref} - {""})  # as store_page holds them

    def prepare(resources):
        if run.unchanged > run.created_count + run.updated:
            return None
        return prepare_page(resources, owners=owners)

    return prepare


def _pull_pages(run: SyncRun, client: fhir_client.FHIRClient) -> bool:
    """Fetch pages from the cursor to the end. True when complete; False to start again."""
    cursor = dict(run.cursor)
    while not cursor.get("done"):
        try:
            for page in _pages(run, client, cursor):
                _take_page(run, cursor, page)
        except fhir_client.PageExpired as exc:
            _restart(run, exc.message)
            return False
        except fhir_client.Gone:
            # The patient's id (kept since linking: no search per sync) is no longer known —
            # a merged or renumbered record. Found again by the verified identity, once.
            if cursor["url"] or not _by_patient(run, cursor):
                raise
            _find_patient_again(run, client)
            return False
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


def _by_patient(run: SyncRun, cursor: dict) -> bool:
    """Whether the cursor's search is one addressed by the patient's id."""
    return cursor["mode"] == "everything" or len(cursor["plan"][cursor["index"]]) == 2


def _find_patient_again(run: SyncRun, client: fhir_client.FHIRClient) -> None:
    """The institution says it does not know the source's patient id: look the patient up by
    their verified identity (as linking did), keep the new id and start a full sync with it.
    Raises PermanentError with a reason when the institution does not know them any more."""
    source = run.source
    profile = profile_for(Actor.patient(source.patient))
    found = client.find_patient(profile.verified_identifier) if profile.is_verified else None
    if found is None or found == source.patient_ref or run.restarts >= settings.PHR_SYNC_RESTARTS:
        raise fhir_client.PermanentError(
            message(
                gettext_noop(
                    "The hospital no longer has records under the patient number it gave when "
                    "you linked it, nor under your verified identity. If your details there "
                    "changed, check them with the hospital, then link it again."
                )
            )
        )
    logger.info("sync patient id changed at the institution run=%s source=%s", run.pk, source.pk)
    # Another id: what was synced up to the high-water mark was the old id's, so a full sync.
    Source.objects.filter(pk=source.pk).update(patient_ref=found, high_water_mark=None)
    source.patient_ref, source.high_water_mark = found, None
    run.restarts += 1
    run.cursor, run.total, run.fetched, run.server_time = {}, None, 0, None
    run.save(update_fields=["restarts", "cursor", "total", "fetched", "server_time"])


def _take_page(run: SyncRun, cursor: dict, page: fhir_client.Page) -> None:
    """Store a page and move `cursor` past it: to its next link, the plan's next search, or
    the end (planning the referenced reads once the patient's searches are done)."""
    extra = {}
    if page.first:  # the first page of a search: what the server says it holds
        total = page.total
        extra["total"] = (run.total or 0) + total if total is not None else run.total
        if cursor["index"] == 0 and run.server_time is None:
            extra["server_time"] = page.server_time
    resources = page.resources
    next_url = page.next_url
    types = cursor.get("plan", [])
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
        {(str(r.get("resourceType")), str(r.get("id"))) for r in resources if isinstance(r, dict)}
    ) + sum(1 for r in resources if not isinstance(r, dict))
    if next_url:
        cursor["url"] = next_url
    elif cursor["mode"] == "types" and cursor["index"] + 1 < len(types):
        cursor["index"], cursor["url"] = cursor["index"] + 1, None
    else:
        cursor["url"], cursor["done"] = None, True
    _commit_page(run, keep, dict(cursor), ahead=page.prepared, **extra)
    if cursor.get("done") and cursor["mode"] == "types" and "refer_planned" not in cursor:
        # The patient's records are in: read what they reference that no patient search
        # brings. Planned once, kept in the cursor: a resumed run neither redoes nor loses it.
        batches = _reference_batches(run, cursor.get("refer", []))
        cursor["refer_planned"] = len(batches)
        if batches:
            cursor["plan"] = [*types, *batches]
            cursor["index"], cursor["url"] = cursor["index"] + 1, None
            del cursor["done"]
        run.cursor = dict(cursor)
        run.save(update_fields=["cursor"])


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


# --- Importing an upload -------------------------------------------------------------


def import_upload(run: SyncRun) -> None:
    """Store an uploaded file's resources page by page, from the offset in the cursor."""
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

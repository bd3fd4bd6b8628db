"""From a page of FHIR resources to stored Record rows: hash, validate, project, insert/update.

The one way resources come into PHR, whoever fetched them (an institution's sync, an uploaded
file). Validation (records.validation: the official FHIR R4 JSON Schema, compiled natively)
only for new or changed resources, before anything is stored: an unchanged resource (same
content hash) was validated when it was stored. Nothing is stored unvalidated, and what is
stored is visible when the caller's transaction commits. What the caller knows about the
source comes in as plain values; what was refused goes back as values (Refusal) for the caller
to record where it keeps them (institutions: SyncIssue rows of the run).
"""

import contextlib
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.db import connection

from records import readmodels
from records.bulk import insert_rows, update_records
from records.models import Record
from records.projection import canonical_json, project
from records.validation import (
    INVALID,
    NO_TYPE_OR_ID,
    OTHER_PATIENT,
    TOO_DEEP,
    names_other_patient,
    nul_character,
    number_out_of_range,
    problem,
    validate,
)

logger = logging.getLogger(__name__)
# A valid resource whose columns could not be computed (a case the projection does not know).
# A number beyond any database's range (records.validation) is written in the canonical text
# with an exponent (str(Decimal): "1E+131072", "1.5E-20000") or as over 16,383 digits: only
# then is the resource walked. Measured on a Synthea patient's resources: this test 1.4 µs a
# resource (writing the canonical text: 3.9 µs; a sync: about 140 µs); a pattern that also
# matched long runs of digits cost 57 µs.
_EXPONENT = re.compile(rb"E[+-][0-9]")
_LONG_PLAIN_NUMBER = 16_383


def _may_hold_a_huge_number(canonical: bytes) -> bool:
    return len(canonical) > _LONG_PLAIN_NUMBER or _EXPONENT.search(canonical) is not None


UNREADABLE = (INVALID, {"problems": [problem((), "unreadable")], "more": 0})


@dataclass(frozen=True)
class Refusal:
    """A resource that was not stored, and why (a records.validation code and its parameters),
    named for its patient by type, id, display text and date where it could be read."""

    resource_type: str
    resource_id: str
    code: str
    params: dict = field(default_factory=dict)
    display: str = ""
    effective: dt.datetime | None = None


@dataclass
class Ingested:
    """What a page came to: how many resources it held and what became of each."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0  # refused: len(refusals)
    refusals: list[Refusal] = field(default_factory=list)


@dataclass
class Prepared:
    """What ingest works out of one resource without the database or its owners: its
    canonical JSON (hashed, and stored as it is) and digest, or the refusal found before
    either is of use (too deep, a NUL character, a number out of range); and, when it was
    worked out ahead of its page (`checked`), whether it is valid R4 (`problem`), its
    columns (None: project it where it is stored, which logs and refuses what fails) and the
    element naming a patient other than `owners` (names_other_patient)."""

    resource: dict
    canonical: bytes = b""
    digest: str = ""
    refused: tuple | None = None
    checked: bool = False
    problem: tuple | None = None
    columns: object = None
    owners: frozenset = frozenset()
    element: object = None


def _prepare(resource: dict, *, check: bool = False, owners: frozenset = frozenset()) -> Prepared:
    try:
        canonical = canonical_json(resource)
    except TypeError:  # nested deeper than JSON can be written back (orjson's limit)
        return Prepared(resource, refused=TOO_DEEP)
    # orjson writes U+0000 as \u0000 (a raw backslash is \\): only then is there one to find.
    if b"\\u0000" in canonical:
        nul = nul_character(resource)
        if nul:
            return Prepared(resource, refused=nul)
    if _may_hold_a_huge_number(canonical):
        huge = number_out_of_range(resource)
        if huge:
            return Prepared(resource, refused=huge)
    ready = Prepared(resource, canonical, hashlib.sha256(canonical).hexdigest())
    if check:
        ready.owners = owners
        ready.element = names_other_patient(resource, owners) if owners else None
        ready.problem = validate(resource)
        if not ready.problem:
            # What fails is projected again where it is stored, which logs it and refuses it.
            with contextlib.suppress(Exception):
                ready.columns = project(resource).columns()
        ready.checked = True
    return ready


def prepare_page(
    resources: Iterable, *, owners: frozenset = frozenset()
) -> dict[tuple[str, str], Prepared]:
    """{(type, id): Prepared, checked} of a page's resources (`owners`: as ingest_page will
    be given them), worked out before the page is stored and without the database: a sync
    does it for the next page while the database stores the one before
    (institutions.sync_pull). The work is the same whether a resource turns out new, changed
    or unchanged; ingest_page uses it, and works out itself whatever is not here. Never
    raises: what fails here is worked out again (and refused, with its reason) by
    ingest_page."""
    prepared = {}
    with contextlib.suppress(Exception):  # what is left out is worked out by ingest_page
        for resource in resources:
            if not isinstance(resource, dict):
                continue
            resource_type, resource_id = resource.get("resourceType"), resource.get("id")
            if (
                isinstance(resource_type, str)
                and isinstance(resource_id, str | int)
                and not isinstance(resource_id, bool)
            ):
                key = (resource_type, str(resource_id))
                prepared[key] = _prepare(resource, check=True, owners=owners)
    return prepared


def _refusal(resource: dict, code: str, params: dict | None = None) -> Refusal:
    try:  # best effort on a resource that may be malformed in any way
        columns = project(resource, facts=False)  # a malformed dosage must not hide its name
        display, effective = columns.display, columns.effective
    except Exception:  # naming it must not fail its refusal
        display, effective = "", None
    return Refusal(
        resource_type=str(resource["resourceType"]),
        resource_id=str(resource["id"]),
        code=code,
        params=params or {},
        display=display or "",
        effective=effective,
    )


def _held_elsewhere(
    patient_id: int, source_id: int, sources: Iterable[int], page: dict
) -> dict[tuple[str, str], set[str]]:
    """{(type, id): content hashes} of this page's resources that `sources` (the patient's other
    uploaded files) already brought in."""
    if not page:
        return {}
    held: dict[tuple[str, str], set[str]] = {}
    for resource_type, resource_id, digest in (
        Record.objects.filter(
            patient_id=patient_id,
            source_id__in=sources,
            resource_type__in={key[0] for key in page},
            resource_id__in={key[1] for key in page},
        )
        .exclude(source_id=source_id)
        .values_list("resource_type", "resource_id", "content_hash")
    ):
        held.setdefault((resource_type, resource_id), set()).add(digest)
    return held


def _stored(source_id: int, page: dict) -> dict[tuple[str, str], tuple[int, str]]:
    """{(type, id): (pk, content hash)} of the page's resources that the source stored before."""
    if not page:
        return {}
    if connection.vendor == "postgresql":
        # Two array parameters instead of a thousand: Django binds IN-lists client-side, which
        # cost as much as the lookup itself on a page of 1,000 (B1's profile). One probe of
        # the unique index per resource (LATERAL … LIMIT 1 keeps the planner from hashing):
        # during a first sync the statistics know nothing of the new source, and the hash
        # join they chose read every row the sync had stored so far, for each page (28 ms a
        # page on average in B1, against 4 ms).
        table = connection.ops.quote_name(Record._meta.db_table)
        types, ids = zip(*page, strict=True)
        sql = (
            "SELECT r.id, r.resource_type, r.resource_id, r.content_hash "  # noqa: S608  # nosec B608 (our table)
            "FROM unnest(%s::text[], %s::text[]) AS wanted (resource_type, resource_id) "
            f"CROSS JOIN LATERAL (SELECT id, resource_type, resource_id, content_hash FROM {table} "
            "WHERE source_id = %s AND resource_type = wanted.resource_type "
            "AND resource_id = wanted.resource_id LIMIT 1) r"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(types), list(ids), source_id])
            rows = cursor.fetchall()
    else:
        rows = Record.objects.filter(
            source_id=source_id,
            resource_type__in={t for t, _ in page},
            resource_id__in={sid for _, sid in page},
        ).values_list("pk", "resource_type", "resource_id", "content_hash")
    return {(t, sid): (pk, digest) for pk, t, sid, digest in rows}


def ingest_page(
    *,
    source_id: int,
    patient_id: int,
    resources: Iterable,
    owners: Collection[str] = frozenset(),
    dedupe_with: Iterable[int] | None = None,
    ahead: dict | None = None,
) -> Ingested:
    """Validate, project and insert or update one page of resources for a source.

    `owners`: whose records these are — the patient's id at an institution, or the ids and
    fullUrls of an uploaded file's Patients; a resource naming another patient is refused (and
    its row, if an older version stored it, deleted). Empty: nobody to hold them to (a file
    naming no Patient, which the patient confirmed as theirs).
    `dedupe_with`: the ids of sources (a queryset of them serves as a subquery) whose identical
    resources are not stored again — for an upload, the patient's other uploads, so counts,
    lists and exports never hold the same resource (type, id and content) twice.
    `ahead`: prepare_page() of these resources, worked out while the page before was stored;
    a resource it does not hold (or holds another object for) is worked out here.

    Unchanged resources (same content hash) cost one lookup. Side effects: Record inserts,
    updates and deletes, and the patient's data version bumped when any happened, within the
    caller's transaction. Refusals are returned, not stored.
    """
    result = Ingested()
    page: dict[tuple[str, str], dict] = {}
    for resource in resources:
        result.fetched += 1
        if (
            not isinstance(resource, dict)
            or not isinstance(resource.get("resourceType"), str)
            or not resource["resourceType"]
            or not isinstance(resource.get("id"), str | int)
            or resource["id"] in ("", True, False)
        ):
            named = isinstance(resource, dict)
            result.refusals.append(
                Refusal(
                    resource_type=str(resource.get("resourceType", "?")) if named else "?",
                    resource_id=str(resource.get("id", "")) if named else "",
                    code=NO_TYPE_OR_ID,
                )
            )
            continue
        key = (resource["resourceType"], str(resource["id"]))
        if "\x00" in key[0] or "\x00" in key[1]:  # not even looked up: no column holds it
            result.refusals.append(
                _refusal(
                    resource, *nul_character(dict(zip(("resourceType", "id"), key, strict=True)))
                )
            )
            continue
        page[key] = resource  # a repeat: last wins
    existing = _stored(source_id, page)
    elsewhere = (
        _held_elsewhere(patient_id, source_id, dedupe_with, page) if dedupe_with is not None else {}
    )
    creates, updates, foreign = [], [], []
    for (resource_type, resource_id), resource in page.items():
        ready = ahead.get((resource_type, resource_id)) if ahead else None
        if ready is None or ready.resource is not resource:  # not worked out ahead: now
            ready = _prepare(resource)
        if ready.refused:
            result.refusals.append(_refusal(resource, *ready.refused))
            continue
        canonical, digest = ready.canonical, ready.digest
        known = existing.get((resource_type, resource_id))
        if ready.checked and ready.owners == owners:
            element = ready.element
        else:
            element = names_other_patient(resource, owners) if owners else None
        if element:
            result.refusals.append(_refusal(resource, OTHER_PATIENT, {"element": element}))
            if known:  # stored by a version without this check: it goes now
                foreign.append(known[0])
            continue
        if known and known[1] == digest:
            result.unchanged += 1
            continue
        if not known and digest in elsewhere.get((resource_type, resource_id), ()):
            result.unchanged += 1  # already in PHR from another file: not stored twice
            continue
        problem = ready.problem if ready.checked else validate(resource)
        if problem:
            result.refusals.append(_refusal(resource, *problem))
            continue
        try:
            columns = ready.columns or project(resource).columns()
        except Exception:  # a valid resource the projection cannot read: refused, not a crash
            logger.exception("projection failed for a %s", resource_type)
            result.refusals.append(_refusal(resource, *UNREADABLE))
            continue
        if known:
            updates.append(
                Record(
                    pk=known[0],
                    patient_id=patient_id,
                    source_id=source_id,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    content_hash=digest,
                    resource=resource,
                    **columns,
                )
            )
        else:
            creates.append(
                {
                    "patient_id": patient_id,
                    "source_id": source_id,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "content_hash": digest,
                    "resource": resource,
                    "resource_json": canonical.decode(),
                    **columns,
                }
            )
    insert_rows(creates)
    update_records(updates)
    if foreign:
        Record.objects.filter(pk__in=foreign).delete()
    if creates or updates or foreign:
        # The patient's summaries (records.readmodels) are kept per data version: a new one.
        readmodels.bump(patient_id=patient_id)
    result.created, result.updated = len(creates), len(updates)
    result.invalid = len(result.refusals)
    return result

"""What the explainer is given: read models over a scoped queryset of records (the patient's
own, or a grant's: `records_for(actor)`), so that no summary reaches a record its reader may
not see. Each function names its queries; none grows with the number of records.
"""

import datetime as dt

from django.db.models import F, Q
from django.utils import timezone

from core.access import Actor
from records import queries
from records.explain import explainer
from records.explain.models import LastLooked
from records.models import Category

FIRST_LOOK = dt.timedelta(days=30)  # what the digest covers before the first "mark as seen"
DIGEST_RESULTS = 8  # routine results; urgent ones are all listed, before them
# Every test's latest new result is read (one per code: bounded by the tests a patient has,
# not by their records) so that none that needs the contact prompt is cut.
DIGEST_CANDIDATES = 1000
DIGEST_EVENTS = 10


def _same_code(a, b) -> bool:
    return bool(({a.code_value, a.code_alt} - {""}) & ({b.code_value, b.code_alt} - {""}))


def _histories(records, tested: list, *, until=None) -> list[list]:
    """For each tested record, its results (same category and a shared code) up to and
    including it, oldest first: one query for all of them."""
    if not tested:
        return []
    codes = {c for r in tested for c in (r.code_value, r.code_alt) if c}
    rows = records.filter(
        Q(code_value__in=codes) | Q(code_alt__in=codes),
        category__in={r.category for r in tested},
        value_num__isnull=False,
        effective__isnull=False,
    )
    if until is not None:
        rows = rows.filter(effective__lte=until)
    rows = list(
        rows.defer("search_text").select_related("source__institution").order_by("effective", "id")
    )
    histories = []
    for record in tested:
        points = [
            r
            for r in rows
            if r.pk != record.pk
            and r.category == record.category
            and _same_code(r, record)
            and r.effective <= record.effective
        ]
        histories.append([*points, record])
    return histories


def encounter_references(encounter) -> list[str]:
    """How the records of a visit name it: a relative reference, or the urn:uuid of a
    transaction Bundle (Synthea), kept as sent."""
    return [f"Encounter/{encounter.resource_id}", f"urn:uuid:{encounter.resource_id}"]


def visit_summary(records, encounter, *, today=None):
    """The summary of one visit: `encounter` a record of `records` (the caller found it through
    record_for). Queries: the records naming it (same source), the tested results' histories."""
    related = list(
        records.filter(
            source_id=encounter.source_id,
            resource__encounter__reference__in=encounter_references(encounter),
        )
        .exclude(pk=encounter.pk)
        .select_related("source__institution")
        .order_by("category", "effective", "id")
    )
    tested = [
        r
        for r in related
        if r.category in (Category.LAB, Category.VITAL)
        and r.value_num is not None
        and r.effective is not None
    ]
    until = max((r.effective for r in tested), default=None)
    results = _histories(records, tested, until=until)
    return explainer().visit(encounter, related, today=today, results=results)


def last_looked(actor: Actor):
    """When the actor's patient last marked the digest as seen (None: never)."""
    row = LastLooked.objects.filter(patient_id=actor.patient_id).first()
    return row.looked_at if row else None


def mark_seen(*, actor: Actor, when=None) -> dt.datetime:
    """Record that the patient has seen what changed. Only one who may manage the patient's
    account marks it (a delegate who only reads leaves the patient's digest as it is); returns
    the time. Side effect: the patient's LastLooked row, created or updated."""
    if not actor.may_manage:
        raise PermissionError("only the patient marks their digest as seen")
    when = when or timezone.now()
    LastLooked.objects.update_or_create(patient_id=actor.patient_id, defaults={"looked_at": when})
    return when


def urgent_first(latest: list, limit: int) -> list:
    """Every result that needs the contact prompt (newest first), then the newest routine
    ones up to `limit`; `latest` newest first, with their resources."""
    engine = explainer()
    is_urgent = getattr(engine, "urgent", None)
    urgent = [r for r in latest if is_urgent and is_urgent(r)]
    routine = [r for r in latest if not (is_urgent and is_urgent(r))]
    return urgent + routine[:limit]


def digest(records, *, since, today=None):
    """What arrived in `records` after `since` (a time; None: the last 30 days). Queries: the
    counts by category, the new diagnoses and medications, the latest new result of each test,
    their histories."""
    cutoff = since or timezone.now() - FIRST_LOOK
    new = records.filter(created__gt=cutoff)
    # The patient's own demographics and unclassified rows are no news to explain.
    counts = {
        k: v
        for k, v in queries.category_counts(new).items()
        if v and k not in (Category.PATIENT, Category.OTHER)
    }
    events = []
    seen = set()
    for record in (
        new.filter(category__in=[Category.CONDITION, Category.MEDICATION])
        .defer("search_text")
        .select_related("source__institution")
        .order_by(F("effective").desc(nulls_last=True), "-id")[: DIGEST_EVENTS * 3]
    ):
        # A repeat prescription or a diagnosis recorded again at each visit: said once.
        key = (record.category, record.code_value or record.display)
        if key not in seen and len(events) < DIGEST_EVENTS:
            seen.add(key)
            events.append(record)
    latest = queries.with_resources(
        queries.latest_per_code(
            new.filter(
                category__in=[Category.LAB, Category.VITAL],
                value_num__isnull=False,
                effective__isnull=False,
            ).exclude(code_value=""),
            DIGEST_CANDIDATES,
            uncoded=False,
        )
    )
    results = _histories(records, urgent_first(latest, DIGEST_RESULTS))
    return explainer().digest(events, since=since, today=today, counts=counts, results=results)


def glance(records, *, today=None):
    """My health at a glance: the clinical summary's sections in plain words, each latest
    result with its trend over its recent points (records.queries.results_overview)."""
    sections = queries.summary_sections(records)
    queries.with_resources([r for rows in sections.values() for r in rows])
    tests = [t["points"] for t in queries.results_overview(records)]
    # A vital sign whose latest reading has no date (only undated ones: year 1 or 9999) has
    # no trend to explain.
    vitals = [
        record
        for record in queries.latest_by_code(records, Category.VITAL)
        if record.effective and record.value_num is not None
    ]
    tests += _histories(records, queries.with_resources(vitals))
    return explainer().glance(sections, tests, today=today)

"""Read models: the summaries the pages show, computed once per data version and then read with
one query (the patient's data version) and one cache get.

A patient's records change only through `records.ingest` (a sync or an import storing,
updating or deleting rows) and a purge; each of those calls `bump(patient_id=...)` in the
transaction of the change, so the new version becomes visible together with the new rows.
A summary is stored in the configured cache (Redis in production and tests) under
(name, patient, the actor's scope, the language, the data version).

Correct under concurrent syncs: the version is read *before* the summary is computed, so what
is stored under version v was computed from data at least as new as v. A sync that commits
v+1 while v is being computed leaves v holding data that may already include it (harmless:
nobody reads v once v+1 is visible) and never lets v+1 hold data older than v+1. Readers of
v+1 miss the cache and compute it afresh.

When the cache is unreachable the page still answers: the summary is computed for the request
(and a warning logged), as it was before read models existed.
"""

import functools
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import django
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from core.access import Actor, Scope
from records import charts, queries
from records.models import Category, DataVersion, Record

logger = logging.getLogger(__name__)

# Old versions are never read again: they expire. A week keeps an idle patient's pages warm.
TTL = 7 * 24 * 3600


def bump(*, patient_id: int) -> None:
    """Count one change to `patient_id`'s records. Call it in the transaction that changes
    them (after the writes): the row stays locked until that transaction ends, so concurrent
    changes of one patient's records each get their own version, in commit order.
    Side effect: the patient's DataVersion row is created or incremented."""
    table = connection.ops.quote_name(DataVersion._meta.db_table)
    with connection.cursor() as cursor:
        # One statement on PostgreSQL and SQLite (≥ 3.24) alike: no read-then-write race.
        cursor.execute(
            f"INSERT INTO {table} (patient_id, version) VALUES (%s, 1) "  # noqa: S608  # nosec B608 (our table)
            f"ON CONFLICT (patient_id) DO UPDATE SET version = {table}.version + 1",
            [patient_id],
        )


def forget(*, patient_id: int) -> None:
    """Remove the patient's kept summaries and pages of every version from the cache, at once
    rather than when they expire: after a purge their records must not stay in the cache for a
    week (they are never served again — the version moved on — but they are still there).
    Best effort: the Redis cache (SCAN by the keys' pattern) and the database cache (one
    DELETE); another backend keeps them until they expire. Call it after the purge commits."""
    pattern = cache.make_key(f"rm1:*:{patient_id}:*")
    try:
        if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # RedisCache
            client = cache._cache.get_client(write=True)
            batch = []
            for found in client.scan_iter(match=pattern, count=1000):
                batch.append(found)
                if len(batch) == 1000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
        elif hasattr(cache, "_table"):  # DatabaseCache
            like = pattern.replace("%", r"\%").replace("_", r"\_").replace("*", "%")
            table = connection.ops.quote_name(cache._table)
            # The table is the cache's own (quoted); the key pattern is a parameter.
            statement = f"DELETE FROM {table} WHERE cache_key LIKE %s ESCAPE '\\'"  # noqa: S608  # nosec B608
            with connection.cursor() as cursor:
                cursor.execute(statement, [like])
    except Exception:  # the cache down: the entries expire on their own
        logger.warning("read model cache unavailable (forget)", exc_info=True)


def version(patient_id: int) -> int:
    """The patient's data version (0 before anything was stored): one query."""
    return DataVersion.objects.filter(pk=patient_id).values_list("version", flat=True).first() or 0


def scope_key(scope: Scope) -> str:
    if scope.is_whole:
        return "all"
    text = "|".join(
        [
            ",".join(sorted(scope.categories)),
            ",".join(str(i) for i in sorted(scope.source_ids)),
            scope.date_from.isoformat() if scope.date_from else "",
            scope.date_to.isoformat() if scope.date_to else "",
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def key(actor: Actor, name: str, part: str, data_version: int) -> str:
    # `part` (a lab code, say) comes from a URL: hashed, so any text makes a valid key.
    digest = hashlib.sha256(part.encode()).hexdigest()[:16] if part else "-"
    return ":".join(
        [
            "rm1",
            # What is kept is a pickle of this release's classes: the next release, on the same
            # cache, computes its own (an object of the release before may lack what its code
            # reads).
            release(),
            name,
            str(actor.patient_id),
            scope_key(actor.scope),
            digest,
            get_language() or "-",
            # What is current (a medication, a check-up due) and "measured 3 days ago" change
            # with the day, not only with the data: a new day's first request computes again.
            timezone.localdate().isoformat(),
            f"v{data_version}",
        ]
    )


def read(
    actor: Actor,
    name: str,
    compute: Callable[[], object],
    *,
    part: str = "",
    data_version: int | None = None,
):
    """The summary `name` (with `part`, e.g. a lab code) of what `actor` may see: from the cache
    for the patient's current data version (`data_version`, read now if not given), or
    computed by `compute()` and stored there. `compute` must read through `records_for(actor)`
    (or a queryset built on it) only."""
    if data_version is None:
        data_version = version(actor.patient_id)
    cache_key = key(actor, name, part, data_version)
    try:
        value = cache.get(cache_key)
    except Exception:  # an unreachable cache must not fail the page
        logger.warning("read model cache unavailable (get %s)", name, exc_info=True)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(cache_key, value, TTL)
        except Exception:  # as above
            logger.warning("read model cache unavailable (set %s)", name, exc_info=True)
    return value


# --- The summaries ---------------------------------------------------------------------------
# Each is what a page shows of `records_for(actor)`, computed as the pages computed it before,
# then made small for the cache (measured at 20,000 records: the vital signs' charts pickled to
# 25 MB with a raw resource and a copy of its source and institution in every point).


def slim(records, *, keep_resource=()) -> None:
    """Fit `records` for the cache: their sources made one object per source (pickle stores a
    shared object once, not once per record), and their raw resources left out except on the
    records in `keep_resource` (the latest result, whose reference range a page shows); a page
    that reads another's resource loads it, as a deferred field, correctly but with a query."""
    sources: dict[int, object] = {}
    kept = {id(record) for record in keep_resource}
    for record in records:
        cached = record._state.fields_cache
        if "source" in cached:
            cached["source"] = sources.setdefault(record.source_id, cached["source"])
        if id(record) not in kept:
            record.__dict__.pop("resource", None)


class Points(list):
    """A chart's points as the cache keeps them (plain values: queries.series_points, the
    latest the Record itself) with what the values table needs, built once: `rows`, its rows
    (charts.values_rows, each link to be completed by the page: records.templatetags
    values_rows), `shown`, how many of the values they list, and `codes`, the series' codes
    (the table's link to every value on the timeline)."""

    rows: str = ""
    shown: int = 0
    codes: str = ""


def _slim_chart(panel: dict) -> dict:
    """A chart's context for the cache: its points with the values table (see Points); the
    chart's SVG markup (points_svg) is what the template draws of its points."""
    points = Points(panel["points"])
    points.rows = charts.values_rows(points, link=charts.ROW_LINK)
    points.shown = min(len(points), charts.TABLE_ROWS)
    codes = {point.code_value for point in points}  # a few codes for thousands of points
    points.codes = ",".join(sorted({queries.code_token(code) for code in codes if code}))
    panel["points"] = points
    return panel


def labs_overview(actor: Actor) -> list[dict]:
    """The labs page: each test with its latest result, its flag and its sparkline."""

    def compute():
        tests = queries.results_overview(queries.records_for(actor))
        for test in tests:
            test["spark"] = charts.sparkline(test["points"])
            test["flag"] = charts.flag(test["latest"])
        slim(
            [p for test in tests for p in test["points"]],
            keep_resource=[t["latest"] for t in tests],
        )
        return tests

    return read(actor, "labs", compute)


def unfetched_names(actor: Actor, *, data_version: int | None = None) -> list[str]:
    """The names of the linked sources `actor` may see that have not completed a sync yet
    (queries.unfetched_sources). Kept per data version: linking, unlinking and a source's
    first completed sync bump it (institutions.domain, institutions.sync)."""
    return read(
        actor,
        "unfetched",
        lambda: [name for _pk, name in queries.unfetched_sources(actor)],
        data_version=data_version,
    )


def summary_sections(actor: Actor, *, data_version: int | None = None) -> dict:
    """The patient summary's sections (queries.summary_sections) of what `actor` may see
    (`data_version`: as read()'s), as records/_summary_sections.html reads them: `sections`,
    and `none_current`, the categories whose section is empty although records of them are
    there (medications over or starting later: "No current medication.", not "None
    recorded."; one query, only when the section is empty)."""

    def compute():
        records = queries.records_for(actor)
        sections = queries.summary_sections(records, categories=actor.scope.categories)
        listed = [record for section in sections.values() for record in section]
        slim(listed, keep_resource=listed)  # a few records: the sources shared only
        medication, shown = Category.MEDICATION, actor.scope.categories
        none_current = []
        if (
            not sections[medication]
            and (not shown or medication in shown)
            and records.filter(category=medication).exists()
        ):
            none_current.append(medication)
        return {"sections": sections, "none_current": none_current}

    return read(actor, "summary", compute, data_version=data_version)


def lab_detail(actor: Actor, code: str, *, keep: bool = True) -> dict | None:
    """One test's page (charts.lab_detail_context): its results, the latest and the chart;
    kept per data version, or with `keep=False` computed (for a page that keeps its HTML:
    pickling the data beside it, 873 points at 20,000 records, cost a cold page 8 ms)."""

    def compute():
        context = charts.lab_detail_context(queries.records_for(actor), code)
        return _slim_chart(context) if context else None

    return read(actor, "lab", compute, part=code) if keep else compute()


def lab_latest(actor: Actor, code: str):
    """The latest result of one test (what lab_detail's `latest` is), or None when `actor`
    sees none: the lab page's title, and whether it is found at all."""

    def compute():
        latest = queries.series_latest(queries.records_for(actor), (code,), Category.LAB)
        if latest is not None:
            slim([latest], keep_resource=[latest])
        return latest

    return read(actor, "lab-name", compute, part=code)


def vital_panels(actor: Actor) -> list[dict]:
    """The vital signs page's charts (charts.vital_panels). Not kept itself: the two pages
    that show them (vital signs, the share view) keep their HTML (rendered), and pickling
    thousands of points beside it cost a cold page 50 ms and the cache twice the memory."""
    return [_slim_chart(panel) for panel in charts.vital_panels(queries.records_for(actor))]


def record_counts_by_source(actor: Actor) -> dict[int, int]:
    """{source id: how many of the records `actor` may see came from it} (the dashboard's
    list of sources, also polled while a sync goes on: each stored page is a new version)."""

    def compute():
        return dict(
            queries.records_for(actor)
            .order_by()
            .values_list("source_id")
            .annotate(n=Count("*"))  # COUNT(*): an index-only scan of (patient, source)
            .values_list("source_id", "n")
        )

    return read(actor, "source-counts", compute)


def sources(actor: Actor):
    """The sources the records `actor` may see came from, with their institutions (what a
    filter by institution offers, on the timeline, search, the records API and the share
    form): their ids (queries.source_ids) kept per data version, then one query by id."""
    ids = read(actor, "source-ids", lambda: queries.source_ids(queries.records_for(actor)))
    source_model = Record._meta.get_field("source").related_model
    return source_model.objects.filter(pk__in=ids).select_related("institution").order_by("created")


# --- Rendered parts of pages -----------------------------------------------------------------
# The heaviest pages (a medication history, vital signs with thousands of points) spent their
# time warm not computing but unpickling the summary and rendering it: hundreds of kB of HTML
# through the template engine on every request (B3: medications 2.4 s, vital signs 0.6 s at
# 20,000 records). Their record-dependent part is kept as HTML, per data version like the
# summaries, and per everything else the HTML depends on: the language (in every key), the
# URL prefix (a person acting for another sees links under /for/<code>/), the time zone, and
# the code that renders it (a deploy must not serve the old markup for a week).


# What shapes a rendered part besides the data: templates, translations, formats, the code of
# every app of ours (a view's context, a model's display name), the explanation content.
RELEASE_PARTS = (
    ("templates", "*.html"),
    ("locale", "*.mo"),
    ("records/explain/content", "*"),
    ("records/data", "*"),
    *(
        (app, "*.py")
        for app in (
            "core",
            "accounts",
            "audit",
            "notifications",
            "institutions",
            "records",
            "sharing",
            "pages",
            "phr",
        )
    ),
)


@functools.cache
def release() -> str:
    """A digest of what renders the kept HTML as deployed (RELEASE_PARTS, and Django's version
    for its own translations and filters): part of every rendered part's key."""
    digest = hashlib.sha256(django.get_version().encode())
    root = Path(settings.BASE_DIR)
    for folder, pattern in RELEASE_PARTS:
        for path in sorted(p for p in (root / folder).rglob(pattern) if p.is_file()):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rendered(
    request,
    name: str,
    template: str,
    context: Callable[[], dict],
    *,
    part="",
    actor=None,
    data_version: int | None = None,
):
    """The HTML of `template` with `context()` for what `actor` (by default request.actor) may
    see, from the cache for the patient's data version or rendered and stored there. The
    template must show only the records (no form, no CSRF token, nothing of the viewer but
    their language). The context has `not_fetched`, the names of the linked sources that have
    not completed a sync yet (unfetched_names): an empty section then says their records have
    not arrived, never "None recorded" (records/_none_recorded.html)."""
    actor = actor or request.actor
    if data_version is None:
        data_version = version(actor.patient_id)
    key_part = "|".join(
        [part, get_script_prefix(), timezone.get_current_timezone_name(), release()]
    )

    def render():
        names = unfetched_names(actor, data_version=data_version)
        return render_to_string(template, {**context(), "not_fetched": names}, request)

    html = read(actor, f"html-{name}", render, part=key_part, data_version=data_version)
    # Our templates' output, autoescaped when it was rendered.
    return mark_safe(html)  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703

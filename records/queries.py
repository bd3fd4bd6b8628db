"""The access-scoped queries over records. Every page, API view and export starts here.

Nothing loads all of a patient's rows: lists are keyset-paginated, counts are aggregates, and
series are bounded per test with window functions, so a patient with 20,000 records costs the
same number of queries as one with 20.
"""

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import connections
from django.db.models import (
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Window,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, RowNumber
from django.shortcuts import get_object_or_404

from core.access import Actor
from records import fhirjson, medications
from records.models import Category, Record

PAGE_SIZE = 50
SPARK_POINTS = 12
# Lists leave the raw resource and the search text in the database until a page asks for them.
HEAVY_FIELDS = ("resource", "search_text")


def records_for(actor: Actor) -> QuerySet[Record]:
    """The one question every surface asks: which records may this actor see? The actor's
    patient's records (also those kept after a source was unlinked) within the actor's scope;
    with a date range, records without a date are outside it."""
    records = Record.objects.filter(patient_id=actor.patient_id)
    scope = actor.scope
    if scope.categories:
        records = records.filter(category__in=scope.categories)
    if scope.source_ids:
        records = records.filter(source_id__in=scope.source_ids)
    if scope.date_from:
        records = records.filter(effective__date__gte=scope.date_from)
    if scope.date_to:
        records = records.filter(effective__date__lte=scope.date_to)
    return records


def record_for(actor: Actor, code) -> Record:
    """One record the actor may see, by its public code; 404 for any other."""
    return get_object_or_404(records_for(actor).select_related("source__institution"), code=code)


def patient_resource_ids(patient_id: int) -> list[tuple[int, str]]:
    """(source id, resource id) of each of the patient's own Patient resources, whatever an
    actor's scope: ids only, no content, so that an export knows which references name the
    patient (they are rewritten to its one Patient entry, also in a share's Bundle that holds
    no Patient record)."""
    return list(
        Record.objects.filter(patient_id=patient_id, resource_type="Patient").values_list(
            "source_id", "resource_id"
        )
    )


def source_ids(records: QuerySet[Record]) -> list[int]:
    """The ids of the sources `records` came from, in the order they were created. Each of the
    records' patient's sources is probed for one record (an index lookup each): DISTINCT over
    the records read every row of the patient (80 ms at 20,000 records, on every cold chart
    and list page)."""
    source_model = Record._meta.get_field("source").related_model
    return list(
        source_model.objects.filter(
            patient_id__in=records.order_by().values("patient_id")[:1],
        )
        .filter(Exists(records.filter(source_id=OuterRef("pk"))))
        .order_by("created", "pk")
        .values_list("pk", flat=True)
    )


def linked_agencies(patient_id: int) -> frozenset[str]:
    """The kinds of public agency ("nhis", "hira", "kdca") the patient has a linked source of:
    what the national pages may say was fetched. A page must not read "none recorded" or
    "overdue" from data that was never asked for. One query; the kind is read through the
    Record's `source` key (records stand below the app that owns sources)."""
    source_model = Record._meta.get_field("source").related_model
    kinds = (
        source_model.objects.filter(patient_id=patient_id, status="active", kind="institution")
        .exclude(institution__kind="hospital")
        .values_list("institution__kind", flat=True)
    )
    return frozenset(kinds)


def unfetched_sources(actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the linked sources the actor may see that have not completed a sync yet
    (the first one is running, or failed): what they hold is not known, so a page must not
    read "None recorded" while they are there. One query, read as linked_agencies reads."""
    source_model = Record._meta.get_field("source").related_model
    sources = source_model.objects.filter(
        patient_id=actor.patient_id, status="active", last_synced_at__isnull=True
    )
    if actor.scope.source_ids:
        sources = sources.filter(pk__in=actor.scope.source_ids)
    return [
        (source.pk, source.display_name)
        for source in sources.select_related("institution").order_by("created", "pk")
    ]


@dataclass(frozen=True)
class Filters:
    category: str = ""
    source: int | None = None
    code: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    text: str = ""


def code_tokens(text: str) -> list[str]:
    """The codes of a `code` filter: one, or several separated by commas as in a FHIR token
    search (a series' codes: the values table links to them all), where a comma within a code
    is written as a backslash and a comma, and a backslash as two (code_token writes them);
    each trimmed, empty ones left out."""
    codes, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            codes.append("".join(current))
            current = []
        else:
            current.append(char)
    codes.append("".join(current))
    return [code.strip() for code in codes if code.strip()]


def code_token(code: str) -> str:
    """`code` as one code of a `code` filter (code_tokens reads it back)."""
    return code.replace("\\", "\\\\").replace(",", "\\,")


def filtered(queryset: QuerySet[Record], filters: Filters) -> QuerySet[Record]:
    if filters.category:
        queryset = queryset.filter(category=filters.category)
    if filters.source:
        queryset = queryset.filter(source_id=filters.source)
    codes = code_tokens(filters.code)
    if codes:
        queryset = queryset.filter(Q(code_value__in=codes) | Q(code_alt__in=codes))
    if filters.date_from:
        queryset = queryset.filter(effective__date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(effective__date__lte=filters.date_to)
    if filters.text:
        queryset = queryset.filter(search_text__icontains=filters.text)
    return queryset


# --- Keyset pages ----------------------------------------------------------------------------


def encode_cursor(record) -> str:
    effective = record.effective.isoformat() if record.effective else None
    return base64.urlsafe_b64encode(json.dumps([effective, record.id]).encode()).decode()


def decode_cursor(token: str) -> tuple[dt.datetime | None, int] | None:
    try:
        effective, pk = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (dt.datetime.fromisoformat(effective) if effective else None), int(pk)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


def page(
    queryset: QuerySet[Record], *, after: str = "", size: int = PAGE_SIZE
) -> tuple[list[Record], str]:
    """One page, newest first (records without a date last), and the cursor of the next page.

    Keyset pagination on (effective DESC NULLS LAST, id DESC): page 400 costs what page 1 costs.
    """
    ordered = (
        queryset.defer(*HEAVY_FIELDS)
        .select_related("source__institution")
        .order_by(F("effective").desc(nulls_last=True), "-id")
    )
    position = decode_cursor(after) if after else None
    if position:
        effective, pk = position
        if effective is None:
            ordered = ordered.filter(effective__isnull=True, id__lt=pk)
        else:
            ordered = ordered.filter(
                Q(effective__lt=effective)
                | Q(effective=effective, id__lt=pk)
                | Q(effective__isnull=True)
            )
    rows = list(ordered[: size + 1])
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else ""
    return rows[:size], next_cursor


def category_counts(records: QuerySet[Record]) -> dict[str, int]:
    counts = dict(records.values_list("category").annotate(n=Count("*")).order_by())
    return {category: counts.get(category, 0) for category in Category.values}


# --- Duplicates across institutions ----------------------------------------------------------


def merge_duplicates(records: list[Record]) -> list[Record]:
    """The same result from several sources (same code, day and value) shown once.

    A group holds at most one record per source: records of one source are never merged with
    each other (they are distinct records there). Each kept record gets `.also_from`: the
    records of other sources it stands for, whose provenance (and link) the page shows.
    Works on one page of rows: no extra query.
    """
    kept, groups = [], {}
    for record in records:
        record.also_from = []
        if not record.code_value or record.category in (Category.PATIENT, Category.ENCOUNTER):
            kept.append(record)
            continue
        key = (
            record.resource_type,
            record.code_value,
            record.effective.date() if record.effective else None,
            record.value_num,
        )
        group = groups.setdefault(key, [])
        first = next(
            (
                g
                for g in group
                if record.source_id not in {g.source_id, *(o.source_id for o in g.also_from)}
            ),
            None,
        )
        if first is not None:
            first.also_from.append(record)
            continue
        group.append(record)
        kept.append(record)
    return kept


# --- Labs and vitals -------------------------------------------------------------------------


def series_keys(records: QuerySet[Record], category: str) -> dict[str, str]:
    """Map every code seen for a category to the code its series is filed under.

    A test coded with both LOINC and a HIRA EDI code is filed under LOINC; an institution that
    sends only the EDI code joins the same series through this map.
    """
    pairs = (
        records.filter(category=category)
        .exclude(code_value="")
        .values_list("code_value", "code_alt")
        .distinct()
    )
    mapping = {}
    for code, alt in pairs:
        mapping.setdefault(code, code)
        if alt:
            mapping[alt] = code
    return mapping


def results_overview(
    records: QuerySet[Record], category: str = Category.LAB, *, recent: int = SPARK_POINTS
) -> list[dict]:
    """Each test with its latest result and its last `recent` values (for a sparkline): 2
    queries."""
    mapping = series_keys(records, category)
    # The window over the ids only; the rows it picks are read whole (see latest_per_code).
    chosen = (
        records.filter(category=category, value_num__isnull=False, effective__isnull=False)
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("code_value")],
                # The index's order (records.0012); the dates are all there, so the same.
                order_by=F("effective").desc(nulls_last=True),
            )
        )
        .filter(position__lte=recent)
        .values("id")
    )
    rows = (
        records.filter(pk__in=chosen)
        .defer("search_text")
        .select_related("source__institution")
        .order_by("code_value", "effective")
    )
    tests: dict[str, dict] = {}
    for record in rows:
        key = mapping.get(record.code_value, record.code_value)
        test = tests.setdefault(key, {"code": key, "display": record.display, "points": []})
        test["points"].append(record)
    for test in tests.values():
        test["points"].sort(key=lambda r: r.effective)
        test["points"] = test["points"][-recent:]
        test["latest"] = test["points"][-1]
        test["display"] = test["latest"].display
    return sorted(tests.values(), key=lambda t: t["display"])


def series(
    records: QuerySet[Record], code: str, category: str | None = None, *, also=()
) -> list[Record]:
    """Every result of one test across institutions, oldest first; `also`: other codes of
    the same concept (a vital sign a hospital codes differently) that join the series."""
    return list(
        _series(records, code, category, also)
        .defer("search_text")
        .select_related("source__institution")
        .order_by("effective", "id")
    )


def series_codes(records: QuerySet[Record], category: str, wanted: list[set[str]]) -> list:
    """Each set of codes of `wanted` with every code their results are also filed under in
    `category` (the HIRA EDI code beside a LOINC one): what joins each series. One query,
    series_keys' for these codes only: the index of 0009 read at them, not at every result
    of the category (7 ms for a patient's 7,700 lab results, where a chart wants one test)."""
    pairs = (
        records.filter(category=category, code_value__in=set().union(*wanted) - {""})
        .exclude(code_alt="")
        .order_by()
        .values_list("code_value", "code_alt")
        .distinct()
    )
    alts: dict[str, set[str]] = {}
    for code, alt in pairs:
        alts.setdefault(code, set()).add(alt)
    return [codes.union(*(alts.get(code, ()) for code in codes)) for codes in wanted]


def _series(records: QuerySet[Record], code: str, category: str | None, also) -> QuerySet:
    codes = {code, *also}
    if category != Category.VITAL:
        (codes,) = series_codes(records, category or Category.LAB, [codes])
    queryset = records.filter(
        Q(code_value__in=codes) | Q(code_alt__in=codes), value_num__isnull=False
    )
    return queryset.filter(category=category) if category else queryset


# What a chart's points and its values table read of a record (records.charts): plain values,
# not Record instances, and of the resource its reference range only.
POINT_FIELDS = (
    "id",
    "code",
    "category",
    "code_value",
    "code_alt",
    "display",
    "status",
    "value_num",
    "value_num2",
    "unit",
    "source_id",
    "resource_type",
    "resource_id",
)


def _series_condition(records: QuerySet[Record], wanted: list[tuple[tuple[str, ...], str]]):
    """(each chart's codes and category, the condition of all their results) for `wanted` of
    series_points: a lab series takes in the codes its results are filed under elsewhere
    (series_codes, one query per category other than vital signs: the lab)."""
    charts = [(set(codes), category) for codes, category in wanted]
    others = [i for i, (_codes, category) in enumerate(charts) if category != Category.VITAL]
    for category in {charts[i][1] for i in others}:
        mine = [i for i in others if charts[i][1] == category]
        joined = series_codes(records, category, [charts[i][0] for i in mine])
        for i, codes in zip(mine, joined, strict=True):
            charts[i] = (codes, category)
    condition = Q()
    for codes, category in charts:
        condition |= (Q(code_value__in=codes) | Q(code_alt__in=codes)) & Q(category=category)
    return charts, condition


def series_latest(records: QuerySet[Record], codes: tuple[str, ...], category: str):
    """The latest result of one series of series_points (the Record its list ends with), or
    None when there is none: two queries, whatever the number of results."""
    _charts, condition = _series_condition(records, [(codes, category)])
    latest = records.filter(condition, value_num__isnull=False).select_related(
        "source__institution"
    )
    # The reverse of series_points' order, so the first here is the last there.
    return latest.order_by(F("effective").desc(nulls_last=True), "-id").first()


def series_points(records: QuerySet[Record], wanted: list[tuple[tuple[str, ...], str]]) -> list:
    """series() as charts draw it, for several series at once: `wanted`, a (codes, category)
    per chart (the codes of one concept, as series()'s `code` and `also`), gives a list per
    chart of its results, oldest first, each a plain object with POINT_FIELDS, its source (pk
    and display_name) and its resource's type, id and reference range; the latest of each the
    Record itself, resource and all (a page shows its name, range and explanation). Building
    6,000 Record instances with their whole resources was most of a cold vital-signs page (2.6
    s of 3.8 s profiled at 20,000 records). Queries: the lab codes' map (with a lab series),
    the values, their sources and the latest records: the same for any number of charts."""
    charts, condition = _series_condition(records, wanted)
    query = (
        records.filter(condition, value_num__isnull=False)
        # Undated results first, on every database: a list ends with its latest dated result,
        # the one its page names and explains (a result whose date a column cannot hold was
        # last on PostgreSQL, and the explanation read a plain point as the latest).
        .order_by(F("effective").asc(nulls_first=True), "id")
        .values_list(
            *POINT_FIELDS,
            Cast("effective", CharField()),
            Cast(KeyTransform("referenceRange", "resource"), CharField()),
        )
    )
    # The rows as the driver returns them, without the queryset's per-row work (a dict and
    # the fields' converters for each of 6,000 values were a fifth of a cold vital-signs page):
    # every column is a plain value (the reference range cast to text, parsed here).
    sql, params = query.query.get_compiler(using=query.db).as_sql()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    series: list[list] = [[] for _ in charts]
    # Each row to the charts its category and either of its codes belong to (a dict probe,
    # not a test against every chart: 6,000 rows and five charts were 15 ms).
    charts_of: dict[tuple[str, str], list[int]] = {}
    for index, (codes, category) in enumerate(charts):
        for code in codes:
            charts_of.setdefault((category, code), []).append(index)
    # The charts of each (category, code, second code) a row holds, found once per such key
    # (a few for thousands of rows), the key sliced from the row in one step.
    start = POINT_FIELDS.index("category")
    keys = slice(start, start + 3)
    assert POINT_FIELDS[keys] == ("category", "code_value", "code_alt")  # noqa: S101
    targets: dict[tuple, list[list]] = {}
    nowhere: list[int] = []
    for row in rows:
        key = row[keys]
        lists = targets.get(key)
        if lists is None:
            category, code, alt = key
            indices = {*charts_of.get((category, code), nowhere)}
            indices.update(charts_of.get((category, alt), nowhere))
            lists = targets[key] = [series[index] for index in sorted(indices)]
        for chart in lists:
            chart.append(row)
    if not rows:
        return series
    source_at = POINT_FIELDS.index("source_id")
    source_model = Record._meta.get_field("source").related_model
    sources = {
        source.pk: SimpleNamespace(pk=source.pk, display_name=source.display_name)
        for source in source_model.objects.filter(
            pk__in={row[source_at] for row in rows}
        ).select_related("institution")
    }
    latest = records.select_related("source__institution").in_bulk(
        [chart[-1][0] for chart in series if chart]
    )
    ranges: dict = {}
    return [
        [Point(row, sources, ranges) for row in chart[:-1]] + [latest[chart[-1][0]]]
        if chart
        else []
        for chart in series
    ]


def moment(text: str | None) -> dt.datetime | None:
    """A timestamp read as text (Cast(…, CharField())) as an aware datetime: what the
    database driver returns for the column itself, made about seven times faster for the
    thousands of values of a chart (psycopg's time-zone loader, as Django registers it, was a
    fifth of a cold vital-signs page). PostgreSQL writes the offset; SQLite stores UTC
    without one."""
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# One decoder for every stored part read: json.loads(text, cls=…) builds a decoder per call,
# which was most of the time of reading 3,300 reference ranges.
_DECODER = fhirjson.Decoder()


def _stored_json(text: str):
    """A part of a stored resource, read as text, as the resource's field decodes it (FHIR's
    decimals keep their digits: records.fhirjson); what is not JSON (SQLite gives a string
    value of a key without its quotes) stays the text it is, as JSONField does."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        return text


class Point:
    """One value of a chart (series_points): POINT_FIELDS, `effective`, `pk`, `source` (pk
    and display_name), `flag` and `resource` (its type, id and reference range only), what
    charts, values tables and explanations read of a Record. A class with slots rather than a
    namespace: a chart holds thousands (and the cache pickles them)."""

    __slots__ = (*POINT_FIELDS, "effective", "pk", "source", "flag", "resource")

    def __init__(self, row: tuple, sources: dict, ranges: dict):
        # One unpacking in POINT_FIELDS' order (a setattr per field was a tenth of a cold
        # vital-signs page); the test of POINT_FIELDS below keeps the two in step.
        (
            self.id,
            self.code,
            self.category,
            self.code_value,
            self.code_alt,
            self.display,
            self.status,
            self.value_num,
            self.value_num2,
            self.unit,
            self.source_id,
            self.resource_type,
            self.resource_id,
            effective,
            reference_range,
        ) = row
        self.effective = moment(effective)
        self.pk = self.id
        self.source = sources[self.source_id]
        self.flag = ""
        if isinstance(self.code, str):  # SQLite keeps a UUID as its hex digits
            self.code = uuid.UUID(self.code)
        self.resource = {"resourceType": self.resource_type, "id": self.resource_id}
        if reference_range is not None:
            # Decoded once per text within one read (`ranges`): a lab's results mostly repeat
            # one range. The points of that read share it; nothing changes a resource read.
            parsed = ranges.get(reference_range)
            if parsed is None:
                parsed = ranges[reference_range] = _stored_json(reference_range)
            self.resource["referenceRange"] = parsed


# Point.__init__ unpacks a row in this order.
assert Point.__slots__[: len(POINT_FIELDS)] == POINT_FIELDS  # noqa: S101


# --- Medications ----------------------------------------------------------------------------


def current_medications(records: QuerySet[Record], limit: int | None = None) -> list[dict]:
    """The current ingredients (the first `limit`, or all) of the medications page
    (records.medications: by their dates and statuses — a prescription marked "active" whose
    supply ran out years ago is not current), latest first, each with its product's name, its
    latest record and its institutions: the dashboard's and the summaries' list. Each line's
    record is read whole (one query), only those: reading every record that may be current
    whole (92 at 20,000 records, their resources decoded) was a third of this list's time."""
    lines = medications.current(records)[:limit]
    whole = (
        records.defer("search_text")
        .select_related("source__institution")
        .in_bulk([line.headline.record.pk for line in lines])
    )
    return [
        {
            "code": line.key[1],
            "display": line.headline.product or line.name,
            "latest": whole[line.headline.record.pk],
            "institutions": line.institutions,
        }
        for line in lines
    ]


def latest_per_code(records: QuerySet[Record], limit: int, *, uncoded: bool = True) -> list[Record]:
    """The latest of `records` for each code, newest first, at most `limit`: one query (a
    window numbering each code's records by date, over the ids only; the rows it picks are
    read whole), whatever the number of records. Records without a code are told apart by
    their name (two allergies written only in words are two allergies); `uncoded=False`:
    `records` has none.

    The coded records' window is by code alone, in the order of an index (records.0012) that
    also holds the status: an index-only scan, where one window over (code, name if uncoded)
    read every row of the category from the table and sorted them (11 ms against 2 ms for the
    patient's 4,166 conditions at 20,000 records); the uncoded, usually none, have a window
    of their own by name. Undated records come last, on every database (PostgreSQL sorts
    them first in a descending order: a reading whose date a column cannot hold was a vital
    sign's "latest")."""
    newest = F("effective").desc(nulls_last=True)

    def chosen(rows, by):
        return (
            rows.annotate(position=Window(RowNumber(), partition_by=[F(by)], order_by=newest))
            .filter(position=1)
            .order_by(newest)
            .values("id")[:limit]
        )

    picked = Q(pk__in=chosen(records.exclude(code_value=""), "code_value"))
    if uncoded:
        picked |= Q(pk__in=chosen(records.filter(code_value=""), "display"))
    return list(
        records.filter(picked)
        .defer(*HEAVY_FIELDS)
        .select_related("source__institution")
        .order_by(newest, "-id")[:limit]
    )


def latest_by_code(
    records: QuerySet[Record], category: str, limit: int = 8, *, uncoded: bool = False
) -> list[Record]:
    """The latest record of each code in a category (e.g. the latest of each vital sign).
    `uncoded`: records without a code count too, each name apart — what a summary must not
    leave out (an allergy written only in words); a vital sign without one has no series."""
    in_category = records.filter(category=category)
    if uncoded:
        return latest_per_code(in_category, limit)
    return latest_per_code(in_category.exclude(code_value=""), limit, uncoded=False)


def active_problems(records: QuerySet[Record], limit: int = 10) -> list[Record]:
    """The latest record of each active (or recurring, relapsed) condition."""
    return latest_per_code(
        records.filter(category=Category.CONDITION, status__in=["active", "recurrence", "relapse"]),
        limit,
    )


def with_resources(records: list[Record]) -> list[Record]:
    """Load the raw resources of records fetched without them, in one query."""
    resources = dict(
        Record.objects.filter(pk__in=[r.pk for r in records]).values_list("pk", "resource")
    )
    for record in records:
        record.resource = resources[record.pk]
    return records


def _named(line: dict) -> Record:
    """A current medication's record, named as its line is when it names no drug itself (a
    prescription whose drug is a referenced Medication: its own display is empty, and the
    summaries, a share and the API said "MedicationRequest" where the medications page and
    the dashboard named the drug). In memory only: the stored record is unchanged."""
    record = line["latest"]
    if not record.display:
        record.display = line["display"]
    return record


def summary_sections(
    records: QuerySet[Record], limit: int = 10, *, categories: frozenset[str] = frozenset()
) -> dict[str, list[Record]]:
    """The patient summary's sections (IPS-like), each a short list of records. `categories`:
    those the records are limited to (an actor's scope; empty: all): a section outside them
    is empty without a query (a share of labs, medications and problems asks nothing of
    allergies: each of those queries cost its page 5 ms, mostly in building it)."""

    def shown(category, compute):
        return compute() if not categories or category in categories else []

    return {
        Category.CONDITION: shown(Category.CONDITION, lambda: active_problems(records, limit)),
        # Every current medication: a summary that stops at ten would leave some out unsaid.
        Category.MEDICATION: shown(
            Category.MEDICATION,
            lambda: [_named(line) for line in current_medications(records)],
        ),
        Category.ALLERGY: shown(
            Category.ALLERGY,
            lambda: latest_by_code(records, Category.ALLERGY, limit=limit, uncoded=True),
        ),
        Category.IMMUNIZATION: shown(
            Category.IMMUNIZATION,
            lambda: latest_by_code(records, Category.IMMUNIZATION, limit=limit, uncoded=True),
        ),
        # The latest of each test.
        Category.LAB: shown(
            Category.LAB,
            lambda: [test["latest"] for test in results_overview(records, recent=1)][:limit],
        ),
    }

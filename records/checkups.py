"""The national health check-up (NHIS 일반건강검진): its codes, its result categories, and when
the next one is due.

NHIS sends a check-up as a DiagnosticReport coded CHECKUP_SYSTEM|general whose `result` lists
the check-up's Observations (LOINC-coded); each Observation carries the programme's category
(정상A / 정상B / 질환의심) as an interpretation coded RESULT_SYSTEM, and its reference ranges as
referenceRange entries (the first is 정상A's). The two code systems are PHR's own: NHIS
publishes no FHIR code system for them.

Adults are checked every two years (NHIS: insured people aged 20 and over, in the years whose
parity matches their birth year's — born in an even year, checked in even years).
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.queries import profile_for
from core.access import Actor
from records.queries import records_for

CHECKUP_SYSTEM = "https://phr.example/CodeSystem/nhis-checkup-type"
CHECKUP_GENERAL = "general"  # 일반건강검진
RESULT_SYSTEM = "https://phr.example/CodeSystem/nhis-checkup-result"
NORMAL_A, NORMAL_B, SUSPECT = "normal-a", "normal-b", "suspect"
RESULT_WORDS = {
    NORMAL_A: _("Normal (A)"),
    NORMAL_B: _("Normal, borderline (B)"),
    SUSPECT: _("Disease suspected"),
}
RESULT_KOREAN = {NORMAL_A: "정상A", NORMAL_B: "정상B", SUSPECT: "질환의심"}
LOINC = "http://loinc.org"
# Items without a LOINC code that fits the programme's test (its vision chart and hearing test).
ITEM_SYSTEM = "https://phr.example/CodeSystem/nhis-checkup-item"


@dataclass(frozen=True)
class Item:
    key: str
    system: str
    code: str
    korean: str
    english: object  # lazy text
    unit: str = ""  # UCUM; "" for a coded or unitless result


# The items of the general check-up, in the order the NHIS result sheet lists them.
ITEMS = [
    Item("height", LOINC, "8302-2", "신장", _("Height"), "cm"),
    Item("weight", LOINC, "29463-7", "체중", _("Weight"), "kg"),
    Item("waist", LOINC, "8280-0", "허리둘레", _("Waist circumference"), "cm"),
    Item("bmi", LOINC, "39156-5", "체질량지수", _("Body mass index"), "kg/m2"),
    Item("vision_left", ITEM_SYSTEM, "vision-left", "시력(좌)", _("Vision (left)")),
    Item("vision_right", ITEM_SYSTEM, "vision-right", "시력(우)", _("Vision (right)")),
    Item("hearing_left", ITEM_SYSTEM, "hearing-left", "청력(좌)", _("Hearing (left)")),
    Item("hearing_right", ITEM_SYSTEM, "hearing-right", "청력(우)", _("Hearing (right)")),
    Item("bp", LOINC, "85354-9", "혈압", _("Blood pressure"), "mm[Hg]"),
    Item("urine_protein", LOINC, "20454-5", "요단백", _("Urine protein")),
    Item("hb", LOINC, "718-7", "혈색소", _("Haemoglobin"), "g/dL"),
    Item("glucose", LOINC, "1558-6", "공복혈당", _("Fasting glucose"), "mg/dL"),
    Item("chol", LOINC, "2093-3", "총콜레스테롤", _("Total cholesterol"), "mg/dL"),
    Item("hdl", LOINC, "2085-9", "HDL 콜레스테롤", _("HDL cholesterol"), "mg/dL"),
    Item("tg", LOINC, "2571-8", "중성지방", _("Triglycerides"), "mg/dL"),
    Item("ldl", LOINC, "13457-7", "LDL 콜레스테롤", _("LDL cholesterol"), "mg/dL"),
    Item("creatinine", LOINC, "2160-0", "혈청크레아티닌", _("Serum creatinine"), "mg/dL"),
    Item("egfr", LOINC, "62238-1", "신사구체여과율(e-GFR)", _("eGFR"), "mL/min/{1.73_m2}"),
    Item("ast", LOINC, "1920-8", "AST(SGOT)", _("AST"), "U/L"),
    Item("alt", LOINC, "1742-6", "ALT(SGPT)", _("ALT"), "U/L"),
    Item("ggt", LOINC, "2324-2", "감마지티피(γ-GTP)", _("γ-GTP"), "U/L"),
    Item("chest_xray", LOINC, "36643-5", "흉부방사선검사", _("Chest X-ray")),
]
ITEMS_BY_CODE = {item.code: item for item in ITEMS}
# The programme's age and interval for adults.
ADULT_AGE = 20
INTERVAL_YEARS = 2


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def checkup_reports(records):
    """The check-up DiagnosticReports among `records` (a scoped queryset), newest first."""
    return records.filter(
        resource_type="DiagnosticReport", code_system=CHECKUP_SYSTEM, code_value=CHECKUP_GENERAL
    ).order_by("-effective", "-id")


def due_year(birth: dt.date, last: dt.date | None, today: dt.date) -> int | None:
    """The year the next general check-up is due: the first year from this one whose parity is
    the birth year's, in which the person is an adult and has not had one; None for a child
    (under 20 this year and for the next two)."""
    year = max(today.year, birth.year + ADULT_AGE)
    if year % INTERVAL_YEARS != birth.year % INTERVAL_YEARS:
        year += 1
    if last is not None and last.year >= year:
        year = last.year + INTERVAL_YEARS
    if _age_on(birth, today) < ADULT_AGE and year > today.year + INTERVAL_YEARS:
        return None
    return year


def next_checkup_due(actor: Actor) -> dt.date | None:
    """The first day of the year in which the actor's patient's next NHIS general check-up is
    due (on or before today: due now), or None when their birth date is unknown or they are a
    child. Two queries: the profile and the latest check-up among the actor's records."""
    birth = profile_for(actor).birth_date
    if birth is None:
        return None
    latest = checkup_reports(records_for(actor)).aggregate(last=Max("effective"))["last"]
    today = timezone.localdate()
    last = timezone.localtime(latest).date() if latest else None
    year = due_year(birth, last, today)
    return dt.date(year, 1, 1) if year is not None else None


# --- The check-up pages ------------------------------------------------------------------------

ORDER = [NORMAL_A, NORMAL_B, SUSPECT]


@dataclass
class Result:
    """One item of one check-up, as the page shows it."""

    item: Item
    record: object  # the Observation's Record
    category: str  # NORMAL_A / NORMAL_B / SUSPECT, or "" where the programme judges none
    value: str  # as the result sheet writes it (number with unit, or the words)
    reference: str  # 정상A's range, in words
    change: str = ""  # since the previous check-up: "+3", "−1.2", "" (no earlier value)
    category_changed: str = ""  # "better" / "worse" / "" (same or not judged both times)

    @property
    def name(self) -> str:
        return str(self.item.english)

    @property
    def words(self) -> str:
        return str(RESULT_WORDS[self.category]) if self.category else ""


def _category(resource: dict) -> str:
    for concept in resource.get("interpretation") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == RESULT_SYSTEM and coding.get("code") in RESULT_WORDS:
                return coding["code"]
    return ""


def _number(value) -> str:
    text = f"{float(value):.1f}".rstrip("0").rstrip(".")
    return text


def _value(record, item: Item) -> str:
    resource = record.resource
    if item.key == "bp" and record.value_num is not None and record.value_num2 is not None:
        return f"{_number(record.value_num)}/{_number(record.value_num2)} mmHg"
    if record.value_num is not None:
        unit = {"kg/m2": "kg/m²", "mL/min/{1.73_m2}": "mL/min/1.73m²"}.get(item.unit, item.unit)
        return f"{_number(record.value_num)} {unit}".strip()
    concept = resource.get("valueCodeableConcept")
    if isinstance(concept, dict):
        return concept.get("text", "")
    return str(resource.get("valueString", ""))


def _reference(resource: dict, item: Item) -> str:
    """정상A's range in words (the first referenceRange): "18.5–24.9", "≤ 99", "≥ 60", or its
    text ("음성(-)")."""
    if item.key == "bp":
        return "< 120/80"
    ranges = resource.get("referenceRange") or []
    entry = ranges[0] if ranges and isinstance(ranges[0], dict) else {}
    low, high = (entry.get("low") or {}).get("value"), (entry.get("high") or {}).get("value")
    if low is not None and high is not None:
        return f"{_number(low)}–{_number(high)}"
    if high is not None:
        return f"≤ {_number(high)}"
    if low is not None:
        return f"≥ {_number(low)}"
    return entry.get("text", "")


def _result_ids(report) -> list[str]:
    ids = []
    for reference in report.resource.get("result") or []:
        text = (reference or {}).get("reference", "")
        kind, _, rid = text.rpartition("/")
        if kind.endswith("Observation") and rid:
            ids.append(rid)
    return ids


def _results(records, report) -> list[Result]:
    """The items of one check-up in the result sheet's order (one query)."""
    rows = records.filter(
        source_id=report.source_id, resource_type="Observation", resource_id__in=_result_ids(report)
    ).select_related("source__institution")
    by_code = {}
    for row in rows:
        item = ITEMS_BY_CODE.get(row.code_value)
        if item is not None:
            by_code[item.code] = Result(
                item=item,
                record=row,
                category=_category(row.resource),
                value=_value(row, item),
                reference=_reference(row.resource, item),
            )
    return [by_code[item.code] for item in ITEMS if item.code in by_code]


def _compare(results: list[Result], previous: list[Result]) -> None:
    earlier = {r.item.code: r for r in previous}
    for result in results:
        before = earlier.get(result.item.code)
        if before is None:
            continue
        now_value, then_value = result.record.value_num, before.record.value_num
        if now_value is not None and then_value is not None and result.item.key != "height":
            delta = now_value - then_value
            result.change = (
                "±0" if abs(delta) < 0.05 else f"{'+' if delta > 0 else '−'}{_number(abs(delta))}"
            )
        if result.category and before.category and result.category != before.category:
            worse = ORDER.index(result.category) > ORDER.index(before.category)
            result.category_changed = "worse" if worse else "better"


def overall(report) -> str:
    """The check-up's overall category (its conclusionCode), or ""."""
    for concept in report.resource.get("conclusionCode") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == RESULT_SYSTEM and coding.get("code") in RESULT_WORDS:
                return coding["code"]
    return ""


def checkup_list(records) -> list[dict]:
    """The check-ups among `records`, newest first: year, date, the overall category, who did
    it (one query)."""
    return [
        {
            "year": timezone.localtime(report.effective).year,
            "report": report,
            "category": overall(report),
            "words": RESULT_WORDS.get(overall(report), ""),
        }
        for report in checkup_reports(records).select_related("source__institution")
        if report.effective
    ]


def checkup_detail(records, year: int) -> dict | None:
    """One year's check-up with each item, its category in words and what changed since the
    check-up before it; None when there is none that year. Queries: the list, two result sets."""
    checkups = checkup_list(records)
    index = next((i for i, c in enumerate(checkups) if c["year"] == year), None)
    if index is None:
        return None
    current = checkups[index]
    previous = checkups[index + 1] if index + 1 < len(checkups) else None
    results = _results(records, current["report"])
    if previous is not None:
        _compare(results, _results(records, previous["report"]))
    changed = [r for r in results if r.category_changed]
    return {
        **current,
        "results": results,
        "previous": previous,
        "changed": changed,
        "flagged": [r for r in results if r.category in (NORMAL_B, SUSPECT)],
        "years": [c["year"] for c in checkups],
    }


def item_series(records, code: str) -> tuple[Item, list] | None:
    """One item across every check-up, oldest first: (the item, its Records with `.category`
    and `.flag` set for the table); None for an unknown item or one never measured."""
    item = ITEMS_BY_CODE.get(code)
    if item is None:
        return None
    reports = list(checkup_reports(records))
    wanted = {(r.source_id, rid) for r in reports for rid in _result_ids(r)}
    rows = [
        row
        for row in records.filter(
            resource_type="Observation",
            code_value=code,
            source_id__in={source for source, _ in wanted},
        )
        .select_related("source__institution")
        .order_by("effective", "id")
        if (row.source_id, row.resource_id) in wanted
    ]
    if not rows:
        return None
    for row in rows:
        row.category = _category(row.resource)
        row.words = RESULT_WORDS.get(row.category, "")
        row.shown = _value(row, item)
        row.flag = ""
    return item, rows

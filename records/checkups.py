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

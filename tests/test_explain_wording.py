"""The explainer's wording rules, one table line per case: where a value stands against the
lab's range, how it changed, whether results can be compared (including the codes of the
Synthea fixtures and of the mock hospitals' KR Core data), when it was last measured.

Pure functions of records' columns and resources: the records here are stand-ins with the
columns the product projects (records.projection.project of real resources where the case is
about codes), so no database is needed."""

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.utils import translation

from mockhospital import codes as mock_codes
from records import projection
from records.explain import wording
from records.explain.base import ATTENTION, INFO, URGENT

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
KST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def result(
    value,
    *,
    low=None,
    high=None,
    unit="%",
    when="2026-03-02",
    code="4548-4",
    alt="",
    source=1,
    institution="Hangang General",
    interpretation=None,
    pk=None,
    value2=None,
):
    reference = {}
    if low is not None:
        reference["low"] = {"value": low}
    if high is not None:
        reference["high"] = {"value": high}
    resource = {"referenceRange": [reference] if reference else []}
    if interpretation:
        resource["interpretation"] = [{"coding": [{"code": interpretation}]}]
    return SimpleNamespace(
        pk=pk or id(resource),
        value_num=value,
        value_num2=value2,
        unit=unit,
        resource=resource,
        effective=dt.datetime.fromisoformat(when).replace(hour=9, tzinfo=KST),
        code_value=code,
        code_alt=alt,
        source_id=source,
        source=SimpleNamespace(display_name=institution),
    )


@pytest.mark.parametrize(
    ("value", "low", "high", "where"),
    [
        (5.0, 4.0, 6.0, wording.IN),
        (6.0, 4.0, 6.0, wording.IN),  # a bound is inside
        (4.0, 4.0, 6.0, wording.IN),
        (6.3, 4.0, 6.0, wording.A_LITTLE_ABOVE),  # 5 % past the bound
        (6.6, 4.0, 6.0, wording.A_LITTLE_ABOVE),  # 10 %: still a little
        (7.5, 4.0, 6.0, wording.ABOVE),
        (9.0, 4.0, 6.0, wording.ABOVE),  # 50 %: still "above"
        (9.1, 4.0, 6.0, wording.FAR_ABOVE),
        (3.8, 4.0, 6.0, wording.A_LITTLE_BELOW),
        (2.5, 4.0, 6.0, wording.BELOW),
        (1.9, 4.0, 6.0, wording.FAR_BELOW),
        (250, None, 200, wording.ABOVE),  # cholesterol: an upper bound only
        (37, 40, None, wording.A_LITTLE_BELOW),  # HDL: a lower bound only
        (5, None, None, wording.NO_RANGE),
        (3, 0, 0, wording.FAR_ABOVE),  # a bound of 0: measured against the width (1)
    ],
)
def test_position_against_the_labs_range(value, low, high, where):
    assert wording.position(value, low, high) == where


@pytest.mark.parametrize(
    ("record", "text", "tone"),
    [
        (
            result(6.3, low=Decimal("4.0"), high=Decimal("6.0")),
            "A little above the range the lab uses: 6.3% vs up to 6.0%.",
            ATTENTION,
        ),
        (
            result(5.4, low=Decimal("4.0"), high=Decimal("6.0")),
            "Within the range the lab uses: 5.4% (range 4.0–6.0%).",
            INFO,
        ),
        (
            result(12.0, low=4.0, high=6.0),
            "Far above the range the lab uses: 12% vs up to 6%.",
            URGENT,
        ),
        (
            result(37, low=40, unit="mg/dL", code="2085-9"),
            "A little below the range the lab uses: 37 mg/dL vs at least 40 mg/dL.",
            ATTENTION,
        ),
        (
            result(160, low=70, high=100, unit="mg/dL", code="2345-7"),
            "Far above the range the lab uses: 160 mg/dL vs up to 100 mg/dL.",
            URGENT,
        ),
        (
            result(128, value2=84, unit="mm[Hg]", code="85354-9"),
            "The institution sent no reference range with this value (128/84 mmHg); your "
            "clinician judges it.",
            INFO,
        ),
        (
            result(7.1, low=4, high=10, unit="10*3/uL", code="6690-2"),
            "Within the range the lab uses: 7.1 10³/µL (range 4–10 10³/µL).",
            INFO,
        ),
    ],
)
def test_range_sentence_in_words(record, text, tone):
    sentence = wording.range_sentence(record)
    assert (sentence.text, sentence.tone) == (text, tone)
    assert sentence.records == (record,)


@pytest.mark.parametrize(
    ("record", "urgent"),
    [
        (result(6.5, low=3.5, high=5.1, unit="mmol/L", interpretation="HH"), True),
        (result(2.4, low=3.5, high=5.1, unit="mmol/L", interpretation="LL"), True),
        (result(1, interpretation="AA"), True),
        (result(5.9, low=3.5, high=5.1, unit="mmol/L", interpretation="H"), False),
        (result(9.5, low=4.0, high=6.0), True),  # far outside, flagged or not
        (result(6.5, low=4.0, high=6.0), False),
        (result(5.0), False),  # no range, no flag: nothing to say either way
    ],
)
def test_critical_or_far_outside_values_prompt_to_contact_the_clinician(record, urgent):
    sentence = wording.urgent_sentence(record)
    assert (sentence is not None) == urgent
    if urgent:
        assert sentence.tone == URGENT
        assert "contact your clinician" in sentence.text
        assert "normal" not in sentence.text.lower()


def _series(*values, start="2025-03-01", days=60, **kwargs):
    first = dt.date.fromisoformat(start)
    return [
        result(v, when=(first + dt.timedelta(days=days * i)).isoformat(), pk=i + 1, **kwargs)
        for i, v in enumerate(values)
    ]


@pytest.mark.parametrize(
    ("points", "previous", "year"),
    [
        (
            _series(5.9, 6.3),
            "Up by 0.4% since the previous result (5.9% on March 1, 2025).",
            None,  # two results: the change since the previous says it all
        ),
        (
            _series(6.8, 6.4),
            "Down by 0.4% since the previous result (6.8% on March 1, 2025).",
            None,
        ),
        (
            _series(5.5, 5.8, 6.3),
            "Up by 0.5% since the previous result (5.8% on April 30, 2025).",
            "Over the last year: rising, by 0.8% (3 results, 5.5% to 6.3%).",
        ),
        (
            _series(7.4, 7.0, 6.6, 6.2),
            "Down by 0.4% since the previous result (6.6% on June 29, 2025).",
            "Over the last year: falling, by 1.2% (4 results, 7.4% to 6.2%).",
        ),
        (
            _series(6.0, 6.1, 6.0, 6.1),
            "Up by 0.1% since the previous result (6% on June 29, 2025).",
            "Over the last year: steady (4 results, 6% to 6.1%).",
        ),
        (
            # The first result is more than a year before the latest: outside the window.
            _series(9.0, 6.0, 6.1, 6.0, days=150),
            "Down by 0.1% since the previous result (6.1% on Dec. 26, 2025).",
            "Over the last year: steady (3 results, 6% to 6%).",
        ),
        (_series(6.3), None, None),
        (
            _series(120, 120, unit="mm[Hg]", code="8480-6"),
            "The same as the previous result (120 mmHg on March 1, 2025).",
            None,
        ),
    ],
)
def test_trend_wording(points, previous, year):
    sentence = wording.previous_sentence(points)
    assert (sentence.text if sentence else None) == previous
    sentence = wording.year_sentence(points) if points else None
    assert (sentence.text if sentence else None) == year


def _projected(resource, *, source, institution, pk):
    columns = dataclasses.asdict(projection.project(resource))
    return SimpleNamespace(
        pk=pk,
        value_num=columns["value_num"],
        value_num2=columns.get("value_num2"),
        unit=columns["unit"],
        resource=resource,
        effective=columns["effective"],
        code_value=columns["code_value"],
        code_alt=columns["code_alt"],
        source_id=source,
        source=SimpleNamespace(display_name=institution),
    )


def _synthea_observations(loinc: str) -> list[dict]:
    found = []
    for path in sorted((FIXTURES / "synthea").glob("*_*.json")):
        for entry in json.loads(path.read_text())["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Observation" and any(
                c.get("code") == loinc for c in resource["code"].get("coding", [])
            ):
                found.append(resource)
    return found


def _mock_lab(key: str, value, when: str, **overrides) -> dict:
    edi, korean, loinc, name, unit, low, high, _decimals = mock_codes.LABS[key]
    resource = {
        "resourceType": "Observation",
        "id": f"{key}-{when}",
        "status": "final",
        "category": [{"coding": [{"system": mock_codes.OBS_CATEGORY, "code": "laboratory"}]}],
        "code": {
            "coding": [
                {"system": mock_codes.EDI_PROCEDURE, "code": edi, "display": korean},
                {"system": mock_codes.LOINC, "code": loinc, "display": name},
            ],
            "text": korean,
        },
        "effectiveDateTime": f"{when}T09:00:00+09:00",
        "valueQuantity": {"value": value, "unit": unit, "system": mock_codes.UCUM, "code": unit},
        "referenceRange": [{"low": {"value": low}, "high": {"value": high}}],
    }
    resource.update(overrides)
    return resource


def test_mock_hospitals_kr_codes_are_comparable_across_institutions():
    # The same HbA1c (HIRA EDI D3022 + LOINC 4548-4, %) from two mock hospitals.
    a = _projected(_mock_lab("hba1c", 6.1, "2025-01-10"), source=1, institution="한강", pk=1)
    b = _projected(_mock_lab("hba1c", 6.4, "2025-06-10"), source=2, institution="마포", pk=2)
    sentence = wording.comparability_sentence([a, b])
    assert sentence.text == (
        "Results from 2 institutions use the same test code and unit, so they can be set side "
        "by side."
    )
    assert wording.previous_sentence([a, b]).text.startswith("Up by 0.3%")


def test_an_institution_sending_only_the_edi_code_joins_through_the_shared_code():
    coded = _mock_lab("creatinine", 1.0, "2025-01-10")
    edi_only = _mock_lab("creatinine", 1.1, "2025-06-10")
    edi_only["code"] = {"coding": [coded["code"]["coding"][0]]}
    a = _projected(coded, source=1, institution="한강", pk=1)
    b = _projected(edi_only, source=2, institution="마포", pk=2)
    assert (a.code_value, a.code_alt, b.code_value) == ("2160-0", "D2250", "D2250")
    same, other = wording.comparable([a, b])
    assert (same, other) == ([a, b], [])


def test_different_reference_ranges_are_named():
    a = _projected(_mock_lab("hb", 13.1, "2025-01-10"), source=1, institution="한강", pk=1)
    other_range = _mock_lab(
        "hb",
        13.4,
        "2025-06-10",
        referenceRange=[{"low": {"value": 13.0}, "high": {"value": 17.0}}],
    )
    b = _projected(other_range, source=2, institution="마포", pk=2)
    assert wording.comparability_sentence([a, b]).text == (
        "Results from 2 institutions use the same test code and unit, so they can be set side "
        "by side; but their labs use different ranges (마포 13.0–17.0; 한강 12.0–16.5), so "
        "compare each with its own lab's range."
    )


def test_synthea_glucose_and_a_mock_hospitals_fasting_glucose_are_not_directly_comparable():
    # Synthea codes glucose as 2339-0 (blood); the mock hospitals as 2345-7 (serum or plasma)
    # with the EDI code D3013: the vital signs page charts them together, but they are
    # different tests.
    synthea = _synthea_observations("2339-0")[0]
    a = _projected(synthea, source=1, institution="Synthea", pk=1)
    b = _projected(_mock_lab("glucose", 96, "2026-01-10"), source=2, institution="한강", pk=2)
    sentence = wording.comparability_sentence([a, b])
    assert sentence.tone == ATTENTION
    assert sentence.text == (
        "Some results (from Synthea, in mg/dL) use a different unit or test code than the "
        "latest (mg/dL): they are not directly comparable, and the changes below leave them out."
    )
    assert wording.previous_sentence([a, b]) is None


def test_synthea_results_of_one_test_are_comparable_with_each_other():
    observations = sorted(_synthea_observations("2093-3"), key=lambda r: r["effectiveDateTime"])
    points = [
        _projected(r, source=1, institution="Synthea", pk=i) for i, r in enumerate(observations)
    ]
    same, other = wording.comparable(points)
    assert (len(same), other) == (len(points), [])
    assert wording.comparability_sentence(points) is None  # one institution: nothing to say


def test_a_different_unit_is_not_compared():
    a = result(5.5, unit="mmol/L", code="2345-7", pk=1, when="2025-01-01", institution="A")
    b = result(99, unit="mg/dL", code="2345-7", pk=2, when="2025-06-01", source=2)
    sentence = wording.comparability_sentence([a, b])
    assert "not directly comparable" in sentence.text
    assert "from A, in mmol/L" in sentence.text
    assert wording.previous_sentence([a, b]) is None


@pytest.mark.parametrize(
    ("when", "today", "words"),
    [
        ("2026-03-02", dt.date(2026, 3, 2), "today"),
        ("2026-03-02", dt.date(2026, 3, 3), "1 day ago"),
        ("2026-03-02", dt.date(2026, 4, 12), "41 days ago"),
        ("2026-03-02", dt.date(2026, 12, 1), "9 months ago"),
        ("2024-03-02", dt.date(2026, 12, 1), "2 years ago"),
    ],
)
def test_when_it_was_last_measured(when, today, words):
    record = result(6.1, when=when)
    assert wording.ago(record.effective, today) == words
    assert wording.last_measured_sentence(record, today).text == (
        f"Last measured on {wording.date_text(record.effective)} at Hangang General ({words})."
    )

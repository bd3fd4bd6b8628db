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


# --- critical limits (content library) ------------------------------------------------------


def _limits(code):
    from records.explain.content import library

    return library().match([{"system": "http://loinc.org", "code": code}]).entry.critical


@pytest.mark.parametrize(
    ("code", "value", "unit", "low", "high", "urgent"),
    [
        ("2823-3", 7.2, "mmol/L", 3.5, 5.1, True),  # potassium: 41 % past the bound
        ("2823-3", 2.0, "mmol/L", 3.5, 5.1, True),
        ("2823-3", 2.0, "mEq/L", 3.5, 5.1, True),  # the same unit for potassium
        ("2823-3", 5.5, "mmol/L", 3.5, 5.1, False),
        ("2951-2", 115, "mmol/L", 136, 145, True),  # sodium
        ("2951-2", 161, "mmol/L", 136, 145, True),
        ("2951-2", 130, "mmol/L", 136, 145, False),
        ("2345-7", 35, "mg/dL", 70, 99, True),  # glucose
        ("2345-7", 450, "mg/dL", 70, 99, True),
        ("2345-7", 2.0, "mmol/L", 3.9, 5.5, False),  # another unit: the limits do not apply
        ("17861-6", 14, "mg/dL", 8.5, 10.5, True),  # calcium
        ("718-7", 6.8, "g/dL", 12, 16, True),  # haemoglobin
        ("777-3", 15, "10*3/uL", 150, 400, True),  # platelets
        ("777-3", 1200, "10*3/uL", 150, 400, True),
        ("8867-4", 35, "/min", None, None, True),  # pulse, no range sent
        ("8867-4", 140, "/min", None, None, True),
        ("8867-4", 72, "/min", None, None, False),
        ("8310-5", 39.5, "Cel", None, None, True),  # temperature: at the limit
        ("59408-5", 88, "%", None, None, True),  # SpO2
    ],
)
def test_a_value_past_a_critical_limit_prompts_to_contact_the_clinician(
    code, value, unit, low, high, urgent
):
    record = result(value, low=low, high=high, unit=unit, code=code)
    limits = _limits(code)
    prompt = wording.urgent_sentence(record, limits)
    assert (prompt is not None) is urgent
    head = wording.range_sentence(record, limits)
    if urgent:
        assert prompt.tone == URGENT
        assert "contact your clinician" in prompt.text
        assert "Within the range" not in head.text
        assert "a little" not in head.text.lower()


@pytest.mark.parametrize(
    ("value", "value2", "urgent"),
    [
        (185, 95, True),  # systolic ≥ 180
        (150, 125, True),  # diastolic ≥ 120
        (85, 55, True),  # systolic < 90
        (128, 82, False),
    ],
)
def test_blood_pressure_past_the_general_adult_limits_prompts(value, value2, urgent):
    record = result(value, value2=value2, unit="mm[Hg]", code="85354-9")
    prompt = wording.urgent_sentence(record, _limits("85354-9"))
    assert (prompt is not None) is urgent
    if urgent:
        assert "general adult" in prompt.text
        assert "clinician" in prompt.text


def test_every_critical_limit_names_its_source_and_unit():
    from records.explain.content import library

    limited = [e for e in library().entries if e.critical]
    assert {"potassium", "sodium", "glucose", "calcium", "hemoglobin", "platelets"} <= {
        e.id for e in limited
    }
    for entry in limited:
        assert entry.critical["units"]
        assert entry.critical["source"]["url"].startswith("https://")


@pytest.mark.parametrize("flag", ["LL", "HH"])
def test_a_value_the_lab_flags_critical_is_never_a_little_past_the_range(flag):
    value = 3.3 if flag == "LL" else 5.3
    record = result(value, low=3.5, high=5.1, unit="mmol/L", code="2823-3", interpretation=flag)
    head = wording.range_sentence(record)
    assert "a little" not in head.text.lower()
    assert head.tone == URGENT


def test_critical_text_with_a_value_in_range_says_the_lab_flagged_it():
    record = result(4.0, low=3.5, high=5.1, unit="mmol/L", code="2823-3")
    record.resource["interpretation"] = [{"text": "Critical"}]
    head = wording.range_sentence(record)
    assert "Within the range" not in head.text
    assert "flagged" in head.text
    assert wording.urgent_sentence(record) is not None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.004, "0.004"),
        (0.0004, "0.0004"),
        (0.1 + 0.2, "0.3"),
        (6.30, "6.3"),
        (125.0, "125"),
        (1234.5678, "1234.5678"),
        (Decimal("0.0040"), "0.0040"),
    ],
)
def test_a_number_is_shown_as_sent(value, text):
    assert wording.number(value) == text


def test_a_small_change_is_not_rounded_away():
    first = result(0.004, low=0.4, high=4.0, unit="m[IU]/L", code="3016-3", when="2026-01-02")
    latest = result(0.012, low=0.4, high=4.0, unit="m[IU]/L", code="3016-3", when="2026-03-02")
    assert "Up by 0.008" in wording.previous_sentence([first, latest]).text


def _bp(systolic, diastolic, when):
    return result(systolic, value2=diastolic, unit="mm[Hg]", code="85354-9", when=when)


@pytest.mark.parametrize(
    ("readings", "words"),
    [
        # systolic steady, diastolic rising: said for each
        (
            [(130, 70, "2025-06-01"), (131, 76, "2025-10-01"), (131, 84, "2026-03-01")],
            ["systolic steady", "diastolic rising, by 14 mmHg"],
        ),
        (
            [(150, 95, "2025-06-01"), (140, 90, "2025-10-01"), (128, 80, "2026-03-01")],
            ["systolic falling, by 22 mmHg", "diastolic falling, by 15 mmHg"],
        ),
    ],
)
def test_the_blood_pressure_trend_words_systolic_and_diastolic(readings, words):
    points = [_bp(s, d, when) for s, d, when in readings]
    text = wording.year_sentence(points).text
    for word in words:
        assert word in text


def test_the_change_of_a_blood_pressure_is_said_for_both_values():
    points = [_bp(130, 80, "2026-01-01"), _bp(124, 86, "2026-03-01")]
    text = wording.previous_sentence(points).text
    assert "systolic down by 6 mmHg" in text
    assert "diastolic up by 6 mmHg" in text


def _guide(code):
    from records.explain.content import library

    return library().match([{"system": "http://loinc.org", "code": code}]).entry.guide


@pytest.mark.parametrize(
    ("code", "value", "value2", "unit", "start"),
    [
        ("8867-4", 72, None, "/min", "Within the general adult guide"),
        ("8867-4", 110, None, "/min", "Above the general adult guide"),
        ("8867-4", 52, None, "/min", "Below the general adult guide"),
        ("9279-1", 16, None, "/min", "Within the general adult guide"),
        ("85354-9", 118, 76, "mm[Hg]", "Within the general adult guide"),
        ("85354-9", 142, 76, "mm[Hg]", "Above the general adult guide"),
        ("85354-9", 118, 92, "mm[Hg]", "Above the general adult guide"),
    ],
)
def test_a_vital_sign_without_a_range_is_set_against_the_general_adult_guide(
    code, value, value2, unit, start
):
    record = result(value, value2=value2, unit=unit, code=code)
    sentence = wording.range_sentence(record, _limits(code), _guide(code))
    assert sentence.text.startswith(start)
    assert "clinician" in sentence.text
    assert sentence.tone == (INFO if start.startswith("Within") else ATTENTION)


def test_a_guide_in_another_unit_is_not_used():
    record = result(98.6, unit="[degF]", code="8310-5")
    sentence = wording.range_sentence(record, _limits("8310-5"), _guide("8310-5"))
    assert "general adult guide" not in sentence.text


@pytest.mark.parametrize(
    ("value", "unit", "urgent"),
    [(7.0, "[pH]", True), (7.65, "[pH]", True), (7.38, "[pH]", False), (7.1, "", True)],
)
def test_a_blood_ph_past_its_critical_limits_prompts(value, unit, urgent):
    record = result(value, low=7.35, high=7.45, unit=unit, code="2744-1")
    assert (wording.urgent_sentence(record, _limits("2744-1")) is not None) is urgent

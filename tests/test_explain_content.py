"""The content library: every entry in Korean and English with its source, refused when it is
not; what it explains of the demo patients' data (the mock hospitals' generator) and of the
Synthea fixtures; and what it says where it has no entry."""

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.utils import translation

from mockhospital import codes as mock_codes
from mockhospital.demo import DEMO_INSTITUTIONS
from mockhospital.generator import KST, InstitutionSpec, PatientSpec, generate
from records import checkups
from records.explain import content
from records.explain.coverage import measure
from records.explain.rules import RuleExplainer
from records.models import Category

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
KCD8 = "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8"


def test_every_entry_has_korean_and_english_text_and_a_source():
    library = content.library()
    assert len(library.entries) == 195  # with blood pH (its critical limits)
    kinds = {}
    for entry in library.entries:
        kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
        for language in ("ko", "en"):
            for name in content.KINDS[entry.kind]:
                assert entry.text[language][name].strip(), (entry.id, language, name)
        assert entry.source["url"].startswith("https://"), entry.id
        assert entry.source["publisher"].strip()
        assert entry.source["title"].strip()
        assert entry.text["ko"]["what"] != entry.text["en"]["what"]
    assert kinds == {"lab": 93, "vital": 13, "chapter": 22, "condition": 35, "drug_class": 32}


SOURCE = {"publisher": "P", "title": "T", "url": "https://example.org/"}


def _entry(**overrides):
    entry = {
        "id": "x",
        "kind": "lab",
        "codes": [{"system": "loinc", "code": "1-1"}],
        "text": {
            "ko": {"name": "가", "what": "무엇", "why": "왜", "high": "높음", "low": "낮음"},
            "en": {"name": "A", "what": "What", "why": "Why", "high": "High", "low": "Low"},
        },
        "source": {"publisher": "P", "title": "T", "url": "https://example.org/"},
    }
    entry.update(overrides)
    return {"entries": [entry]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_entry(kind="gene"), "unknown kind"),
        (_entry(codes=[]), "no codes"),
        (_entry(codes=[{"system": "icd-9", "code": "250"}]), "bad code"),
        (_entry(text={"ko": {"name": "가"}}), "ko what is missing"),
        (
            _entry(
                text={
                    "ko": {"name": "가", "what": "무엇", "why": "왜", "high": "높음", "low": "낮음"}
                }
            ),
            "no en text",
        ),
        (
            _entry(
                text={
                    "ko": {
                        "name": "가",
                        "what": "what",
                        "why": "왜",
                        "high": "높음",
                        "low": "낮음",
                    },
                    "en": {"name": "A", "what": "W", "why": "W", "high": "H", "low": "L"},
                }
            ),
            "ko what has no Korean text",
        ),
        (_entry(source={"publisher": "P", "title": "T"}), "source url is missing"),
        (
            _entry(source={"publisher": "P", "title": "T", "url": "http://x.org"}),
            "must be https",
        ),
        (_entry(kind="chapter", range=["A00"]), "range of two codes"),
        (_entry(critical={"below": 2.8, "source": SOURCE}), "need their units"),
        (_entry(critical={"units": ["mmol/L"], "source": SOURCE}), "name no bound"),
        (_entry(critical={"units": ["mmol/L"], "below": "2.8", "source": SOURCE}), "number"),
        (_entry(critical={"units": ["mmol/L"], "below": 2.8}), "critical source"),
        (_entry(guide={"units": ["/min"], "above": 100, "source": SOURCE}), "name no bound"),
        ({"entries": "all"}, "expected an object"),
    ],
)
def test_broken_content_is_refused_with_what_is_wrong(data, message):
    with pytest.raises(content.ContentError, match=message):
        content.validate(data, filename="test.json")


def test_a_code_in_two_entries_is_refused(tmp_path):
    one = _entry()
    two = _entry(id="y")
    (tmp_path / "a.json").write_text(json.dumps({"entries": one["entries"] + two["entries"]}))
    with pytest.raises(content.ContentError, match="loinc 1-1 is in both x and y"):
        content.load(tmp_path)


@pytest.mark.parametrize(
    ("system", "code", "entry", "level"),
    [
        (KCD8, "E11.9", "t2dm", "group"),
        (KCD8, "I10", "hypertension", "exact"),
        (KCD8, "K08.8", "kcd-chapter-K00-K93", "chapter"),
        (KCD8, "D50.9", "anaemia", "group"),  # D50 is in chapter III, not II (C00–D48)
        (KCD8, "D48.1", "kcd-chapter-C00-D48", "chapter"),
        ("http://hl7.org/fhir/sid/icd-10", "J45.9", "asthma", "group"),
        ("http://www.whocc.no/atc", "C10AA05", "statins", "group"),
        ("http://www.whocc.no/atc", "A10BA02", "biguanides", "group"),
        ("http://loinc.org", "4548-4", "hba1c", "exact"),
        ("http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure", "D3022", "hba1c", "exact"),
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "308182", "penicillins", "exact"),
    ],
)
def test_codes_match_their_entry(system, code, entry, level):
    match = content.library().match([{"system": system, "code": code}])
    assert (match.entry.id, match.level) == (entry, level)


@pytest.mark.parametrize(
    ("system", "code"),
    [
        ("http://loinc.org", "4548"),  # no prefix matching for LOINC
        ("http://loinc.org", "99999-9"),
        ("http://www.whocc.no/atc", "Z99"),
        ("http://snomed.info/sct", "94260004"),
        ("urn:unknown", "E11"),
    ],
)
def test_codes_without_an_entry_match_nothing(system, code):
    assert content.library().match([{"system": system, "code": code}]) is None


def _demo_resources():
    resources = []
    for inst in DEMO_INSTITUTIONS:
        institution = InstitutionSpec(
            inst["slug"],
            inst["name"],
            inst["hira_number"],
            inst["type_code"],
            inst["profile"],
            inst["region"],
        )
        for seed in range(1, 4):
            spec = PatientSpec(
                f"P{seed:07d}",
                f"person-{seed}",
                seed=seed,
                size=2000,
                history_start=dt.datetime(2018, 1, 1, tzinfo=KST),
                span_days=8 * 365,
                birth_date=dt.date(1960, 1, 1),
                sex="female",
            )
            resources += generate(
                institution, spec, since=None, until=dt.datetime(2026, 1, 1, tzinfo=KST)
            )
    return resources


def test_every_lab_and_vital_sign_of_the_demo_patients_is_explained():
    # What the mock hospitals generate for the demo's institutions (every profile, three
    # patients each, eight years): the figures in docs/records.md.
    tallies = measure(_demo_resources())
    for kind in ("lab", "vital", "medication"):
        assert tallies[kind].total, kind
        assert tallies[kind].explained == tallies[kind].total, kind
    assert len(tallies["lab"].total) >= len(mock_codes.LABS) - 1
    # Every diagnosis has an entry of its own or, at least, its KCD-8 chapter's.
    assert tallies["condition"].missing == set()
    assert {code for _system, code in tallies["condition"].chapter_only} <= {"K08.8", "Z23"}


def test_every_nhis_check_up_item_with_a_loinc_code_is_explained():
    library = content.library()
    items = [i for i in checkups.ITEMS if i.system == "http://loinc.org"]
    unexplained = [
        i.key for i in items if not library.match([{"system": i.system, "code": i.code}])
    ]
    # The chest X-ray is an imaging report, not a result this library describes.
    assert unexplained == ["chest_xray"]


def _synthea():
    resources = []
    for path in sorted((FIXTURES / "synthea").glob("*_*.json")):
        resources += [e["resource"] for e in json.loads(path.read_text())["entry"]]
    return resources


def test_what_the_library_explains_of_the_synthea_fixtures():
    tallies = measure(_synthea())
    figures = {kind: tally.figure() for kind, tally in tallies.items()}
    assert figures == {"lab": "48/48", "vital": "5/5", "condition": "6/9", "medication": "7/7"}
    # Not covered, and said so on the page (no guess from a SNOMED CT code).
    assert sorted(code for _system, code in tallies["condition"].missing) == [
        "236077008",  # protracted diarrhoea
        "6072007",  # bleeding from anus
        "94260004",  # secondary malignant neoplasm of colon
    ]


def _record(resource, category):
    from records.projection import project

    columns = project(resource)
    return SimpleNamespace(
        pk=1,
        category=category,
        resource=resource,
        code_system=columns.code_system,
        code_value=columns.code_value,
        display=columns.display,
        resource_type=resource["resourceType"],
    )


def test_a_record_without_an_entry_says_so_with_its_coded_name():
    condition = next(
        r
        for r in _synthea()
        if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] == "94260004"
    )
    with translation.override("en"):
        explanation = RuleExplainer().record(_record(condition, Category.CONDITION))
    assert explanation.covered is False
    assert [s.text for s in explanation.sentences] == [
        "There is no plain-language description of this yet. It is recorded as “Secondary "
        "malignant neoplasm of colon” (SNOMED CT 94260004)."
    ]


def test_a_diagnosis_known_only_by_its_chapter_says_so():
    resource = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": KCD8, "code": "K08.8", "display": "치아의 기타 장애"}]},
    }
    with translation.override("en"):
        explanation = RuleExplainer().record(_record(resource, Category.CONDITION))
    assert explanation.level == "chapter"
    assert explanation.sentences[0].text == (
        "“치아의 기타 장애” (KCD-8 K08.8) is in the KCD-8 chapter “Diseases of the digestive "
        "system”. There is no description of this diagnosis itself yet; the chapter: "
        "Conditions of the teeth, stomach, bowel, liver and other digestive organs."
    )


def test_a_medication_is_explained_by_its_atc_class_in_korean_and_english():
    resource = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
                    "code": "649700070",
                    "display": "노바스크정5밀리그램(암로디핀베실산염)",
                },
                {"system": "http://www.whocc.no/atc", "code": "C08CA01", "display": "amlodipine"},
            ]
        },
    }
    record = _record(resource, Category.MEDICATION)
    with translation.override("en"):
        english = RuleExplainer().record(record).sentences[0].text
    with translation.override("ko"):
        korean = RuleExplainer().record(record)
    assert english.startswith(
        "노바스크정5밀리그램(암로디핀베실산염) belongs to the drug class “Calcium channel blockers"
    )
    assert korean.about["what"] == "혈관을 넓혀 혈압을 낮춥니다."

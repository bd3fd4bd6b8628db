"""Medications across institutions (records.medications): prescriptions and dispensings from
hospitals, pharmacies and HIRA grouped by active ingredient (ATC), current or past from their
dates and supply, and a warning when two current prescriptions share an ingredient."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from core.access import Actor
from records.ingest import ingest_page
from records.medications import ATC, HIRA_EDI, current, overview
from records.models import Record
from records.queries import records_for
from tests.conftest import login
from tests.factories import SourceFactory, make_share
from tests.records_data import import_resources

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
TODAY = dt.date(2026, 3, 10)


def prescription(rid, day, *, edi, product, atc, atc_name, days=30, status="completed", **extra):
    """A KR Core-style MedicationRequest as HIRA and the hospitals send it: the HIRA EDI product
    code and the ATC ingredient code in one concept, a dose and an expected supply."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": HIRA_EDI, "code": edi, "display": product},
                {"system": ATC, "code": atc, "display": atc_name},
            ],
            "text": product,
        },
        "subject": {"reference": "Patient/p"},
        "authoredOn": day,
        "dosageInstruction": [{"text": "1일 1회 1정 아침 식후"}],
        "dispenseRequest": {
            "expectedSupplyDuration": {
                "value": days,
                "unit": "일",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        },
        **extra,
    }


def dispensing(rid, day, *, edi, product, atc, atc_name, days, pharmacy, prescription=None):
    resource = {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [
                {"system": HIRA_EDI, "code": edi, "display": product},
                {"system": ATC, "code": atc, "display": atc_name},
            ]
        },
        "subject": {"reference": "Patient/p"},
        "performer": [{"actor": {"display": pharmacy}}],
        "daysSupply": {"value": days, "unit": "일", "code": "d"},
        "whenHandedOver": day,
        "dosageInstruction": [{"text": "1일 1회 1정 아침 식후"}],
    }
    if prescription:
        resource["authorizingPrescription"] = [{"reference": prescription}]
    return resource


NORVASC = {
    "edi": "649700070",
    "product": "노바스크정5밀리그램(암로디핀베실산염)",
    "atc": "C08CA01",
    "atc_name": "amlodipine",
}
# Another company's amlodipine: another HIRA product code, the same ingredient.
AMODIPIN = {
    "edi": "671802500",
    "product": "아모디핀정5밀리그램(암로디핀캄실산염)",
    "atc": "C08CA01",
    "atc_name": "amlodipine",
}
METFORMIN = {
    "edi": "644900310",
    "product": "다이아벡스정500밀리그램(메트포르민염산염)",
    "atc": "A10BA02",
    "atc_name": "metformin",
}


def krcore_example() -> list[dict]:
    """KR Core's own example: a MedicationRequest whose drug is a referenced Medication (HIRA EDI
    product code, ATC on its ingredient)."""
    folder = FIXTURES / "krcore"
    return [
        json.loads((folder / f"{name}-krcore-{name.lower()}-example-01.json").read_text())
        for name in ("Medication", "MedicationRequest")
    ]


def _overview(patient, today=TODAY):
    return overview(records_for(Actor.patient(patient)), today=today)


def test_two_products_of_one_ingredient_are_one_line_with_every_source(patient):
    import_resources(patient, "A병원", [prescription("a1", "2026-03-01", **NORVASC)])
    import_resources(patient, "B의원", [prescription("b1", "2025-06-01", **AMODIPIN)])
    import_resources(
        patient,
        "온누리약국",
        [dispensing("d1", "2026-03-01", days=30, pharmacy="온누리약국 (마포구)", **NORVASC)],
    )

    meds = _overview(patient)

    (line,) = meds.current
    assert line.key == (ATC, "C08CA01")
    assert line.products == sorted([AMODIPIN["product"], NORVASC["product"]])
    # Newest first; on one day, the later record (the pharmacy's) first.
    assert [e.kind for e in line.entries] == ["dispensing", "prescription", "prescription"]
    assert "온누리약국 (마포구)" in line.institutions
    assert {"A병원", "B의원", "온누리약국"} <= set(line.institutions)
    assert meds.past == []
    assert not meds.without_atc
    latest = line.latest
    assert (latest.start, latest.days, latest.end) == (
        dt.date(2026, 3, 1),
        30,
        dt.date(2026, 3, 31),
    )
    assert latest.dose == "1일 1회 1정 아침 식후"


@pytest.mark.parametrize(
    ("today", "group"),
    [
        (dt.date(2026, 3, 1), "current"),  # the day it starts
        (dt.date(2026, 3, 30), "current"),  # the supply's last day
        (dt.date(2026, 3, 31), "past"),  # the supply has run out
        (dt.date(2026, 2, 28), "upcoming"),  # not started yet: neither taken nor over
    ],
)
def test_current_past_or_upcoming_from_the_start_and_the_supply(patient, today, group):
    import_resources(patient, "A병원", [prescription("a1", "2026-03-01", days=30, **METFORMIN)])

    meds = _overview(patient, today=today)

    groups = {"current": meds.current, "past": meds.past, "upcoming": meds.upcoming}
    assert {name: len(lines) for name, lines in groups.items()} == {
        name: int(name == group) for name in groups
    }


def test_a_prescription_that_starts_later_is_listed_as_starting_not_as_past(client, patient):
    """A prescription written today for a course that starts next week was listed under
    "Past" (QA): a patient would read it as over. It is listed under its own heading with the
    day it starts, and a line taken now and starting again later stays current."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("a1", "2026-03-20", days=14, **METFORMIN),
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("n2", "2026-04-01", days=30, **NORVASC),
        ],
    )
    login(client, patient.email)

    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        meds = _overview(patient, today=TODAY)
        html = client.get("/records/medications/").content.decode()

    assert [line.key[1] for line in meds.upcoming] == ["A10BA02"]
    assert [line.key[1] for line in meds.current] == ["C08CA01"]
    assert meds.past == []
    upcoming = html[html.index('id="medications-upcoming"') : html.index('id="medications-past"')]
    assert "A10BA02" in upcoming
    assert "Mar 20, 2026" in upcoming  # the day it starts
    past = html[html.index('id="medications-past"') :]
    assert "A10BA02" not in past


def test_a_current_line_with_a_later_course_says_the_course_taken_now_and_when_the_next_starts(
    client, patient
):
    """A medication taken now that also has a course starting later stays under "Current";
    its line showed the later course's start day as if it were the one taken (review). It
    shows the course taken now (its start, until its last day) and says when the next one
    starts, in both languages."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("n2", "2026-04-01", days=30, **NORVASC),
        ],
    )
    login(client, patient.email)

    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        (line,) = _overview(patient, today=TODAY).current
        pages = {
            language: client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE=language)
            for language in ("en", "ko")
        }

    assert line.headline.start == dt.date(2026, 3, 1)
    assert line.next_course.start == dt.date(2026, 4, 1)
    expected = {
        "en": ("Mar 1, 2026", "until Mar 30, 2026", "next course from Apr 1, 2026"),
        "ko": ("2026-03-01", "2026-03-30까지", "2026-04-01부터 다음 복용"),
    }
    for language, page in pages.items():
        html = page.content.decode()
        current = html[html.index('id="medications-current"') : html.index('id="medications-past"')]
        summary = re.search(r'<div class="muted">(.*?)</div>', current, re.S).group(1)
        started, until, next_course = expected[language]
        assert summary.startswith(started), (language, summary)
        assert until in summary, (language, summary)
        assert next_course in summary, (language, summary)


def test_stopped_is_past_and_no_duration_follows_the_status(patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("a1", "2026-03-01", status="stopped", **METFORMIN),
            prescription("a2", "2020-01-01", status="active", **NORVASC) | {"dispenseRequest": {}},
        ],
    )

    meds = _overview(patient)

    assert [line.key[1] for line in meds.current] == ["C08CA01"]
    assert [line.key[1] for line in meds.past] == ["A10BA02"]


def test_two_current_prescriptions_of_one_ingredient_are_a_duplicate_therapy(patient):
    import_resources(patient, "A병원", [prescription("a1", "2026-03-02", **NORVASC)])
    import_resources(patient, "B의원", [prescription("b1", "2026-02-20", **AMODIPIN)])
    import_resources(patient, "A병원 2", [prescription("m1", "2026-03-02", **METFORMIN)])

    meds = _overview(patient)

    (duplicate,) = meds.duplicates
    assert duplicate.ingredient.key == (ATC, "C08CA01")
    assert sorted(e.product for e in duplicate.entries) == sorted(
        [NORVASC["product"], AMODIPIN["product"]]
    )


def test_a_past_prescription_or_the_same_one_from_two_sources_is_not_a_duplicate(patient):
    # A hospital's prescription, the pharmacy's dispensing of it, HIRA's copy of the same
    # prescription (same day, supply and dose), and last year's amlodipine: one therapy.
    import_resources(patient, "A병원", [prescription("a1", "2026-03-02", **NORVASC)])
    import_resources(
        patient,
        "온누리약국",
        [
            dispensing(
                "d1",
                "2026-03-02",
                days=30,
                pharmacy="온누리약국",
                prescription="MedicationRequest/a1",
                **NORVASC,
            )
        ],
    )
    import_resources(patient, "HIRA", [prescription("h1", "2026-03-02", **NORVASC)])
    import_resources(patient, "B의원", [prescription("b1", "2025-01-10", **AMODIPIN)])

    meds = _overview(patient)

    assert meds.duplicates == []
    assert len(meds.current[0].entries) == 4


def test_krcore_example_ingredient_read_from_the_referenced_medication(patient):
    import_resources(patient, "KR Core", krcore_example())

    meds = _overview(patient, today=dt.date(2023, 5, 3))

    (line,) = meds.current  # authored 2023-04-30 for 7 days
    assert line.key == (ATC, "M01AB15")
    assert line.name == "Ketorolac"
    assert line.products == ["케토라신정(케토롤락트로메타민)_(10mg/1정)"]
    assert line.latest.days == 7
    assert line.latest.dose == "하루 3알 복용"
    assert _overview(patient, today=dt.date(2023, 5, 7)).past[0].key == (ATC, "M01AB15")


def test_a_medication_uploaded_in_a_file_of_its_own_names_the_prescriptions_of_another(
    client, patient
):
    """KR Core's example as published, one resource per file (as bulk data comes: a file per
    type): the MedicationRequest's drug is in the Medication file. Each upload is a source of
    its own, and the prescription read "Unnamed medication" (QA)."""
    medication, request = krcore_example()
    import_resources(patient, "Medication.json", [medication])
    import_resources(patient, "MedicationRequest.json", [request])

    meds = _overview(patient, today=dt.date(2023, 5, 3))

    (line,) = meds.current
    assert line.key == (ATC, "M01AB15")
    assert line.name == "Ketorolac"
    assert line.products == ["케토라신정(케토롤락트로메타민)_(10mg/1정)"]
    (taken,) = records_for_current(patient, dt.date(2023, 5, 3))
    assert taken.name == "Ketorolac"


def test_a_drug_named_by_its_medication_is_named_the_same_on_every_page(client, patient):
    """KR Core's example in two files: the medications page and the dashboard named the drug,
    the summary, a share view and the API's summary said "MedicationRequest" (QA). In one
    file too: the prescription itself names no drug."""
    medication, request = krcore_example()
    import_resources(patient, "Medication.json", [medication])
    import_resources(patient, "MedicationRequest.json", [request])
    login(client, patient.email)
    _share, token = make_share(patient, label="Dr. Kim", categories=["medication"])
    doctor = Client()
    then = dt.datetime(2023, 5, 3, 3, tzinfo=dt.UTC)
    with time_machine.travel(then, tick=False):
        pages = {
            path: client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
            for path in ("/records/medications/", "/dashboard/", "/records/summary/")
        }
        assert doctor.post(f"/s/{token}/", {"name": "Dr. Kim"}).status_code == 302
        pages["share"] = doctor.get(f"/s/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        api = client.get("/api/v1/summary/").json()
    product = "케토라신정(케토롤락트로메타민)_(10mg/1정)"
    assert product in pages.pop("/records/medications/")
    for path, page in pages.items():
        assert product in _current_section(page), path
    assert product in json.dumps(api, ensure_ascii=False)


def test_a_medication_of_the_same_id_from_two_other_files_names_nothing_by_guess(patient):
    """Two uploads each hold a Medication of that id, saying different drugs: which one the
    prescription meant is not known, so it is named by what it says itself."""
    medication, request = krcore_example()
    other = {**medication, "code": {"text": "Something else"}}
    import_resources(patient, "a.json", [medication])
    import_resources(patient, "b.json", [other])
    import_resources(patient, "MedicationRequest.json", [request])

    (line,) = _overview(patient, today=dt.date(2023, 5, 3)).current
    assert line.name == "Unnamed medication"


def test_a_hospitals_prescription_is_not_named_by_an_uploaded_medication(patient):
    """Only files name each other: a hospital's reference means that hospital's Medication."""
    medication, request = krcore_example()
    import_resources(patient, "Medication.json", [medication])
    hospital = SourceFactory(patient=patient)
    ingest_page(
        source_id=hospital.pk,
        patient_id=patient.pk,
        resources=[request],
        owners=frozenset({"krcore-patient-example-01"}),
    )

    (line,) = _overview(patient, today=dt.date(2023, 5, 3)).current
    assert line.name == "Unnamed medication"


def records_for_current(patient, today):
    return current(records_for(Actor.patient(patient)), today)


def test_synthea_data_without_atc_grouped_by_rxnorm_and_the_page_says_so(client, patient):
    bundle = json.loads(
        (
            FIXTURES / "synthea" / "Ossie_Rodriguez_d7ec3d8f-7be8-4a94-a20c-e694f7bfdb80.json"
        ).read_text()
    )
    resources = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    ]
    import_resources(patient, "Synthea", resources)

    meds = _overview(patient)

    assert meds.without_atc
    lines = meds.current + meds.past
    assert {line.key[0] for line in lines} == {"http://www.nlm.nih.gov/research/umls/rxnorm"}
    assert sum(len(line.entries) for line in lines) == len(resources)
    login(client, patient.email)
    page = client.get("/records/medications/").content.decode()
    assert "grouped by RxNorm" in page
    assert "carry no ATC ingredient code" in page


def test_the_page_warns_of_duplicate_therapy(client, patient):
    import_resources(patient, "A병원", [prescription("a1", "2026-03-02", **NORVASC)])
    import_resources(patient, "B의원", [prescription("b1", "2026-02-20", **AMODIPIN)])
    login(client, patient.email)

    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        page = client.get("/records/medications/").content.decode()

    current = page.split("<h2>Past</h2>")[0]
    assert "Possible duplicate therapy" in current
    assert "2 current prescriptions contain amlodipine" in current
    assert "ATC C08CA01" in current


def test_a_contained_medication_names_the_ingredient(patient):
    medication, request = krcore_example()
    request["contained"] = [medication | {"id": "med"}]
    request["medicationReference"] = {"reference": "#med"}
    import_resources(patient, "KR Core", [request])

    (line,) = _overview(patient, today=dt.date(2023, 5, 3)).current

    assert line.key == (ATC, "M01AB15")


# --- What was fetched, and early refills ---------------------------------------------------------


def test_without_hira_the_page_says_only_hospital_data_is_shown(client, patient):
    login(client, patient.email)

    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "HIRA is not connected." in page
    assert "No current medication." not in page
    assert "HIRA is not connected, so this is not a full list." in page


def test_with_hira_connected_the_page_does_not_ask_to_connect_it(client, patient):
    from records import readmodels
    from tests.factories import InstitutionFactory

    login(client, patient.email)
    client.get("/records/medications/")  # the read model, before the link
    hira = InstitutionFactory(kind="hira")
    # Linked and synced (before its first sync the page says its records have not arrived).
    source = SourceFactory(
        patient=patient, institution=hira, last_synced_at=dt.datetime.now(dt.UTC)
    )
    readmodels.bump(patient_id=patient.pk)  # as link_institution does

    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "HIRA is not connected" not in page
    assert "No current medication." in page
    assert source.pk


def test_an_early_refill_of_the_same_product_is_no_duplicate(client, patient):
    # The same product from the same hospital, the second 30 days started 4 days before the
    # first ran out: one therapy, refilled early.
    import_resources(
        patient,
        "A병원",
        [
            prescription("a1", "2026-02-12", **NORVASC),
            prescription("a2", "2026-03-10", **NORVASC),
        ],
    )

    (line,) = _overview(patient, today=dt.date(2026, 3, 12)).current
    assert not _overview(patient, today=dt.date(2026, 3, 12)).duplicates
    assert line.current


def test_the_same_product_from_another_prescriber_is_still_a_possible_duplicate(patient):
    import_resources(patient, "A병원", [prescription("a1", "2026-02-12", **NORVASC)])
    import_resources(patient, "B의원", [prescription("b1", "2026-03-10", **NORVASC)])

    (duplicate,) = _overview(patient, today=dt.date(2026, 3, 12)).duplicates
    assert len(duplicate.entries) == 2


def test_the_history_lists_every_entry_linked_and_escaped(client, patient):
    """The history under each ingredient (built in Python: records.templatetags
    medication_history) says what the template said of each entry, every value escaped."""
    hostile = {**NORVASC, "product": '<img src=x onerror="alert(1)">노바스크정'}
    import_resources(
        patient,
        "A병원",
        [
            prescription("r1", "2026-01-05", **hostile, days=28),
            dispensing("d1", "2026-01-06", **NORVASC, days=28, pharmacy="온누리<약국>"),
        ],
    )
    login(client, patient.email)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        english = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        korean = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    history = english[english.index("<details>") : english.index("</details>")]
    items = re.findall(r"<li>(.*?)</li>", history)
    assert len(items) == 2
    codes = {r.resource_id: r.code for r in Record.objects.filter(patient=patient)}
    assert items[0] == (
        f'<a href="/records/r/{codes["d1"]}/">Jan 6, 2026</a> · dispensed · '
        "노바스크정5밀리그램(암로디핀베실산염) · 1일 1회 1정 아침 식후 · 28 days · "
        "온누리&lt;약국&gt; · A병원 · completed"
    )
    assert items[1].startswith(f'<a href="/records/r/{codes["r1"]}/">Jan 5, 2026</a> · prescribed')
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;노바스크정" in items[1]
    assert "<img" not in english
    assert "28일" in korean
    assert " · 조제 · " in korean
    assert " · 완료</li>" in korean


def test_the_dashboard_and_summary_list_what_the_medications_page_calls_current(client, patient):
    """Current by the same dates and statuses everywhere: a prescription still marked "active"
    whose 7-day supply ran out two years ago is past on the dashboard, the summary and a share
    too, and a completed dispensing whose supply lasts until next week is current."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("old", "2024-02-01", **METFORMIN, days=7, status="active"),
            dispensing("now", "2026-03-01", **NORVASC, days=14, pharmacy="온누리약국"),
        ],
    )
    _share, token = make_share(patient, categories=["medication"])
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        login(client, patient.email)
        pages = {
            "medications": client.get("/records/medications/").content.decode(),
            "dashboard": client.get("/dashboard/").content.decode(),
            "summary": client.get("/records/summary/").content.decode(),
        }
        recipient = Client()
        recipient.post(f"/s/{token}/", {"name": "Dr. Lee"})
        pages["share view"] = recipient.get(f"/s/{token}/").content.decode()

    for name, page in pages.items():
        assert "노바스크정" in _current(name, page), name
        assert "다이아벡스정" not in _current(name, page), name


def _current(name: str, page: str) -> str:
    """The current medications of a page: the medications page's "Current" part, or the
    "Current medications" section of the others."""
    if name == "medications":
        return page.split("<h2>Past</h2>")[0]
    section = page[page.index("Current medications") :]
    return section[: section.index("</section>")]


def test_a_long_running_prescription_is_current_everywhere(client, patient):
    """Started over CURRENT_WITHIN_DAYS ago and still current by its resource: a 500-day
    supply, and a dosage bounded until next year (both 'completed'): on the dashboard and in
    the summary as on the medications page (the QA case of 2026-12-02)."""
    bounded = prescription("sertraline", "2025-03-01", **METFORMIN, days=30)
    del bounded["dispenseRequest"]
    bounded["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"end": "2027-03-01"}}}}
    ]
    import_resources(
        patient,
        "A병원",
        [prescription("vitamin-d", "2025-09-01", **NORVASC, days=500), bounded],
    )
    with time_machine.travel(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)):
        login(client, patient.email)
        pages = {
            "medications": client.get("/records/medications/").content.decode(),
            "dashboard": client.get("/dashboard/").content.decode(),
            "summary": client.get("/records/summary/").content.decode(),
        }
    for name, page in pages.items():
        assert "노바스크정" in _current(name, page), name
        assert "다이아벡스정" in _current(name, page), name


def test_more_than_ten_current_medications_are_all_told(client, patient):
    """The dashboard shows ten current medications and says how many more there are (with a
    link to them); the summary lists every one."""
    drugs = [
        prescription(
            f"r{i}",
            "2026-12-01",
            edi=f"6000000{i:02}",
            product=f"약{i:02}정",
            atc=f"A01AA{i:02}",
            atc_name=f"drug {i:02}",
            days=30,
        )
        for i in range(12)
    ]
    import_resources(patient, "A병원", drugs)
    with time_machine.travel(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)):
        login(client, patient.email)
        dashboard = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        summary = client.get("/records/summary/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    card = dashboard[dashboard.index('id="meds-title"') : dashboard.index('id="allergy-title"')]
    assert sum(f"약{i:02}정" in card for i in range(12)) == 10
    assert '<a href="/records/medications/">and 2 more</a>' in card
    assert all(f"약{i:02}정" in summary for i in range(12))


def test_a_line_counts_its_prescriptions_dispensings_and_reports_apart(client, patient):
    """QA: a line said "3 prescriptions" for one prescription, its dispensing at a pharmacy
    and the patient's own report of taking it. Each kind is counted as what it is."""
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationCodeableConcept": prescription("x", "2024-01-01", **NORVASC)[
            "medicationCodeableConcept"
        ],
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2024-03-01",
    }
    import_resources(
        patient,
        "A병원",
        [
            prescription("rx1", "2024-01-02", **NORVASC),
            dispensing("d1", "2024-01-02", **NORVASC, days=30, pharmacy="온누리약국"),
            statement,
        ],
    )
    login(client, patient.email)

    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    summaries = re.findall(r"<summary>([^<]*)</summary>", page)
    assert "1 prescription, 1 dispensing, 1 reported as taken" in summaries, summaries
    assert "3 prescriptions" not in page
    korean = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "처방 1건, 조제 1건, 복용 보고 1건" in korean


def test_a_course_is_current_through_the_last_day_its_period_names(client, patient):
    """QA: a FHIR Period's end is inclusive — a course bounded to end today is still taken
    today — but it was listed as past on that day, everywhere. A supply's last day is the
    day before it runs out: both are said as the last day ("until" it)."""
    bounded = prescription("rx-bounded", "2026-02-20", **NORVASC, days=None)
    del bounded["dispenseRequest"]
    bounded["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"end": "2026-03-10"}}}}
    ]
    supplied = prescription("rx-supplied", "2026-03-01", **METFORMIN, days=10)  # 1st to 10th
    import_resources(patient, "A병원", [bounded, supplied])
    login(client, patient.email)

    def current(day):
        with time_machine.travel(dt.datetime(*day, 12, tzinfo=dt.UTC)):
            page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en")
            dashboard = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")
        page, dashboard = page.content.decode(), dashboard.content.decode()
        listed = page[: page.index("<h2>Past</h2>")] if "<h2>Past</h2>" in page else page
        return listed, dashboard

    listed, dashboard = current((2026, 3, 10))
    for name in ("노바스크", "다이아벡스"):
        assert name in listed, name
        assert name in dashboard, name
    assert "until Mar 10, 2026" in listed
    listed, dashboard = current((2026, 3, 11))
    assert "노바스크" not in listed
    assert "다이아벡스" not in listed
    assert "노바스크" not in dashboard


# --- A line's summary: the course taken now, the next one (QA of the headline) ---------------

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)  # 10 March in Seoul, TODAY


def _summaries(client, patient, part) -> dict[str, list[str]]:
    """Each line's summary (its first muted line) under `part` of the medications page, in
    English and Korean."""
    login(client, patient.email)
    out = {}
    with time_machine.travel(NOW, tick=False):
        for language in ("en", "ko"):
            page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE=language)
            html = page.content.decode()
            start = html.index(f'id="medications-{part}"')
            section = html[start : html.index("</section>", start)]
            out[language] = re.findall(r'<div class="muted">(.*?)</div>', section, re.S)
    return out


def test_a_line_starting_later_shows_its_first_course(client, patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("n3", "2026-05-01", days=30, **NORVASC),
            prescription("n2", "2026-04-01", days=30, **NORVASC),
        ],
    )
    summaries = _summaries(client, patient, "upcoming")
    assert summaries["en"][0].startswith("Apr 1, 2026"), summaries
    assert summaries["ko"][0].startswith("2026-04-01"), summaries


def test_overlapping_current_courses_say_how_long_the_longest_lasts(client, patient):
    """A 180-day course and a 7-day one of the same ingredient started later: the line said
    "until Mar 11 · next course from Apr 1", as if to stop for three weeks (QA)."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("long", "2026-01-01", days=180, **NORVASC),  # through 29 June
            prescription("short", "2026-03-05", days=7, **AMODIPIN),  # through 11 March
            prescription("later", "2026-04-01", days=30, **NORVASC),
        ],
    )
    summaries = _summaries(client, patient, "current")
    assert "until Jun 29, 2026" in summaries["en"][0], summaries
    assert "2026-06-29까지" in summaries["ko"][0], summaries
    assert "next course" not in summaries["en"][0], summaries
    assert "another course from Apr 1, 2026" in summaries["en"][0], summaries
    assert "2026-04-01부터 추가 복용" in summaries["ko"][0], summaries


def test_a_course_starting_before_the_current_one_ends_is_not_called_the_next(client, patient):
    """An early refill: "until Mar 30 · next course from Mar 25" read as a contradiction."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("n2", "2026-03-25", days=30, **NORVASC),
        ],
    )
    (summary,) = _summaries(client, patient, "current")["en"]
    assert "until Mar 30, 2026" in summary, summary
    assert "next course" not in summary, summary
    assert "another course from Mar 25, 2026" in summary, summary


def test_a_course_whose_dosage_starts_later_is_upcoming(client, patient):
    """A prescription written today for a dose period next month was read as taken from
    today (its start was authoredOn), with a false duplicate-therapy warning (QA)."""
    later = prescription("n2", "2026-03-10", **NORVASC)
    del later["dispenseRequest"]
    later["dosageInstruction"] = [
        {
            "text": "1일 1회",
            "timing": {"repeat": {"boundsPeriod": {"start": "2026-04-01", "end": "2026-04-30"}}},
        }
    ]
    import_resources(
        patient, "A병원", [prescription("n1", "2026-03-01", days=30, **NORVASC), later]
    )
    summaries = _summaries(client, patient, "current")
    assert "until Mar 30, 2026 · next course from Apr 1, 2026" in summaries["en"][0], summaries
    assert not _overview(patient).duplicates


def test_a_statement_is_dated_by_when_it_is_taken_not_when_it_was_said(client, patient):
    """MedicationStatement.dateAsserted (when it was reported) came before effectivePeriod
    (when it is taken)."""
    concept = prescription("x", "2026-01-01", **NORVASC)["medicationCodeableConcept"]
    base = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p"},
    }
    import_resources(
        patient,
        "A병원",
        [
            base | {"id": "s1", "effectivePeriod": {"start": "2026-02-01", "end": "2026-03-20"}},
            base
            | {
                "id": "s2",
                "dateAsserted": "2026-03-10",
                "effectivePeriod": {"start": "2026-04-01", "end": "2026-04-30"},
            },
        ],
    )
    summaries = _summaries(client, patient, "current")
    assert "until Mar 20, 2026 · next course from Apr 1, 2026" in summaries["en"][0], summaries
    assert "2026-03-20까지 · 2026-04-01부터 다음 복용" in summaries["ko"][0], summaries


def test_the_hl7_statement_asserted_after_it_was_taken_is_dated_when_taken(patient):
    """HL7's MedicationStatement-example004: taken from 2014-01-23, asserted 2015-02-22."""
    resource = json.loads(
        (FIXTURES / "hl7-r4-examples" / "MedicationStatement-example004.json").read_text()
    )
    import_resources(patient, "HL7", [resource])
    meds = _overview(patient, today=dt.date(2015, 1, 20))
    (entry,) = [e for line in meds.current + meds.past + meds.upcoming for e in line.entries]
    assert entry.start == dt.date(2014, 1, 23)
    assert not entry.upcoming


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"doNotPerform": True}, "not to be taken"),
        ({"intent": "proposal"}, "proposed, not ordered"),
        ({"intent": "plan"}, "proposed, not ordered"),
        ({"status": "draft"}, "draft"),
    ],
)
def test_what_is_not_an_order_is_neither_current_nor_the_next_course(client, patient, extra, words):
    """A "do not perform" request, a proposal, a plan or a draft is no course to take: it
    was announced as the next course (QA), and taken now it would be listed as current."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("n2", "2026-04-01", days=30, **NORVASC) | extra,
            prescription("m1", "2026-03-05", days=30, **METFORMIN) | extra,
        ],
    )
    meds = _overview(patient)
    assert [line.key[1] for line in meds.current] == ["C08CA01"]
    assert meds.upcoming == []
    assert meds.current[0].next_course is None
    (summary,) = _summaries(client, patient, "current")["en"]
    assert "course" not in summary, summary
    login(client, patient.email)
    with time_machine.travel(NOW, tick=False):
        html = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    past = html[html.index('id="medications-past"') :]
    assert "A10BA02" in past
    assert words in past


def test_lines_are_ordered_by_the_course_they_show(client, patient):
    """A line taken since 1 March with a course prescribed for December came before one
    started on 8 March: the order was by the latest course, not the one shown."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("n2", "2026-12-01", days=30, **NORVASC),
            prescription("m1", "2026-03-08", days=30, **METFORMIN),
        ],
    )
    assert [line.key[1] for line in _overview(patient).current] == ["A10BA02", "C08CA01"]


def test_an_undated_course_taken_now_says_so(client, patient):
    undated = prescription("n1", "2026-03-01", status="active", **NORVASC)
    del undated["authoredOn"]
    del undated["dispenseRequest"]
    import_resources(
        patient, "A병원", [undated, prescription("n2", "2026-04-01", days=30, **NORVASC)]
    )
    (summary,) = _summaries(client, patient, "current")["en"]
    assert summary.startswith("no date · "), summary


def test_the_dashboard_says_no_current_medication_not_none_recorded(client, patient):
    """With prescriptions over or starting later, none current, the dashboard said "None
    recorded." under Current medications, as if no medication were on record (QA)."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("old", "2025-01-01", days=30, **METFORMIN),
            prescription("later", "2026-04-01", days=30, **NORVASC),
        ],
    )
    login(client, patient.email)
    with time_machine.travel(NOW, tick=False):
        html = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    section = html[html.index('id="meds-title"') : html.index('id="allergy-title"')]
    assert "None recorded." not in section
    assert "No current medication." in section


def _current_section(page: str) -> str:
    """The "Current medications" section of a page (summary, share view, dashboard)."""
    section = page[page.index("Current medications") :]
    return section[: section.index("</section>")]


def test_the_summary_and_a_share_say_no_current_medication_not_none_recorded(client, patient):
    """The same on the printable summary and a clinician's view of a share: medications on
    record, none taken now (one over, one starting later), read "None recorded." (QA)."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("old", "2025-01-01", days=30, **METFORMIN),
            prescription("later", "2026-04-01", days=30, **NORVASC),
        ],
    )
    login(client, patient.email)
    _share, token = make_share(patient, label="Dr. Kim", categories=["medication"])
    doctor = Client()
    with time_machine.travel(NOW, tick=False):
        summary = client.get("/records/summary/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert doctor.post(f"/s/{token}/", {"name": "Dr. Kim"}).status_code == 302
        shared = doctor.get(f"/s/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        korean = client.get("/records/summary/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for page in (summary, shared):
        section = _current_section(page)
        assert "None recorded." not in section
        assert "No current medication." in section
    assert "현재 복용 중인 약이 없습니다." in korean


def test_the_summary_says_none_recorded_when_no_medication_is_on_record(client, patient):
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p1"},
        "code": {"text": "Penicillin"},
    }
    import_resources(patient, "A병원", [allergy])
    login(client, patient.email)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/records/summary/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    section = _current_section(page)
    assert "None recorded." in section
    assert "No current medication." not in section


def _bounded(rid, written, start, *, days=None, **drug):
    """A prescription written on `written` whose dosage is bounded from `start`."""
    resource = prescription(rid, written, days=days or 30, **(drug or NORVASC))
    if days is None:
        del resource["dispenseRequest"]
    resource["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"start": start}}}}
    ]
    return resource


def test_a_renewal_bounded_from_the_therapy_s_first_day_is_current(client, patient):
    """A renewal written five days ago for 30 days, its dosage bounded from the day the
    therapy began a year before: its supply counts from when it was written (it read as
    ended a year before it was written: under Past, and missing from every summary; QA)."""
    import_resources(patient, "A병원", [_bounded("renew", "2026-03-05", "2025-01-01", days=30)])
    facts = Record.objects.get(resource_id="renew").medication
    assert (facts["start"], facts["end"]) == ("2026-03-05", "2026-04-04")
    assert [line.key[1] for line in _overview(patient).current] == ["C08CA01"]
    login(client, patient.email)
    with time_machine.travel(NOW, tick=False):
        for url in ("/dashboard/", "/records/summary/"):
            assert "노바스크" in client.get(url).content.decode(), url


def test_a_past_line_is_summed_up_by_its_last_course_not_a_proposal(client, patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("m1", "2026-01-01", days=30, **METFORMIN),
            prescription("m2", "2026-04-01", days=90, **METFORMIN) | {"intent": "proposal"},
        ],
    )
    (summary,) = _summaries(client, patient, "past")["en"]
    assert summary.startswith("Jan 1, 2026"), summary


def test_a_line_of_what_is_no_course_to_take_says_so(client, patient):
    """An ingredient named only in a request not to take it, or in a proposal, was listed
    under Past like a course taken (dated next month for the proposal; QA)."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("dnp", "2026-03-05", days=30, **METFORMIN) | {"doNotPerform": True},
            prescription("prop", "2026-04-01", days=30, **NORVASC) | {"intent": "proposal"},
        ],
    )
    summaries = _summaries(client, patient, "past")
    assert sorted(s.split(" · ")[0] for s in summaries["en"]) == [
        "not to be taken",
        "proposed, not ordered",
    ], summaries
    assert sorted(s.split(" · ")[0] for s in summaries["ko"]) == [
        "복용하지 말 것",
        "제안됨(처방 아님)",
    ], summaries
    login(client, patient.email)
    with time_machine.travel(NOW, tick=False):
        html = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<div></div>" not in html  # no products named: none is to be taken


def test_a_product_not_to_be_taken_is_not_named_among_the_products_taken(client, patient):
    """Amlodipine taken now as 노바스크, and a request not to take 아모디핀: the line listed
    both products, as if both were taken (QA). The refused one is in its history only."""
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("a1", "2026-03-05", days=30, **AMODIPIN) | {"doNotPerform": True},
        ],
    )
    (line,) = _overview(patient).current
    assert line.products == [NORVASC["product"]]
    assert line.total == 2
    assert not _overview(patient).duplicates


def test_a_dispensing_of_a_prescription_bounded_to_start_later_is_that_course(client, patient):
    """Filled on the 8th, its prescription's dosage bounded from the 12th: one course, taken
    now; it was also announced as "another course from Mar 12" (QA)."""
    import_resources(patient, "A병원", [_bounded("n2", "2026-03-08", "2026-03-12", days=30)])
    import_resources(
        patient,
        "온누리약국",
        [
            dispensing(
                "d2",
                "2026-03-08",
                days=30,
                pharmacy="온누리약국",
                **NORVASC,
                prescription="MedicationRequest/n2",
            )
        ],
    )
    (summary,) = _summaries(client, patient, "current")["en"]
    assert "course" not in summary, summary


def test_an_early_refill_dispensed_before_its_bounded_start_is_no_duplicate(patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-02-10", days=30, **NORVASC),
            _bounded("n2", "2026-03-08", "2026-03-12", days=30),
        ],
    )
    import_resources(
        patient,
        "온누리약국",
        [
            dispensing(
                "d1",
                "2026-02-10",
                days=30,
                pharmacy="온누리약국",
                **NORVASC,
                prescription="MedicationRequest/n1",
            ),
            dispensing(
                "d2",
                "2026-03-08",
                days=30,
                pharmacy="온누리약국",
                **NORVASC,
                prescription="MedicationRequest/n2",
            ),
        ],
    )
    assert not _overview(patient).duplicates


def test_a_draft_s_product_is_not_named_among_the_products_taken(patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("n1", "2026-03-01", days=30, **NORVASC),
            prescription("a1", "2026-03-05", days=30, status="draft", **AMODIPIN),
        ],
    )
    (line,) = _overview(patient).current
    assert line.products == [NORVASC["product"]]


def test_a_dosage_s_bounds_ending_before_the_course_starts_are_not_its_end(patient):
    """Written on the 12th for 30 days, bounded to end on the 1st: its end was the 2nd, before
    its start, and it was listed as starting later although its bounds had ended (QA)."""
    rx = prescription("n1", "2026-03-12", days=30, **NORVASC)
    rx["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"end": "2026-03-01"}}}}
    ]
    import_resources(patient, "A병원", [rx])
    facts = Record.objects.get(resource_id="n1").medication
    assert facts["end"] is None or facts["end"] > facts["start"], facts


def test_a_past_line_is_not_summed_up_by_a_record_entered_in_error(client, patient):
    import_resources(
        patient,
        "A병원",
        [
            prescription("m1", "2026-01-01", days=30, **METFORMIN),
            prescription("m2", "2026-02-01", days=90, status="entered-in-error", **METFORMIN),
        ],
    )
    (summary,) = _summaries(client, patient, "past")["en"]
    assert summary.startswith("Jan 1, 2026"), summary

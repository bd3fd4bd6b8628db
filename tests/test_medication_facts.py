"""A prescription's facts projected at ingest (records.prescriptions, the `medication`
column): what the medications page, the dashboard and the summaries read instead of decoding
every resource. Checked on real data (KR Core, HL7's R4 examples, Synthea): the page reads the
same from the facts as from the resources themselves."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.db import transaction

from core.access import Actor
from records import medications, prescriptions
from records.ingest import ingest_page
from records.models import Record
from records.queries import records_for
from tests.conftest import login
from tests.records_data import import_resources
from tests.test_medications import AMODIPIN, METFORMIN, NORVASC, krcore_example, prescription

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
THERAPY = set(prescriptions.THERAPY_TYPES) | {"Medication"}


def real_medications() -> list[dict]:
    """Every prescription, dispensing and statement of the HL7 R4 examples (contained and
    referenced Medications, dosages of every shape) and of a Synthea patient, besides KR Core's
    example and the Medication it references."""
    examples = FIXTURES / "hl7-r4-examples"
    resources = [
        json.loads(path.read_text())
        for pattern in ("MedicationRequest-*.json", "MedicationStatement-*.json")
        for path in sorted(examples.glob(pattern))
    ]
    bundle = json.loads(
        (
            FIXTURES / "synthea" / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json"
        ).read_text()
    )
    resources += [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] in THERAPY
    ]
    return resources + krcore_example()


def signature(overview: medications.Overview) -> list:
    """What the page shows of each line and entry."""
    lines = []
    for kind in ("current", "upcoming", "past"):
        for line in getattr(overview, kind):
            entries = [
                (
                    e.record.pk,
                    e.kind,
                    e.product,
                    e.start,
                    e.days,
                    e.end,
                    str(e.dose),
                    e.where,
                    e.current,
                    e.upcoming,
                    e.prescription_ref,
                    e.product_code,
                )
                for e in line.entries
            ]
            lines.append((kind, line.key, line.name, line.basis, entries))
    lines.append(
        [(d.ingredient.key, [e.record.pk for e in d.entries]) for d in overview.duplicates]
    )
    return lines


@pytest.mark.parametrize("today", [dt.date(2013, 6, 1), dt.date(2023, 5, 3), dt.date(2026, 12, 1)])
def test_the_facts_say_what_the_resources_say_on_real_data(patient, today):
    import_resources(patient, "HL7, Synthea and KR Core", real_medications())
    records = records_for(Actor.patient(patient))
    therapies = Record.objects.filter(
        patient=patient, resource_type__in=prescriptions.THERAPY_TYPES
    )
    assert therapies.count() > 40
    assert not therapies.filter(medication__isnull=True).exists()
    assert not Record.objects.filter(
        patient=patient, resource_type="Medication", medication__isnull=False
    ).exists()

    from_facts = medications.overview(records, today=today)
    current = medications.current(records, today=today)
    # The same records without their facts (as stored before the projection): read from the
    # resources, by the same code that projects them.
    therapies.update(medication=None)
    from_resources = medications.overview(records, today=today)

    assert signature(from_facts) == signature(from_resources)
    # current() reads only the entries current today: the same lines, each led by its latest
    # current entry (the page's line may be led by a later, past one).
    taken = {line.key for line in from_facts.current}
    assert {line.key for line in current} == taken
    assert {line.key for line in medications.current(records, today=today)} == taken
    assert (
        sum(
            len(line.entries) for line in from_facts.current + from_facts.upcoming + from_facts.past
        )
        == therapies.count()
    )


def test_ingest_projects_the_facts_and_a_stored_medication_names_the_drug(patient):
    import_resources(patient, "KR Core", krcore_example())

    request = Record.objects.get(patient=patient, resource_type="MedicationRequest")
    assert request.medication["start"] == "2023-04-30"
    assert request.medication["days"] == 7
    assert request.medication["end"] == "2023-05-07"
    assert request.medication["dose"] == {"text": "하루 3알 복용"}
    assert request.medication["medication"]  # the Medication it references, by id
    (line,) = medications.current(records_for(Actor.patient(patient)), today=dt.date(2023, 5, 3))
    assert line.key == (prescriptions.ATC, "M01AB15")  # from the referenced Medication


def test_a_changed_resource_gets_new_facts_on_resync(patient):
    source = import_resources(
        patient, "A병원", [prescription("r1", "2026-01-05", **NORVASC, days=28)]
    )
    assert Record.objects.get(resource_id="r1").medication["end"] == "2026-02-02"

    changed = prescription("r1", "2026-01-05", **NORVASC, days=90, status="stopped")
    with transaction.atomic():
        ingest_page(source_id=source.pk, patient_id=patient.pk, resources=[changed])

    assert Record.objects.get(resource_id="r1").medication["end"] == "2026-04-05"
    assert not medications.current(records_for(Actor.patient(patient)), today=dt.date(2026, 3, 1))


def test_the_migration_projects_the_prescriptions_stored_before_it(patient):
    import_resources(patient, "HL7, Synthea and KR Core", real_medications())
    therapies = Record.objects.filter(
        patient=patient, resource_type__in=prescriptions.THERAPY_TYPES
    )
    projected = dict(therapies.values_list("pk", "medication"))
    therapies.update(medication=None)

    migration = __import__("records.migrations.0008_record_medication_facts", fromlist=["x"])
    migration.BATCH = 7  # several batches
    migration.project_facts(apps, None)

    assert dict(therapies.values_list("pk", "medication")) == projected


def test_a_long_history_lists_the_latest_and_links_to_all_of_it(client, patient):
    start = dt.date(2021, 1, 4)
    refills = [
        prescription(f"r{n}", (start + dt.timedelta(days=28 * n)).isoformat(), **NORVASC, days=28)
        for n in range(60)
    ]
    import_resources(patient, "A병원", refills)
    login(client, patient.email)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        english = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        korean = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    history = english[english.index("<details>") : english.index("</details>")]
    assert "60 prescriptions" in history
    items = re.findall(r"<li>(.*?)</li>", history)
    assert len(items) == medications.HISTORY_ROWS
    latest = Record.objects.get(resource_id="r59")
    assert items[0].startswith(f'<a href="/records/r/{latest.code}/">')
    assert f"The latest {medications.HISTORY_ROWS} of 60." in history
    link = re.search(
        r'<a href="(/records/timeline/\?code=[^"]+)">All of them on the timeline</a>', history
    )
    assert link
    assert f"60건 중 최근 {medications.HISTORY_ROWS}건입니다." in korean
    assert "타임라인에서 모두 보기" in korean
    timeline = client.get(
        link.group(1).replace("&amp;", "&"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Only records coded" in timeline
    assert "노바스크정5밀리그램" in timeline


def test_a_long_history_under_many_product_codes_links_to_what_the_timeline_reads(client, patient):
    """QA: an ingredient filled under dozens of products made the link's code filter longer
    than the timeline reads (300 characters), so it led to an error. Beyond that the link is
    to every medication record instead, and it works."""
    start = dt.date(2021, 1, 4)
    refills = [
        prescription(
            f"r{n}",
            (start + dt.timedelta(days=28 * n)).isoformat(),
            **dict(AMODIPIN, edi=f"6718{n:05d}"),
            days=28,
        )
        for n in range(60)
    ]
    import_resources(patient, "A병원", refills)
    login(client, patient.email)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        english = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    history = english[english.index("<details>") : english.index("</details>")]
    links = re.findall(r'<a href="(/records/timeline/\?[^"]+)">All [^<]*timeline</a>', history)
    assert links == ["/records/timeline/?category=medication"]
    timeline = client.get(links[0], HTTP_ACCEPT_LANGUAGE="en")
    assert timeline.status_code == 200
    assert "아모디핀정5밀리그램" in timeline.content.decode()


def test_a_dose_in_parts_is_told_in_the_readers_language(client, patient):
    resource = prescription("r1", "2026-03-01", **NORVASC, days=28)
    resource["dosageInstruction"] = [
        {
            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}],
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        }
    ]
    import_resources(patient, "A병원", [resource])
    assert Record.objects.get(resource_id="r1").medication["dose"] == {
        "parts": ["5 mg"],
        "repeat": ["2", "1", "d"],
    }
    login(client, patient.email)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        english = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        korean = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    # The period in words, not its UCUM code (QA: "2× every 1 d").
    assert "5 mg · 2× a day" in english
    assert "5 mg · 하루 2회" in korean


@pytest.mark.parametrize(
    ("repeat", "english", "korean"),
    [
        ({"frequency": 1, "period": 8, "periodUnit": "h"}, "1× every 8 hours", "8시간마다 1회"),
        ({"frequency": 1, "period": 1, "periodUnit": "wk"}, "1× a week", "매주 1회"),
        ({"frequency": 3, "period": 2, "periodUnit": "mo"}, "3× every 2 months", "2개월마다 3회"),
        ({"frequency": 1, "period": 0.5, "periodUnit": "d"}, "1× every 0.5 days", "0.5일마다 1회"),
    ],
)
def test_a_dose_s_period_is_said_in_words(client, patient, repeat, english, korean):
    resource = prescription("r1", "2026-03-01", **NORVASC, days=28)
    resource["dosageInstruction"] = [{"timing": {"repeat": repeat}}]
    import_resources(patient, "A병원", [resource])
    login(client, patient.email)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert english in page
        page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
        assert korean in page


def test_what_the_latest_fifty_leave_out_still_counts(patient):
    """An ingredient keeps only its latest HISTORY_ROWS entries for the page, but its count,
    products and places are of all of them, and a current prescription older than those (a
    900-day supply) still makes the line current."""
    start = dt.date(2024, 1, 1)
    refills = [
        prescription(f"r{n}", (start + dt.timedelta(days=7 * n)).isoformat(), **NORVASC, days=7)
        for n in range(60)
    ]
    old = prescription("long", "2024-02-01", **AMODIPIN, days=900)
    old["requester"] = {"display": "김의사 (다른병원)"}
    import_resources(patient, "A병원", [*refills, old])

    records = records_for(Actor.patient(patient))
    (line,) = medications.overview(records, today=dt.date(2026, 3, 10)).current
    assert line.total == 61
    assert len(line.shown) == medications.HISTORY_ROWS
    assert "long" not in {e.record.resource_id for e in line.shown}
    assert [e.record.resource_id for e in line.entries if e.current] == ["long"]
    assert line.products == sorted({NORVASC["product"], AMODIPIN["product"]})
    assert "김의사 (다른병원)" in line.institutions
    (current,) = medications.current(records, today=dt.date(2026, 3, 10))
    assert current.key == line.key
    assert current.latest.record.resource_id == "long"


def _extreme(rid: str, **changes) -> dict:
    resource = prescription(rid, "2025-01-01", **NORVASC, days=30)
    for path, value in changes.items():
        target = resource
        *parents, name = path.split("__")
        for parent in parents:
            target = target[parent] if not parent.isdigit() else target[int(parent)]
        target[name] = value
    return resource


EXTREMES = {
    "far future start": {"authoredOn": "9999-12-25"},
    "year one": {"authoredOn": "0001-01-01"},
    "a billion days": {"dispenseRequest__expectedSupplyDuration__value": 1_000_000_000},
    "two million weeks": {
        "dispenseRequest__expectedSupplyDuration__value": 2_000_000,
        "dispenseRequest__expectedSupplyDuration__code": "wk",
    },
    "bounds at the end of time": {
        "dosageInstruction": [
            {"timing": {"repeat": {"boundsPeriod": {"end": "9999-12-31T23:59:59-12:00"}}}}
        ]
    },
}


@pytest.mark.parametrize("name", EXTREMES)
def test_extreme_dates_and_supplies_are_stored_and_shown_never_a_crash(client, patient, name):
    """Valid R4, absurd values (QA: each made a whole file fail, or part of it stay): the
    resource is stored with what can be read of it, the rest of the file with it, and every
    page that reads it answers."""
    extreme = _extreme("extreme", **EXTREMES[name])
    import_resources(patient, "A병원", [extreme, prescription("ok", "2026-01-05", **METFORMIN)])

    stored = Record.objects.filter(patient=patient)
    assert set(stored.values_list("resource_id", flat=True)) == {"extreme", "ok"}
    login(client, patient.email)
    for url in ("/records/medications/", "/dashboard/", "/records/summary/", "/records/timeline/"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/records/r/{stored.get(resource_id='extreme').code}/").status_code == 200


def test_a_supply_written_with_a_decimal_point_counts(patient):
    """fhirjson reads 30.0 as a Decimal (its digits kept): still a 30-day supply."""
    resource = prescription("r1", "2025-01-01", **NORVASC, days=30)
    resource["dispenseRequest"]["expectedSupplyDuration"]["value"] = 30.0  # sent as "30.0"
    resource["status"] = "active"
    import_resources(patient, "A병원", [resource])

    facts = Record.objects.get(resource_id="r1").medication
    assert (facts["days"], facts["end"]) == (30, "2025-01-31")
    assert not medications.current(records_for(Actor.patient(patient)), today=dt.date(2026, 3, 1))


def test_the_migration_survives_what_it_finds_stored(patient):
    import_resources(patient, "A병원", [_extreme(n, **c) for n, c in EXTREMES.items()])
    Record.objects.filter(patient=patient).update(medication=None)

    migration = __import__("records.migrations.0008_record_medication_facts", fromlist=["x"])
    migration.project_facts(apps, None)

    assert not Record.objects.filter(patient=patient, medication__isnull=True).exists()


def test_a_refused_prescription_is_still_named_and_dated(patient):
    """Naming a refused resource reads its name and date, not its facts: a dosage of the
    wrong shape (doseAndRate an object) no longer leaves it "MedicationRequest, no date"."""
    wrong = prescription("wrong", "2026-01-05", **NORVASC)
    wrong["dosageInstruction"] = [{"doseAndRate": {"doseQuantity": {"value": 1}}}]
    source = import_resources(
        patient, "A병원", [wrong, prescription("ok", "2026-01-05", **METFORMIN)]
    )

    issue = source.runs.get().issues.get()
    assert (issue.resource_id, issue.display) == ("wrong", NORVASC["product"])
    assert issue.effective is not None


def test_a_long_history_without_codes_links_to_the_medication_records(client, patient):
    """Drugs named only by text (or by a referenced Medication) have no code to filter by: the
    rest of their history is on the timeline's medication records."""
    named = []
    for n in range(55):
        resource = prescription(f"n{n}", f"2024-{1 + n % 12:02d}-{1 + n // 12:02d}", **NORVASC)
        resource["medicationCodeableConcept"] = {"text": "집에서 지은 약"}
        named.append(resource)
    import_resources(patient, "A병원", named)
    login(client, patient.email)

    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "The latest 50 of 55." in page
    link = '<a href="/records/timeline/?category=medication">'
    assert f"{link}All medication records on the timeline</a>" in page
    timeline = client.get("/records/timeline/?category=medication").content.decode()
    assert "집에서 지은 약" in timeline


def test_a_medication_statement_is_not_called_a_prescription(client, patient):
    statement = json.loads(
        (FIXTURES / "hl7-r4-examples" / "MedicationStatement-example001.json").read_text()
    )
    import_resources(patient, "HL7", [statement])
    login(client, patient.email)

    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    history = page[page.index("<details>") : page.index("</details>")]
    assert " · reported as taken · " in history
    assert "prescribed" not in history


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "0001-06-01", "9999-12-31T23:59:59Z", "9999-06-01"]
)
def test_a_result_at_the_ends_of_the_calendar_breaks_no_page(client, patient, moment):
    """QA: a result dated in year 1 or 9999 (valid R4) broke the dashboard, the timeline and
    the charts (a year taken off, or KST added, left Python's calendar). The resource is kept
    as sent; its date column is left empty."""
    from tests.test_charts import blood_pressure

    import_resources(
        patient,
        "A병원",
        [blood_pressure("bp0", 120, 80, moment), blood_pressure("bp1", 130, 85, "2026-01-05")],
    )
    login(client, patient.email)
    for url in (
        "/dashboard/",
        "/records/timeline/",
        "/records/vitals/",
        "/records/summary/",
        "/records/timeline/?date_from=2020-01-01",
        "/api/v1/records/",
    ):
        assert client.get(url).status_code == 200, url
    assert Record.objects.get(resource_id="bp0").effective is None
    # In the values table under the chart it has no date: not today's, nor another's.
    page = client.get("/records/vitals/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    rows = re.findall(r"<tr><td>([^<]*)</td><td><a [^>]*>([^<]*)</a>", page)
    assert ("no date", "120/80 mmHg") in rows, rows


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
        ("2016-12-31T23:59:60.5+00:00", dt.datetime(2016, 12, 31, 23, 59, 59, 500000, dt.UTC)),
    ],
)
def test_a_leap_second_is_a_date_not_none(patient, moment, expected):
    """FHIR's dateTime allows second 60 (a leap second); Python does not (QA: the result read
    as undated). It is read as the second before."""
    from tests.test_charts import blood_pressure

    import_resources(patient, "A병원", [blood_pressure("leap", 120, 80, moment)])

    assert Record.objects.get(resource_id="leap").effective == expected


def test_the_current_prescriptions_are_found_through_an_index(patient, other_patient):
    """The dashboard, the summary and a share's overview list what is taken today: of a
    patient's thousands of prescriptions, PostgreSQL read and tested every one's facts (12 ms
    for 4,392 at 20,000 records). The records that may be current (ending after today, or
    with no end) are found through record_patient_med_end_idx, and current() lists the same
    lines as the medications page on every day."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for owner in (patient, other_patient):
        import_resources(owner, "HL7, Synthea and KR Core", real_medications())
    records = records_for(Actor.patient(patient))
    for today in (dt.date(2013, 6, 1), dt.date(2023, 5, 3), dt.date(2026, 12, 1)):
        whole = {line.key for line in medications.overview(records, today=today).current}
        assert {line.key for line in medications.current(records, today=today)} == whole
    if connection.vendor != "postgresql":
        return
    with CaptureQueriesContext(connection) as captured:
        medications.current(records, today=dt.date(2023, 5, 3))
    (read,) = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "records_record"."id"')
        and "'99999'" in q["sql"]
        and '"records_record"."id" IN (' not in q["sql"]  # the resources re-read, by id
    ]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE records_record")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {read}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "record_patient_med_end_idx" in plan, plan


def test_the_migration_moves_a_period_s_end_past_its_last_day(patient):
    """records.0013: facts stored with a period's end as their end (the course read as over on
    its last day) are projected again; a supply's facts stay as they were."""
    bounded = prescription("rx-bounded", "2026-02-20", **NORVASC)
    del bounded["dispenseRequest"]
    bounded["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"end": "2026-03-10"}}}}
    ]
    supplied = prescription("rx-supplied", "2026-03-01", **METFORMIN, days=10)
    import_resources(patient, "A병원", [bounded, supplied])
    stored = Record.objects.get(resource_id="rx-bounded")
    assert stored.medication["end"] == "2026-03-11"  # the first day it is no longer taken
    old = {**stored.medication, "end": "2026-03-10"}  # as the code before 0013 stored it
    Record.objects.filter(pk=stored.pk).update(medication=old)
    supply_facts = Record.objects.get(resource_id="rx-supplied").medication

    migration = __import__(
        "records.migrations.0013_prescription_period_end_inclusive", fromlist=["x"]
    )
    migration.BATCH = 1
    migration.project_again(apps, None)

    assert Record.objects.get(resource_id="rx-bounded").medication["end"] == "2026-03-11"
    assert Record.objects.get(resource_id="rx-supplied").medication == supply_facts
    assert supply_facts["end"] == "2026-03-11"  # ten days from the 1st: through the 10th


def test_the_migration_dates_a_course_by_its_dosage_and_says_what_is_no_order(patient):
    """records.0014: facts stored before start_of read a dosage's bounds (the course dated the
    day it was written) and before `order` (a request not to take a drug listed as taken) are
    projected again."""
    later = prescription("rx-later", "2026-03-10", **NORVASC)
    del later["dispenseRequest"]
    later["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"start": "2026-04-01"}}}}
    ]
    forbidden = prescription("rx-no", "2026-03-01", **METFORMIN, days=10) | {"doNotPerform": True}
    import_resources(patient, "A병원", [later, forbidden])
    assert Record.objects.get(resource_id="rx-later").medication["start"] == "2026-04-01"
    assert Record.objects.get(resource_id="rx-no").medication["order"] == "do-not-perform"
    for record in Record.objects.filter(resource_id__in=["rx-later", "rx-no"]):
        old = {key: value for key, value in record.medication.items() if key != "order"}
        if record.resource_id == "rx-later":
            old["start"] = "2026-03-10"  # as the code before 0014 stored it
        Record.objects.filter(pk=record.pk).update(medication=old)

    migration = __import__("records.migrations.0014_prescription_start_and_order", fromlist=["x"])
    migration.BATCH = 1
    migration.project_again(apps, None)

    assert Record.objects.get(resource_id="rx-later").medication["start"] == "2026-04-01"
    assert Record.objects.get(resource_id="rx-no").medication["order"] == "do-not-perform"


def test_a_course_ends_when_its_dosage_s_bounds_end_before_its_supply(patient):
    """HL7's medrx0305: "as needed for menses from Jan 15-20, 2015" (boundsPeriod 15–20
    January) with a 10-day supply: taken through the 20th, not the 24th (QA: the supply
    always won over the bounds)."""
    resource = json.loads(
        (FIXTURES / "hl7-r4-examples" / "MedicationRequest-medrx0305.json").read_text()
    )
    said = prescriptions.facts(resource, None)
    assert (said["start"], said["days"], said["end"]) == ("2015-01-15", 10, "2015-01-21")
    supply_first = prescription("rx", "2026-03-01", **NORVASC, days=10)
    supply_first["dosageInstruction"] = [
        {"text": "1일 1회", "timing": {"repeat": {"boundsPeriod": {"end": "2026-06-30"}}}}
    ]
    assert prescriptions.facts(supply_first, None)["end"] == "2026-03-11"

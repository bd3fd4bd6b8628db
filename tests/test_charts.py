"""Charts read as a whole: each institution keeps its colour and marker across every chart of a
patient (and of a share), the legend names institutions and the two blood-pressure lines, the
axis carries its unit as people write it, and the reference band says its range.

The charts are parsed as XML (the figure: the SVG and its legend), not matched as text."""

import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import login
from tests.factories import make_share
from tests.records_data import import_resources
from tests.test_records import hba1c

pytestmark = pytest.mark.django_db
LOINC = "http://loinc.org"


def blood_pressure(rid, systolic, diastolic, date):
    def component(code, value):
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {
                "value": value,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "혈압"},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": date,
        "component": [component("8480-6", systolic), component("8462-4", diastolic)],
    }


@pytest.fixture
def two_sources(patient):
    """A병원 (linked first) measured blood pressure only; B의원 measured both, and is the only
    one on the HbA1c chart: a colour picked per chart would give B의원 A병원's colour there."""
    import_resources(
        patient,
        "A병원",
        [blood_pressure("a1", 131, 84, "2024-02-01"), blood_pressure("a2", 127, 80, "2024-08-01")],
    )
    import_resources(
        patient,
        "B의원",
        [
            hba1c("b1", 7.6, "2024-04-10"),
            hba1c("b2", 6.9, "2024-10-10"),
            blood_pressure("b3", 138, 88, "2024-05-01"),
        ],
    )
    return patient


def figures(page: str) -> list[ET.Element]:
    found = re.findall(r'<figure class="chart">.*?</figure>', page, flags=re.S)
    assert found, "no chart on the page"
    # Our own page, rendered by the test client: no untrusted XML.
    return [ET.fromstring(figure) for figure in found]  # noqa: S314


def svg_texts(figure, cls: str) -> list[str]:
    return [
        "".join(node.itertext()).strip()
        for node in figure.iter("{http://www.w3.org/2000/svg}text")
        if cls in node.get("class", "").split()
    ]


def legend(figure) -> dict[str, dict]:
    """{item text: its marker's attributes} of the figure's legend."""
    items = {}
    for item in figure.iter("li"):
        marker = next(
            node
            for node in item.iter()
            if node.tag.split("}")[-1] in ("path", "line", "rect") and node.get("class")
        )
        items["".join(item.itertext()).strip()] = dict(marker.attrib)
    return items


def points(figure) -> list[dict]:
    return [
        {**node.attrib, "title": "".join(node.itertext())}
        for node in figure.iter("{http://www.w3.org/2000/svg}path")
        if "chart-point" in node.get("class", "").split()
    ]


def test_an_institution_keeps_its_colour_and_marker_on_every_chart(client, two_sources):
    login(client, two_sources.email)
    (lab,) = figures(client.get("/records/labs/4548-4/").content.decode())
    bp = figures(client.get("/records/vitals/").content.decode())[0]

    lab_legend, bp_legend = legend(lab), legend(bp)
    assert [name for name in lab_legend if "병원" in name or "의원" in name] == ["B의원"]
    assert [name for name in bp_legend if "병원" in name or "의원" in name] == ["A병원", "B의원"]
    assert lab_legend["B의원"]["fill"] == bp_legend["B의원"]["fill"] == "#D55E00"
    assert lab_legend["B의원"]["class"] == bp_legend["B의원"]["class"] == "marker marker-square"
    assert bp_legend["A병원"]["fill"] == "#0072B2"
    assert bp_legend["A병원"]["class"] == "marker marker-circle"
    # Every point wears its institution's colour and shape (not colour alone).
    for figure, names in ((lab, lab_legend), (bp, bp_legend)):
        for point in points(figure):
            institution = point["title"].rsplit(" · ", 1)[1]
            assert point["fill"] == names[institution]["fill"], point
            assert point["class"].split()[1] == names[institution]["class"].split()[1]


def test_blood_pressure_lines_are_named_and_the_axis_carries_the_unit(client, two_sources):
    login(client, two_sources.email)
    bp = figures(client.get("/records/vitals/").content.decode())[0]

    items = legend(bp)
    assert items["Systolic"]["class"] == "line line-systolic"
    assert items["Diastolic"]["class"] == "line line-diastolic"
    assert items["Diastolic"]["stroke-dasharray"] == "6 4"  # told apart without colour
    assert svg_texts(bp, "chart-unit") == ["mmHg"]
    titles = [point["title"] for point in points(bp)]
    assert "Feb 1, 2024 · Systolic 131 mmHg · A병원" in titles
    assert "Feb 1, 2024 · Diastolic 84 mmHg · A병원" in titles


def test_reference_band_is_labelled_with_its_range(client, two_sources):
    login(client, two_sources.email)
    (lab,) = figures(client.get("/records/labs/4548-4/").content.decode())

    assert svg_texts(lab, "chart-unit") == ["%"]
    assert svg_texts(lab, "chart-band-label") == ["Reference 4.0–6.0%"]
    assert "Reference 4.0–6.0%" in legend(lab)
    assert [point["title"] for point in points(lab)] == [
        "Apr 10, 2024 · 7.6% · B의원",
        "Oct 10, 2024 · 6.9% · B의원",
    ]


def test_share_charts_keep_one_colour_per_institution(client, two_sources):
    _share, token = make_share(two_sources, categories=["lab", "vital"])
    client.post(f"/s/{token}/", {"name": "Dr. Lee"})

    (lab,) = figures(client.get(f"/s/{token}/labs/4548-4/").content.decode())
    bp = figures(client.get(f"/s/{token}/c/vital/").content.decode())[0]

    assert legend(lab)["B의원"]["fill"] == legend(bp)["B의원"]["fill"] == "#D55E00"
    assert legend(bp)["A병원"]["fill"] == "#0072B2"
    assert svg_texts(bp, "chart-unit") == ["mmHg"]


def test_chart_points_carry_each_records_own_moment(patient):
    """series_points reads dates as text (records.queries.moment): the same instants as the
    records', fractions of a second and offsets included, on PostgreSQL and SQLite alike."""
    from core.access import Actor
    from records import queries
    from records.models import Record

    moments = [
        "2024-01-05T08:30:00+09:00",
        "2024-02-29T23:59:59.123456+09:00",
        "2024-03-01T00:00:00Z",
        "2024-06-10T12:00:00-05:00",
        "2024-07",  # a partial date
    ]
    import_resources(
        patient,
        "A병원",
        [blood_pressure(f"bp{n}", 120 + n, 80, moment) for n, moment in enumerate(moments)],
    )

    (points,) = queries.series_points(
        queries.records_for(Actor.patient(patient)), [(("85354-9",), "vital")]
    )

    stored = dict(Record.objects.filter(patient=patient).values_list("pk", "effective"))
    assert len(points) == len(moments)
    assert [p.effective for p in points] == sorted(stored.values())
    assert all(p.effective == stored[p.pk] and p.effective.utcoffset() is not None for p in points)


def test_a_tests_latest_is_the_last_point_of_its_chart_on_real_data(patient):
    """The lab page's title and 404 read series_latest, its chart series_points: for every
    test of a Synthea patient (a lab under two codes too), the same record."""
    import json
    from pathlib import Path

    from core.access import Actor
    from records import queries
    from records.models import Record

    bundle = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
    bundle = json.loads(
        (bundle / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json").read_text()
    )
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    import_resources(patient, "Synthea", observations)
    records = queries.records_for(Actor.patient(patient))
    codes = set(
        Record.objects.filter(patient=patient, category="lab", value_num__isnull=False).values_list(
            "code_value", flat=True
        )
    )
    assert len(codes) > 10

    for code in [*sorted(codes), "no-such-test"]:
        (points,) = queries.series_points(records, [((code,), "lab")])
        latest = queries.series_latest(records, (code,), "lab")
        assert (latest.pk if latest else None) == (points[-1].pk if points else None), code


def test_the_vital_signs_series_are_read_through_indexes_not_the_whole_table(
    patient, other_patient
):
    """The charts' values are found by code or by second code (code_value IN (…) OR code_alt
    IN (…)). Without an index for the second code, PostgreSQL answered that OR by reading the
    whole table, every patient's rows (105 ms for one patient's vital signs at 20,000
    records) or, with sequential reads off, every row of the patient's. With the statistics of
    real data, the planner answers both arms from the codes' indexes."""
    import json
    from pathlib import Path

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.access import Actor
    from records import charts, queries

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    folder = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
    bundle = json.loads(
        (folder / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json").read_text()
    )
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    import_resources(patient, "Synthea", observations)
    import_resources(other_patient, "Synthea", observations)
    wanted = [(codes, category) for codes, _title, _second, category in charts.VITAL_CHARTS]

    with CaptureQueriesContext(connection) as captured:
        series = queries.series_points(queries.records_for(Actor.patient(patient)), wanted)
    (values,) = [q["sql"] for q in captured.captured_queries if "'referenceRange'" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE records_record")  # as autovacuum would after the import
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {values}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on records_record" not in plan, plan
    assert "record_patient_cat_alt_idx" in plan, plan
    assert sum(map(len, series)) > 30  # blood pressure, weight, BMI, heart rate and glucose
    assert {p.source.display_name for points in series for p in points[:-1]} == {"Synthea"}


def test_the_latest_vital_sign_is_the_latest_dated_one(client, patient):
    """QA: PostgreSQL sorts empty dates first in a descending order, so a reading whose date
    a column cannot hold (year 1) was the dashboard's "latest" blood pressure, and the glance
    page failed on it. The latest is the latest dated reading, on every database; a vital sign
    with an undated reading only breaks no page."""
    import_resources(
        patient,
        "A병원",
        [
            blood_pressure("bp-dated", 118, 76, "2026-11-20"),
            blood_pressure("bp-year-1", 180, 120, "0001-01-01T00:00:00Z"),
        ],
    )
    import_resources(patient, "B의원", [_heart_rate("hr-9999", 61, "9999-12-31T23:59:59Z")])
    login(client, patient.email)

    page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    latest = page[page.index('id="vitals-title"') : page.index('id="visits-title"')]
    assert "118/76" in latest
    assert "180/120" not in latest
    for url in ("/records/explain/glance/", "/records/explain/digest/", "/records/summary/"):
        assert client.get(url, HTTP_ACCEPT_LANGUAGE="en").status_code == 200, url


def _heart_rate(rid, value, date):
    """A heart rate, shaped as blood_pressure's vital sign with one value."""
    resource = blood_pressure(rid, 0, 0, date)
    del resource["component"]
    resource["code"] = {"coding": [{"system": LOINC, "code": "8867-4"}], "text": "Heart rate"}
    resource["valueQuantity"] = {
        "value": value,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    return resource

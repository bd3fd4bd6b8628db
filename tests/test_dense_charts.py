"""A series of thousands of values (years of home blood pressure): the chart draws each stretch
of time's highest and lowest, so no peak or trough is lost, and says how many values it
stands for; the values table lists the latest ones and links to every value on the timeline;
a sentence over a year of readings links its first and latest, not each one."""

import datetime as dt
import re

import pytest

from records import charts, queries
from records.models import Record
from tests.conftest import login
from tests.factories import SourceFactory, make_share
from tests.records_data import import_resources
from tests.test_charts import blood_pressure, figures, points
from tests.test_records import hba1c

pytestmark = pytest.mark.django_db
READINGS = 800
SPIKE, TROUGH = 400, 600  # the one systolic 212 and the one diastolic 41


def _readings():
    start = dt.date(2023, 1, 1)
    readings = []
    for day in range(READINGS):
        systolic, diastolic = 118 + day % 7, 76 + day % 5
        if day == SPIKE:
            systolic = 212
        if day == TROUGH:
            diastolic = 41
        readings.append(
            blood_pressure(f"bp{day}", systolic, diastolic, (start + dt.timedelta(day)).isoformat())
        )
    return readings


@pytest.fixture
def home_readings(patient):
    import_resources(patient, "혈압계", _readings())
    import_resources(patient, "B의원", [hba1c("h1", 7.6, "2024-04-10")])
    return patient


def _bp_section(page: str) -> str:
    return page[page.index('id="vital-1"') : page.index("</section>", page.index('id="vital-1"'))]


def test_a_dense_chart_draws_every_peak_and_trough_and_says_so(client, home_readings):
    login(client, home_readings.email)
    page = client.get("/records/vitals/").content.decode()
    bp = figures(page)[0]

    drawn = points(bp)
    titles = [point["title"] for point in drawn]
    # Two components per reading drawn; far fewer than the 1,600 values.
    assert len(drawn) <= 2 * (4 * charts.PERIODS + 2)
    assert len(drawn) < 2 * READINGS
    assert any("Systolic 212 mmHg" in title for title in titles)
    assert any("Diastolic 41 mmHg" in title for title in titles)
    # The first and the latest reading are drawn.
    assert any(title.startswith("Jan 1, 2023 · Systolic") for title in titles)
    assert any(title.startswith("Mar 10, 2025 · Systolic") for title in titles)
    caption = re.sub(r"\s+", " ", "".join(bp.find("figcaption").itertext()))
    assert f"{READINGS} values: where they are dense" in caption
    assert f"({len(drawn) // 2} points)" in caption


def test_the_values_table_lists_the_latest_and_links_to_all_of_them(client, home_readings):
    login(client, home_readings.email)
    section = _bp_section(client.get("/records/vitals/").content.decode())

    rows = re.findall(r"<tr><td>", section)
    assert len(rows) == charts.TABLE_ROWS
    assert "Mar 10, 2025" in section  # the latest reading is in the table
    assert f"The latest {charts.TABLE_ROWS} of {READINGS} values." in section
    (link,) = re.findall(r'href="(/records/timeline/\?code=[^"]+)"', section)
    assert link == "/records/timeline/?code=85354-9"

    timeline = client.get(link).content.decode()
    assert "Only records coded 85354-9 are listed." in timeline
    assert "당화혈색소" not in timeline
    assert timeline.count('class="record') >= queries.PAGE_SIZE


def test_the_timeline_lists_several_codes_of_one_series(client, home_readings):
    login(client, home_readings.email)
    april = {"date_from": "2024-04-09", "date_to": "2024-04-11"}
    both = client.get("/records/timeline/", {"code": "85354-9,4548-4", **april}).content.decode()
    assert "당화혈색소" in both
    assert "mmHg" in both
    one = client.get("/records/timeline/", {"code": "4548-4", **april}).content.decode()
    assert "당화혈색소" in one
    assert "mmHg" not in one
    for hostile in (",,,", ",", "4548-4,,", "\x00", "a" * 301):
        assert client.get("/records/timeline/", {"code": hostile}).status_code in (200, 400)


def test_a_share_lists_the_latest_values_without_a_link_to_the_patients_timeline(
    client, home_readings
):
    _share, token = make_share(home_readings, categories=["vital"])
    client.post(f"/s/{token}/", {"name": "Dr. Lee"})
    page = client.get(f"/s/{token}/c/vital/").content.decode()

    assert f"The latest {charts.TABLE_ROWS} of {READINGS} values." in page
    assert "/records/timeline/" not in page
    assert any("Systolic 212 mmHg" in point["title"] for point in points(figures(page)[0]))


def test_a_sentence_over_a_year_of_readings_links_its_first_and_latest(client, home_readings):
    login(client, home_readings.email)
    section = _bp_section(client.get("/records/vitals/").content.decode())
    explained = section[section.index('class="card explanation"') :]

    year = next(line for line in explained.split("<li") if "Over the last year" in line)
    assert len(re.findall(r'<a href="/records/r/', year)) == 2
    assert "…" in year


def test_source_ids_are_the_sources_the_scoped_records_came_from(patient):
    bp = import_resources(patient, "혈압계", _readings()[:3])
    lab = import_resources(patient, "B의원", [hba1c("h1", 7.6, "2024-04-10")])
    SourceFactory(patient=patient)  # linked, nothing fetched yet
    records = Record.objects.filter(patient=patient)

    assert queries.source_ids(records) == [bp.pk, lab.pk]
    assert queries.source_ids(records.filter(category="lab")) == [lab.pk]
    assert queries.source_ids(records.filter(category="allergy")) == []
    assert queries.source_ids(Record.objects.none()) == []


def test_a_filter_that_cannot_be_applied_lists_nothing_and_says_why(client, home_readings):
    """An invalid filter (a bad date, a code list too long for the field) lists nothing under
    its reason, never every record under a notice that it was filtered; the export too."""
    login(client, home_readings.email)
    for query in ({"code": "85354-9", "date_from": "bad"}, {"code": "A" * 301}):
        page = client.get("/records/timeline/", query, HTTP_ACCEPT_LANGUAGE="en")
        text = page.content.decode()
        assert page.status_code == 200
        assert 'class="record ' not in text
        assert "Only records coded" not in text
        assert "No records match your search or filters." in text
        export = client.get("/records/export/fhir/", query, HTTP_ACCEPT_LANGUAGE="en")
        assert export.status_code == 400
        assert "The filter cannot be applied:" in export.content.decode()
    dated = client.get("/records/timeline/", {"date_from": "bad"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "Enter a valid date." in dated.content.decode()


def test_empty_and_spaced_codes_and_a_code_with_a_comma(client, patient):
    local = {**hba1c("q1", 7.1, "2024-04-10"), "code": {"coding": [{"code": "QA,77"}]}}
    import_resources(patient, "B의원", [local, hba1c("h1", 7.6, "2024-05-10")])
    login(client, patient.email)

    for blank in (",", ",,", " "):  # no code at all: no filter, no notice
        page = client.get("/records/timeline/", {"code": blank}).content.decode()
        assert "Only records coded" not in page
        assert page.count('class="record ') == 2
    spaced = client.get("/records/timeline/", {"code": "4548-4, QA\\,77"}).content.decode()
    assert spaced.count('class="record ') == 2
    assert "Only records coded 4548-4, QA,77 are listed." in spaced
    comma = client.get("/records/timeline/", {"code": "QA\\,77"}).content.decode()
    assert comma.count('class="record ') == 1
    assert queries.code_tokens(queries.code_token("a\\b,c") + ",d") == ["a\\b,c", "d"]


def test_the_time_axis_labels_its_middle_halfway_in_time(client, home_readings):
    """Years of sparse visits and a dense year: the middle label is the date halfway between
    the first and the latest, at the axis's middle, not the middle value's date."""
    import_resources(home_readings, "A병원", [blood_pressure("old", 130, 85, "2015-01-01")])
    login(client, home_readings.email)
    bp = figures(client.get("/records/vitals/").content.decode())[0]
    labels = [
        "".join(node.itertext())
        for node in bp.iter("{http://www.w3.org/2000/svg}text")
        if node.get("text-anchor") in ("start", "middle", "end") and node.get("y") == "244"
    ]
    assert labels == ["Jan 1, 2015", "Feb 4, 2020", "Mar 10, 2025"]

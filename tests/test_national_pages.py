"""The national-data page (the three agencies, connected per agency with consent) and the
check-up pages (by year, what changed, the trend of an item, the next check-up due), on data
synced from the mock NHIS."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from core.access import Actor
from institutions import domain
from institutions.models import Source
from mockhospital.demo import DEMO_AGENCIES
from mockhospital.domain import register_patient
from mockhospital.models import MockInstitution
from records import checkups as ck
from records.models import Record
from tests.conftest import login, onboard, run_to_end
from tests.test_agencies import warm

pytestmark = pytest.mark.django_db(transaction=True)
CLOCK = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def _agencies(live_server, *people):
    """The three agencies, onboarded; `people` registered there with their demographics (as
    the demo registers its patients: the agencies' history follows their real age)."""
    warm(live_server)
    institutions = {}
    for spec in DEMO_AGENCIES:
        mock = MockInstitution.objects.create(
            **spec, client_id=spec["slug"], client_secret="s", clock=CLOCK
        )
        for person in people:
            profile = person.profile
            register_patient(
                institution=mock,
                identifier=profile.verified_identifier,
                full_name=profile.full_name,
                birth_date=profile.birth_date,
                sex=profile.sex,
                phone=profile.phone,
            )
        institutions[spec["slug"]] = onboard(live_server, mock)
    return institutions


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_a_verified_patient_connects_nhis_and_reads_their_checkups(
    live_server, client, other_patient
):
    agencies = _agencies(live_server, other_patient)
    login(client, other_patient.email)

    page = client.get("/national/")
    assert page.status_code == 200
    for institution in agencies.values():
        assert institution.name in page.content.decode()
    assert "10" in _text(page)  # the windows are explained
    directory = client.get("/institutions/")
    assert agencies["nhis"].name not in directory.content.decode()  # not a hospital

    consent = client.get(f"/institutions/{agencies['nhis'].code}/link/")
    assert "10" in _text(consent)
    linked = client.post(f"/institutions/{agencies['nhis'].code}/link/", {"agree": "on"})
    assert linked.status_code == 302, _text(linked)[:500]
    source = Source.objects.get(patient=other_patient, institution=agencies["nhis"])
    run_to_end(source.runs.get())
    assert Record.objects.filter(source=source, resource_type="DiagnosticReport").exists()
    detail = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "national health check-ups from the last 10 years" in _text(detail)

    index = client.get("/records/checkups/", HTTP_ACCEPT_LANGUAGE="en")
    assert index.status_code == 200
    years = [int(y) for y in re.findall(r"/records/checkups/(\d{4})/", index.content.decode())]
    assert years
    assert years == sorted(years, reverse=True)
    assert all(year % 2 == 0 for year in years)  # born 1990: even years
    # The next check-up: two years after the latest, or this year if it is a cycle year.
    due = ck.next_checkup_due(Actor.patient(other_patient))
    assert due is not None
    assert due.year % 2 == 0
    assert due.year > years[0] or due.year == timezone.localdate().year
    assert str(due.year) in _text(index)

    year = client.get(f"/records/checkups/{years[0]}/", HTTP_ACCEPT_LANGUAGE="en")
    text = _text(year)
    assert year.status_code == 200
    for words in ("Fasting glucose", "Blood pressure", "Haemoglobin", "Chest X-ray", "γ-GTP"):
        assert words in text
    assert "Normal (A)" in text
    assert f"since {years[1]}" in text if len(years) > 1 else "first check-up" in text

    trend = client.get("/records/checkups/trend/1558-6/", HTTP_ACCEPT_LANGUAGE="en")
    assert trend.status_code == 200
    assert "<svg" in trend.content.decode()
    assert len(re.findall(r'class="chart-point', trend.content.decode())) == len(years)

    korean = client.get(f"/records/checkups/{years[0]}/", HTTP_ACCEPT_LANGUAGE="ko")
    assert korean.status_code == 200
    assert '<html lang="ko"' in korean.content.decode()

    assert client.get("/records/checkups/1999/").status_code == 404
    assert client.get("/records/checkups/trend/nope/").status_code == 404


def test_checkup_pages_show_nothing_of_another_patient(live_server, client, patient, other_patient):
    agencies = _agencies(live_server, other_patient)

    source = domain.link_institution(patient=other_patient, institution=agencies["nhis"])
    run_to_end(source.runs.get())
    login(client, patient.email)
    index = client.get("/records/checkups/", HTTP_ACCEPT_LANGUAGE="en")
    assert index.status_code == 200
    assert not re.findall(r"/records/checkups/(\d{4})/", index.content.decode())
    year = Record.objects.filter(source=source, resource_type="DiagnosticReport").first()
    assert client.get(f"/records/checkups/{year.effective.year}/").status_code == 404
    assert client.get("/records/checkups/trend/1558-6/").status_code == 404


def test_without_nhis_the_checkup_page_says_the_next_one_is_unknown(client, patient):
    # 김민준, born 1962, nothing linked: "due this year" would be read from nothing fetched.
    login(client, patient.email)

    page = _text(client.get("/records/checkups/", HTTP_ACCEPT_LANGUAGE="en"))

    assert "NHIS is not connected." in page
    assert "is due this year" not in page
    assert "is due in" not in page


def test_with_nhis_connected_and_no_checkup_the_page_says_nhis_sent_none(client, patient):
    from tests.test_vaccinations import connect

    connect(patient, "nhis")
    login(client, patient.email)

    page = _text(client.get("/records/checkups/", HTTP_ACCEPT_LANGUAGE="en"))

    assert "NHIS is not connected" not in page
    assert "NHIS is connected and sent no national health check-up" in page
    assert "Connect NHIS on the national data page" not in page

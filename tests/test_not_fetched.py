"""While a linked institution has not completed a sync (its first one is running, or failed),
what it holds is not known: an empty section says its records have not arrived, never "None
recorded" — on the dashboard, the summary, a category's list and a share's view — and says
"None recorded" again once the sync has completed."""

import datetime as dt

import pytest

from institutions import sync
from institutions.models import Source
from tests.factories import InstitutionFactory, SourceFactory, SyncRunFactory, make_share
from tests.records_data import import_resources
from tests.test_read_models import condition

pytestmark = pytest.mark.django_db
WAITING = "Not known yet: the records of 서울한빛병원 have not arrived."


@pytest.fixture
def first_sync_running(patient):
    import_resources(patient, "A의원", [condition("c1", "제2형 당뇨병", "2024-04-10")])
    institution = InstitutionFactory(name="서울한빛병원")
    return SourceFactory(patient=patient, institution=institution)  # linked, nothing yet


def _completed(source):
    """The source's first sync completes, as institutions.sync records it."""
    sync._succeed(SyncRunFactory(source=source, status="running"))


def test_the_dashboard_says_what_has_not_arrived_until_the_sync_completes(
    client, patient, first_sync_running
):
    client.force_login(patient)
    page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    allergies = page[page.index('id="allergy-title"') : page.index('id="vitals-title"')]
    assert WAITING in allergies
    assert "None recorded." not in allergies
    assert "제2형 당뇨병" in page  # what has arrived is shown

    korean = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "아직 알 수 없습니다" in korean

    _completed(first_sync_running)
    page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    allergies = page[page.index('id="allergy-title"') : page.index('id="vitals-title"')]
    assert "None recorded." in allergies
    assert "Not known yet" not in page


@pytest.mark.parametrize("url", ["/records/summary/", "/records/c/allergy/"])
def test_the_summary_and_a_category_say_it_too(client, patient, first_sync_running, url):
    client.force_login(patient)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert WAITING in page
    assert "None recorded." not in page

    _completed(first_sync_running)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "None recorded." in page
    assert "Not known yet" not in page


def test_a_share_of_everything_tells_the_clinician_too(client, patient, first_sync_running):
    _share, token = make_share(patient, categories=["condition", "allergy"])
    client.post(f"/s/{token}/", {"name": "Dr. Lee"})
    page = client.get(f"/s/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert WAITING in page
    assert "None recorded." not in page
    assert "제2형 당뇨병" in page


def test_an_unlinked_source_is_not_waited_for(client, patient, first_sync_running):
    Source.objects.filter(pk=first_sync_running.pk).update(status="unlinked")
    client.force_login(patient)
    page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Not known yet" not in page
    assert "None recorded." in page


def test_a_limited_share_says_what_has_not_arrived_too(client, patient, first_sync_running):
    """A share limited to the institution still syncing, or by date, says its records have not
    arrived — not "None in the shared records." — on its overview and on a category's page."""
    _by_source, by_source_token = make_share(
        patient, categories=["condition", "allergy"], sources=[first_sync_running]
    )
    _dated, dated_token = make_share(
        patient, categories=["condition", "allergy"], date_from=dt.date(2020, 1, 1)
    )
    for token in (by_source_token, dated_token):
        recipient = type(client)()
        recipient.post(f"/s/{token}/", {"name": "Dr. Lee"})
        for url in (f"/s/{token}/", f"/s/{token}/c/allergy/"):
            page = recipient.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
            assert WAITING in page, url
            assert "None in the shared records." not in page, url


def test_the_medications_page_says_it_too(client, patient, first_sync_running):
    """QA: "No current medication… No past medication." while a hospital's first sync ran."""
    client.force_login(patient)
    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count(WAITING) == 2  # current and past
    assert "No current medication" not in page
    assert "No past medication" not in page

    _completed(first_sync_running)
    page = client.get("/records/medications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No past medication." in page
    assert "Not known yet" not in page


@pytest.mark.parametrize(
    ("url", "empty"),
    [
        ("/records/labs/", "No lab results yet."),
        ("/records/vitals/", "No vital signs yet."),
        ("/records/vaccinations/", "No vaccination in the records of your connected sources."),
    ],
)
def test_the_labs_vital_signs_and_vaccinations_say_it_too(
    client, patient, first_sync_running, url, empty
):
    """A page of one kind of record, empty so far, waits for the source like the others: it
    did say "No lab results yet." while a hospital's first sync was still running."""
    client.force_login(patient)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert WAITING in page
    assert empty not in page
    assert "아직 알 수 없습니다" in client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    _completed(first_sync_running)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert empty in page
    assert "Not known yet" not in page


def test_the_vaccination_schedule_says_which_doses_it_cannot_count_yet(
    client, patient, first_sync_running
):
    """The schedule marks doses due or overdue by the doses recorded: while a source's records
    have not arrived, it says that the doses recorded there are not counted."""
    client.force_login(patient)
    notice = (
        "The records of 서울한빛병원 have not arrived yet: doses recorded there are not counted"
    )
    assert (
        notice in client.get("/records/vaccinations/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    _completed(first_sync_running)
    page = client.get("/records/vaccinations/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "have not arrived" not in page


def test_the_dashboard_s_recent_visits_say_it_too(client, patient, first_sync_running):
    """Recent visits were an empty list, saying nothing, while the sync ran; and nothing once
    it completed with no visit."""
    client.force_login(patient)

    def visits():
        page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return page[page.index('id="visits-title"') : page.index('id="counts-title"')]

    assert WAITING in visits()
    _completed(first_sync_running)
    assert "None recorded." in visits()
    assert "Not known yet" not in visits()

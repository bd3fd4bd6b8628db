"""A parent's journey for her child, end to end, as a parent does it.

Real Chromium, the app on a live server on PostgreSQL, a real Celery worker (through Redis) and
a mock hospital over HTTP: 이서연 adds her daughter 김하은 (the family registry confirms her),
opens her daughter's record (the band names whose record it is), links a hospital that knows
the child, watches the sync finish, browses, shares with a clinician, and revokes. Screenshots
of the guardian's dashboard for the child, on a desktop and a phone, go to the screenshots
folder (docs/screenshots/ under `make screenshots`).
"""

import datetime as dt
import re

import pytest

from accounts import domain as accounts_domain
from audit.models import Action, AuditEvent
from institutions.models import RunStatus, SyncRun
from mockhospital import domain as mock
from records.models import Record
from sharing.models import Delegation, Share
from tests.browser.helpers import PHONE, console_errors, horizontal_overflow, shoot
from tests.conftest import onboard
from tests.factories import PASSWORD, MockInstitutionFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def childrens_hospital(live_server, settings):
    """한강종합병원, which has seen 김하은 (under the identity the registry gives her)."""
    # Chromium, the live server and a worker share the machine: the tests' 2-second FHIR
    # timeout (made for the fault tests) failed the onboarding's token request under load.
    settings.PHR_FHIR_TIMEOUT = 15.0
    hospital = MockInstitutionFactory(
        slug="hangang",
        name="한강종합병원",
        name_en="Hangang General Hospital",
        hira_number="31100202",
        profile="general",
        type_code="11",
        seed=202,
        patient_size=120,
        default_page_size=50,
    )
    onboard(live_server, hospital)
    mock.register_patient(
        institution=hospital,
        identifier=accounts_domain.child_identifier(
            full_name="김하은", birth_date=dt.date(2019, 4, 10)
        ),
        full_name="김하은",
        birth_date=dt.date(2019, 4, 10),
        sex="female",
        size=120,
    )
    return hospital


def _log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def test_guardian_journey_for_a_child(
    browser, live_server, other_patient, childrens_hospital, worker
):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    errors = console_errors(page)
    _log_in(page, other_patient.email)

    # 1. Add the child: first with a wrong birth date (the registry refuses, clearly), then right.
    page.goto("/account/")
    page.get_by_role("link", name="My children").click()
    page.wait_for_url("**/family/children/")
    page.get_by_label("Child's full name").fill("김하은")
    page.get_by_label("Child's birth date").fill("2019-04-11")
    page.get_by_label("Child's sex").select_option("female")
    page.get_by_label(re.compile("I am this child's parent")).check()
    page.locator("main form button[type=submit]").click()
    assert "does not list this child as yours at your address" in page.inner_text("main")
    assert Delegation.objects.count() == 0
    page.get_by_label("Child's birth date").fill("2019-04-10")
    page.get_by_label(re.compile("I am this child's parent")).check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/family/children/")
    assert "The family registry confirmed 김하은 as your child." in page.inner_text("main")
    shoot(page, "family-01-children")
    grant = Delegation.objects.get(delegate=other_patient)
    child = grant.patient

    # 2. Open her record: the URL and the band say whose it is.
    page.get_by_role("link", name="김하은").first.click()
    page.wait_for_url(f"**/for/{child.code}/dashboard/")
    assert "김하은’s record" in page.inner_text(".acting-band")

    # 3. Link the hospital that knows her; the real worker syncs it.
    page.goto(f"/for/{child.code}/institutions/")
    page.get_by_label("Name").fill(childrens_hospital.name)
    page.get_by_role("button", name="Search").click()
    page.locator(".institution", has_text=childrens_hospital.name).get_by_role(
        "link", name="Link"
    ).click()
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="Consent and link").click()
    page.wait_for_url(f"**/for/{child.code}/sources/*/")
    page.locator("#sync-progress", has_text="Completed").wait_for(timeout=90_000)
    assert SyncRun.objects.filter(source__patient=child, status=RunStatus.SUCCEEDED).count() == 1
    synced = Record.objects.filter(patient=child).count()
    assert synced > 0
    assert Record.objects.filter(patient=other_patient).count() == 0  # nothing went to her own

    # 4. Browse: the child's dashboard (the screenshots), the timeline, a record.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/for/{child.code}/dashboard/")
    assert "김하은" in page.inner_text(".acting-band")
    assert childrens_hospital.name in page.content()
    shoot(page, "family-02-guardian-dashboard-for-child-desktop")
    page.goto(f"/for/{child.code}/records/timeline/")
    page.locator("a.record-main").first.click()
    page.wait_for_url(f"**/for/{child.code}/records/r/*/")
    assert "김하은" in page.inner_text(".acting-band")

    # 5. Share her vaccinations and visits with a clinician, who sees them.
    page.goto(f"/for/{child.code}/shares/new/")
    page.get_by_label("Who is it for?").fill("Dr. Park, Mapo Children's Clinic")
    page.get_by_label("Diagnoses").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/for/{child.code}/shares/[0-9a-f-]{{36}}/$"))
    link = page.get_by_role("textbox", name="The link").input_value()
    share = Share.objects.get(patient=child)
    assert share.categories == ["condition"]
    clinician_context = browser.new_context(locale="en-US")
    clinician = clinician_context.new_page()
    clinician.goto(link)
    clinician.get_by_label("Your name").fill("Dr. Park")
    clinician.locator("main form button[type=submit]").click()
    clinician.wait_for_selector(".share-banner")
    condition = Record.objects.filter(patient=child, category="condition").first()
    assert condition.display in clinician.content()

    # 6. Revoke: the link is gone at once.
    page.reload()
    page.locator("form[action$='/revoke/'] button").click()
    page.wait_for_load_state()
    clinician.reload()
    assert "This link is not available" in clinician.content()
    share.refresh_from_db()
    assert share.revoked_at is not None

    # Every step was hers acting for her daughter, on her daughter's trail.
    acted = AuditEvent.objects.filter(patient_id=child.pk, actor_id=other_patient.pk)
    actions = set(acted.values_list("action", flat=True))
    assert {Action.CHILD_ADDED, Action.SOURCE_LINKED, Action.SHARE_CREATED} <= actions
    assert Action.SHARE_REVOKED in actions
    assert errors == []

    # The guardian's dashboard for the child on a phone: the band fits, nothing scrolls sideways.
    phone_context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True
    )
    phone = phone_context.new_page()
    _log_in(phone, other_patient.email)
    phone.goto(f"/for/{child.code}/dashboard/")
    assert "김하은" in phone.inner_text(".acting-band")
    assert horizontal_overflow(phone) == 0
    shoot(phone, "family-03-guardian-dashboard-for-child-phone")
    for context_ in (phone_context, clinician_context, context):
        context_.close()

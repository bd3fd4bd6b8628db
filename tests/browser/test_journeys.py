"""The three journeys, end to end, as people do them: a patient, a clinician, an operator.

Real Chromium, the app on a live server on PostgreSQL, a real Celery worker (through Redis),
and mock hospitals reached over HTTP. Screenshots of each step go to docs/screenshots/.
"""

import json
import re

import pytest

from audit.models import Action, AuditEvent
from institutions.models import Institution, RunStatus, Source, SyncRun
from mockhospital import domain as mock
from records.models import Record
from sharing.models import ShareAccess
from tests.browser.helpers import (
    PHONE,
    console_errors,
    decode_qr,
    horizontal_overflow,
    shoot,
)
from tests.conftest import onboard
from tests.factories import MockInstitutionFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "Seoul-spring-2026!"
HOSPITALS = [
    # A university hospital, a clinic and a dental clinic.
    ("hanbit", "서울한빛대학교병원", "Seoul Hanbit University Hospital", "tertiary", "01", 160),
    ("pureun", "푸른내과의원", "Pureun Internal Medicine Clinic", "clinic", "31", 80),
    ("miso", "미소치과의원", "Miso Dental Clinic", "dental", "51", 40),
]


@pytest.fixture
def three_hospitals(live_server):
    hospitals = []
    for seed, (slug, name, name_en, profile, type_code, size) in enumerate(HOSPITALS, start=1):
        hospital = MockInstitutionFactory(
            slug=slug,
            name=name,
            name_en=name_en,
            hira_number=f"1110000{seed}",
            profile=profile,
            type_code=type_code,
            seed=seed,
            patient_size=size,
            default_page_size=50,
        )
        onboard(live_server, hospital)
        hospitals.append(hospital)
    return hospitals


def _sign_up_and_verify(page, mailoutbox, email) -> None:
    page.goto("/accounts/signup/")
    shoot(page, "patient-01-signup")
    page.get_by_label("Email").fill(email)
    page.locator("#id_password1").fill(NEW_PASSWORD)
    page.get_by_label("Password (again)").fill(NEW_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/confirm-email/")
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mailoutbox[-1].body)
    page.goto(link.group(1))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def _verify_identity(page) -> None:
    page.get_by_role("link", name="Verify my identity").click()
    page.get_by_label("Full name").fill("정하늘")
    page.get_by_label("Birth date").fill("1958-04-21")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Mobile phone").fill("010-2468-1357")
    page.get_by_label("I confirm that these details are mine and correct.").check()
    shoot(page, "patient-02-identity")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def _link(page, hospital) -> None:
    page.goto("/institutions/")
    page.get_by_label("Name").fill(hospital.name)
    page.get_by_role("button", name="Search").click()
    item = page.locator(".institution", has_text=hospital.name)
    item.get_by_role("link", name="Link").click()
    assert "What will be received" in page.content()
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="Consent and link").click()


def test_patient_and_clinician_journeys(
    browser, live_server, three_hospitals, worker, mailoutbox, settings
):
    context = browser.new_context(base_url=live_server.url, locale="en-US", accept_downloads=True)
    page = context.new_page()
    errors = console_errors(page)

    # 1. Sign up, verify the e-mail address, log in, verify identity.
    _sign_up_and_verify(page, mailoutbox, "haneul@example.org")
    _verify_identity(page)
    patient = Source._meta.get_field("patient").related_model.objects.get(
        email="haneul@example.org"
    )
    for hospital in three_hospitals:
        mock.register_patient(
            institution=hospital,
            identifier=patient.profile.verified_identifier,
            size=hospital.patient_size,
        )

    # 2. Find three institutions in the directory, consent, watch each sync complete.
    for hospital in three_hospitals:
        _link(page, hospital)
        page.wait_for_url("**/sources/*/")
        page.locator("#sync-progress", has_text="Completed").wait_for(timeout=60_000)
    shoot(page, "patient-03-sync-done")
    assert SyncRun.objects.filter(source__patient=patient, status=RunStatus.SUCCEEDED).count() == 3

    # 3. Dashboard, timeline, a lab trend, a record.
    page.goto("/dashboard/")
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, 정하늘"
    for hospital in three_hospitals:
        assert hospital.name in page.content()
    shoot(page, "patient-04-dashboard")
    page.get_by_role("link", name="Timeline").first.click()
    page.wait_for_url("**/records/timeline/")
    shoot(page, "patient-05-timeline")
    page.goto("/records/labs/")
    shoot(page, "patient-06-labs")
    page.locator("main a[href^='/records/labs/']:not([href='/records/labs/'])").first.click()
    page.wait_for_selector("figure.chart svg")
    shoot(page, "patient-07-lab-trend")
    page.goto("/records/timeline/")
    page.locator("a.record-main").first.click()
    page.wait_for_url("**/records/r/*/")
    shoot(page, "patient-08-record")

    # 4. Korean and back.
    page.get_by_role("button", name="한국어").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ko"
    page.goto("/dashboard/")
    assert page.get_by_role("heading", level=1).inner_text() == "정하늘님, 안녕하세요"
    shoot(page, "patient-09-dashboard-ko")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"

    # 5. Export the FHIR Bundle.
    page.goto("/records/timeline/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as FHIR").click()
    bundle = download_info.value
    assert bundle.suggested_filename.startswith("phr-records-")
    with open(bundle.path(), encoding="utf-8") as downloaded:
        exported = json.load(downloaded)
    assert exported["resourceType"] == "Bundle"
    # The first entry is the patient as verified; every other entry is one of their records.
    assert exported["entry"][0]["resource"]["resourceType"] == "Patient"
    assert len(exported["entry"]) > 1

    # 6. A share with a passcode; the QR code on the page carries the link.
    page.goto("/shares/new/")
    page.get_by_label("Who is it for?").fill("Dr. Kim, Seoul Clinic")
    page.get_by_label("Lab results").check()
    page.get_by_label("Medications").check()
    page.get_by_label("Passcode (optional)").fill("2468")
    page.get_by_label("the recipient may download").check()
    shoot(page, "patient-10-share-new")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}/$"))
    link = page.get_by_role("textbox", name="The link").input_value()
    assert link.startswith(f"{live_server.url}/s/")
    qr_texts = [decode_qr(qr.screenshot()) for qr in page.locator("img.qr").all()]
    assert [link] in qr_texts
    shoot(page, "patient-11-share-created")

    # Journey 2: the clinician, in a browser of their own.
    clinician_context = browser.new_context(locale="en-US", accept_downloads=True)
    clinician = clinician_context.new_page()
    clinician_errors = console_errors(clinician)
    clinician.goto(link)
    shoot(clinician, "clinician-01-passcode")
    clinician.get_by_label("Passcode").fill("1111")
    clinician.locator("main form button[type=submit]").click()
    assert "attempts left before the link locks" in clinician.content()
    clinician.get_by_label("Passcode").fill("2468")
    clinician.locator("main form button[type=submit]").click()
    clinician.get_by_label("Your name").fill("Dr. Kim")
    clinician.locator("main form button[type=submit]").click()
    clinician.wait_for_selector(".share-banner")
    assert "Shared with Dr. Kim, Seoul Clinic until" in clinician.inner_text(".share-banner")
    shoot(clinician, "clinician-02-shared-records")
    shared = clinician.content()
    lab = Record.objects.filter(patient=patient, category="lab").first()
    condition = Record.objects.filter(patient=patient, category="condition").first()
    assert lab.display in shared
    assert condition is None or condition.display not in shared  # outside the scope
    with clinician.expect_download() as download_info:
        clinician.get_by_role("link", name=re.compile("Download")).first.click()
    assert download_info.value.suggested_filename.endswith(".json")
    clinician.goto(f"{link}c/condition/")  # outside the scope: shows nothing
    conditions = Record.objects.filter(patient=patient, category="condition")
    assert not [r.display for r in conditions if f">{r.display}<" in clinician.content()]

    # Back to the patient: the access log shows the clinician; revoke.
    page.reload()
    log = page.locator("main").inner_text()
    assert "Dr. Kim" in log
    assert "Wrong passcode" in log
    assert ShareAccess.objects.filter(recipient_name="Dr. Kim", action="opened").count() == 1
    shoot(page, "patient-12-share-log")
    page.goto("/account/activity/")
    assert "Share recipient: Dr. Kim" in page.content()
    shoot(page, "patient-13-who-saw-my-data")
    page.go_back()
    page.locator("form[action$='/revoke/'] button").click()
    page.wait_for_load_state()
    clinician.reload()
    assert "This link is not available" in clinician.content()
    shoot(clinician, "clinician-03-revoked")
    assert errors == []
    # The revoked link's page is a 404 (which Chromium reports); nothing else went wrong.
    assert [e for e in clinician_errors if "status of 404" not in e] == []

    # Each journey's main pages at a phone's width: nothing scrolls sideways.
    phone_context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True
    )
    phone = phone_context.new_page()
    phone.goto("/accounts/login/")
    phone.get_by_label("Email").fill("haneul@example.org")
    phone.get_by_label("Password").fill(NEW_PASSWORD)
    phone.locator("main form button[type=submit]").click()
    phone.wait_for_url("**/dashboard/")
    # (test_accessibility checks and photographs every page at this width, in both languages)
    for path in ("/dashboard/", "/records/timeline/", "/records/labs/", "/shares/"):
        phone.goto(path)
        assert horizontal_overflow(phone) == 0, path
    for context_ in (phone_context, clinician_context, context):
        context_.close()


def test_operator_journey(browser, live_server, admin_user, patient, worker, settings, tmp_path):
    settings.PHR_STAFF_MFA_REQUIRED = False  # enrolment is its own test (test_admin, test_mfa)
    flaky = MockInstitutionFactory(
        slug="flaky", hira_number="12300001", name="들쭉날쭉병원", seed=7, patient_size=60
    )
    mock.register_patient(institution=flaky, identifier=patient.profile.verified_identifier)
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "hira_number,name,name_en,type_code,region,fhir_base_url,token_url,client_id,client_secret\n"
        f"12300001,들쭉날쭉병원,Flaky Hospital,11,서울,{live_server.url}/mock/flaky/fhir,"
        f"{live_server.url}/mock/flaky/token,{flaky.client_id},{flaky.client_secret}\n",
        encoding="utf-8",
    )
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(admin_user.email)
    page.get_by_label("Password").fill("correct-horse-battery-staple")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")

    # Import the directory CSV.
    page.goto("/admin/institutions/institution/import-csv/")
    page.set_input_files("input[type=file]", str(csv))
    page.locator("input[type=submit]").click()
    assert "Imported: 1 new, 0 updated, 0 unchanged." in page.locator(".messagelist").inner_text()
    shoot(page, "operator-01-imported")

    # Test the connection, then activate.
    def run_action(label):
        page.locator("tr", has_text="들쭉날쭉병원").locator("input.action-select").check()
        page.locator("select[name=action]").select_option(label=label)
        page.locator("button[name=index]").click()
        return page.locator(".messagelist").inner_text()

    tested = run_action("Test the connection")
    assert tested.startswith("들쭉날쭉병원: "), tested
    assert Institution.objects.get(hira_number="12300001").test_ok
    run_action("Activate (after a successful test)")
    institution = Institution.objects.get(hira_number="12300001")
    assert institution.status == "active"
    shoot(page, "operator-02-activated")

    # A patient links it; then the hospital starts failing and their next sync fails: the
    # admin explains why.
    from institutions import domain

    source = domain.link_institution(patient=patient, institution=institution)
    _wait_for(source.runs.get(), {RunStatus.SUCCEEDED})
    mock.set_faults(institution=flaky, settings={"error_rate": 1})
    run, _ = domain.trigger_sync(source=source)
    _wait_for(run, {RunStatus.FAILED})
    page.goto("/admin/institutions/syncrun/")
    assert "The hospital kept failing after several attempts" in page.content()
    shoot(page, "operator-03-failed-sync")

    # It recovers; the operator retries from the institution list; the sync succeeds.
    mock.set_faults(institution=flaky, settings={})
    page.goto("/admin/institutions/institution/")
    run_action("Retry the failed syncs")
    retried = source.runs.order_by("-id").first()
    assert retried.pk != run.pk
    _wait_for(retried, {RunStatus.SUCCEEDED})
    page.goto("/admin/institutions/syncrun/")
    shoot(page, "operator-04-retried")
    assert AuditEvent.objects.filter(action=Action.SYNC_REQUESTED, actor_id=admin_user.pk).exists()
    context.close()


def _wait_for(run, statuses, seconds=60):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} is {run.status}, not {statuses}: {run.error}")

import re

import pytest

from sharing.models import ShareAccess

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_shares_and_clinician_opens_in_a_real_browser(
    browser, live_server, page, patient, password
):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(patient.email)
    page.get_by_label("Password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")

    page.goto("/shares/new/")
    page.get_by_label("Who is it for?").fill("Dr. Kim, Seoul Clinic")
    page.get_by_label("Lab results").check()
    page.get_by_label("Medications").check()
    page.get_by_label("Passcode (optional)").fill("2468")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}/$"))
    link = page.locator("input.share-link").input_value()
    assert link.startswith(f"{live_server.url}/s/")
    assert page.locator("img.qr").get_attribute("src").startswith("data:image/png;base64,")

    clinician = browser.new_context(locale="en-US").new_page()
    clinician.goto(link)
    clinician.get_by_label("Passcode").fill("0000")
    clinician.locator("main form button[type=submit]").click()
    assert "attempts left before the link locks" in clinician.content()
    clinician.get_by_label("Passcode").fill("2468")
    clinician.locator("main form button[type=submit]").click()
    clinician.get_by_label("Your name").fill("Dr. Kim")
    clinician.locator("main form button[type=submit]").click()
    clinician.wait_for_selector(".share-banner")
    assert "Shared with Dr. Kim, Seoul Clinic until" in clinician.inner_text(".share-banner")
    assert ShareAccess.objects.filter(action="opened", recipient_name="Dr. Kim").count() == 1

    page.reload()
    page.locator("form[action$='/revoke/'] button").click()
    clinician.reload()
    assert "This link is not available" in clinician.content()
    clinician.context.close()

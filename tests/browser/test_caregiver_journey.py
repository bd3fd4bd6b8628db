"""A caregiver's journey, as people do it, in real Chromium against a live server.

김민준 invites his son 박지훈 as caregiver for his lab results (read only, 30 days); the
invitation arrives by e-mail; 박지훈 logs in, accepts, and reads his father's labs under his
father's band (name and colour, on a desktop and a phone, no sideways scrolling, no serious
accessibility problem); his own dashboard says "Your own record" with the switcher; the
father sees the use on the caregiver's page, ends the access, and the son's next click is
"not found". Screenshots: caregiver-band-desktop, caregiver-band-phone, caregiver-uses.
"""

import re

import pytest
from django.core import mail

from sharing.models import Delegation
from tests.browser.helpers import (
    PHONE,
    axe_violations,
    console_errors,
    horizontal_overflow,
    shoot,
)
from tests.factories import PASSWORD, RecordFactory, SourceFactory, UserFactory, hba1c

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def test_a_caregiver_is_invited_accepts_reads_under_the_band_and_is_ended(
    browser, live_server, patient
):
    source = SourceFactory(patient=patient)
    RecordFactory(source=source, resource=hba1c("lab-1", 6.4, "2025-03-04T09:00:00+09:00"))
    son = UserFactory(email="jihoon@example.org")
    father_context = browser.new_context(base_url=live_server.url, locale="en-US")
    son_context = browser.new_context(base_url=live_server.url, locale="en-US", bypass_csp=True)
    father, page = father_context.new_page(), son_context.new_page()
    errors = console_errors(page)

    # The father invites his son.
    _log_in(father, patient.email)
    father.goto("/family/caregivers/invite/")
    father.get_by_label("Their e-mail address").fill(son.email)
    father.get_by_label("Their name").fill("박지훈 (son)")
    father.get_by_label("Lab results").check()
    father.get_by_label("Read only").check()
    father.get_by_label("For how long").select_option("30d")
    father.get_by_role("button", name="Send the invitation").click()
    father.wait_for_url(re.compile(r".*/family/caregivers/[0-9a-f-]{36}/$"))
    assert "Invited, not yet accepted" in father.content()
    link = re.search(r"http\S+/family/invitations/\S+/", mail.outbox[-1].body).group(0)

    # The son opens the link, logs in, accepts.
    page.goto(link)
    page.get_by_label("Email").fill(son.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(re.compile(rf".*/for/{patient.code}/dashboard/$"))
    band = page.locator(".acting-band")
    assert "김민준’s record" in band.inner_text()
    assert "You may read." in band.inner_text()
    page.get_by_role("link", name="Lab results").first.click()
    page.wait_for_url(re.compile(rf".*/for/{patient.code}/records/labs/$"))
    assert "6.4" in page.content()
    assert axe_violations(page) == []
    shoot(page, "caregiver-band-desktop")
    page.set_viewport_size(PHONE)
    page.reload()
    assert horizontal_overflow(page) == 0
    assert page.locator(".acting-band").is_visible()
    shoot(page, "caregiver-band-phone")

    # His own record: no colour, "Your own record", the switcher to his father's.
    page.get_by_role("link", name="Me", exact=True).click()
    assert "Your own record" in page.locator(".acting-band").inner_text()
    assert page.get_by_role("link", name="김민준").is_visible()

    # The father sees the use, and ends the access.
    grant = Delegation.objects.get(delegate=son)
    father.goto(f"/family/caregivers/{grant.code}/")
    assert "Records viewed" in father.content()
    shoot(father, "caregiver-uses")
    father.get_by_role("button", name="End their access now").click()
    father.wait_for_load_state()

    response = page.goto(f"/for/{patient.code}/records/labs/")
    assert response.status == 404
    assert "6.4" not in page.content()
    assert [e for e in errors if "404" not in e] == []
    father_context.close()
    son_context.close()

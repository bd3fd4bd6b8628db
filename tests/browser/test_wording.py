"""Units, names and empty lists as an English reader sees them in Chromium (photographed): a
Korean hospital's vital signs in English with their units written as people do, and a search
that matches nothing offering to clear it."""

import re

import pytest

from tests.browser.helpers import DESKTOP, shoot
from tests.factories import PASSWORD
from tests.records_data import generated, import_resources

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def english_page(browser, live_server, patient):
    import_resources(patient, "hanbit.ndjson", generated(patient, size=120))
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport=DESKTOP,
        extra_http_headers={"Accept-Language": "en"},
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(patient.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")
    yield page
    context.close()


def test_dashboard_vitals_named_in_english_with_written_units(english_page):
    page = english_page

    vitals = page.locator("main li", has_text=re.compile(r"^(Body temperature|Blood pressure):"))

    texts = vitals.all_inner_texts()
    assert any(re.fullmatch(r"Blood pressure: \d+/\d+ mmHg .+", t) for t in texts), texts
    assert any(re.fullmatch(r"Body temperature: [\d.]+ °C .+", t) for t in texts), texts
    body = page.locator("main").inner_text()
    assert "mm[Hg]" not in body
    assert "체온" not in body
    shoot(page, "dashboard-vitals-english")


def test_search_without_match_offers_to_clear(english_page):
    page = english_page
    page.goto("/records/search/?q=zzzzqqq")

    empty = page.locator("p.empty-state")

    assert empty.inner_text() == "No records match your search or filters. Clear the filters"
    shoot(page, "search-no-match")
    empty.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url("**/records/search/")
    assert page.locator("p.empty-state").count() == 0

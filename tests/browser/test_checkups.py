"""The national health check-up pages in real Chromium, on data synced from the mock NHIS: an
item's trend across years (the chart with its points, legend and normal band) and one year's
results with their categories, in Korean and English, on a phone and a desktop, photographed."""

import datetime as dt

import pytest

from institutions import domain
from mockhospital.demo import DEMO_AGENCIES
from mockhospital.domain import register_patient
from mockhospital.models import MockInstitution
from records.checkups import checkup_list
from records.models import Record
from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    axe_violations,
    console_errors,
    horizontal_overflow,
    shoot,
)
from tests.conftest import onboard, run_to_end
from tests.factories import PASSWORD
from tests.test_agencies import warm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CLOCK = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


@pytest.fixture
def checked_up(live_server, other_patient):
    """이서연 (born 1990) with her NHIS check-ups synced."""
    warm(live_server)
    spec = next(s for s in DEMO_AGENCIES if s["slug"] == "nhis")
    mock = MockInstitution.objects.create(**spec, client_id="nhis", client_secret="s", clock=CLOCK)
    profile = other_patient.profile
    register_patient(
        institution=mock,
        identifier=profile.verified_identifier,
        full_name=profile.full_name,
        birth_date=profile.birth_date,
        sex=profile.sex,
        phone=profile.phone,
    )
    source = domain.link_institution(patient=other_patient, institution=onboard(live_server, mock))
    run_to_end(source.runs.get())
    return other_patient


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_checkup_trend_and_year(browser, live_server, checked_up, language, device):
    viewport = PHONE if device == "phone" else DESKTOP
    context = browser.new_context(
        base_url=live_server.url,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport=viewport,
        is_mobile=device == "phone",
        extra_http_headers={"Accept-Language": language},
        bypass_csp=True,  # for axe
    )
    page = context.new_page()
    errors = console_errors(page)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(checked_up.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")
    checkups = checkup_list(Record.objects.filter(patient=checked_up))
    measured = Record.objects.filter(
        patient=checked_up, resource_type="Observation", code_value="1558-6"
    ).count()

    page.goto("/records/checkups/")
    assert page.locator(".checkup-list li").count() == len(checkups)
    assert page.locator(".checkup-due").is_visible()
    shoot(page, f"checkups-{device}-{language}")

    page.goto("/records/checkups/trend/1558-6/")
    figure = page.locator("figure.chart")
    assert figure.is_visible()
    assert figure.locator(".chart-point").count() == measured
    assert figure.locator("text.chart-unit").text_content() == "mg/dL"
    assert figure.locator(".legend li").first.text_content().strip() == "국민건강보험공단"
    assert horizontal_overflow(page) == 0
    assert axe_violations(page) == []
    shoot(page, f"checkup-trend-{device}-{language}")

    page.goto(f"/records/checkups/{checkups[0]['year']}/")
    rows = page.locator(".checkup-table tbody tr")
    assert rows.count() >= 15
    assert page.locator(".checkup-table .badge").count() >= 10
    assert horizontal_overflow(page) == 0
    assert axe_violations(page) == []
    shoot(page, f"checkup-year-{device}-{language}")
    assert errors == []
    context.close()

"""Explanations in real Chromium, on records the mock hospital's generator made and the
product imported: a test's page with its explanation, and a visit summary, in Korean and
English, photographed (docs/screenshots/explain-*)."""

import pytest
from django.db.models import Count

from records.models import Category, Record
from tests.browser.helpers import DESKTOP, axe_violations, console_errors, shoot
from tests.factories import PASSWORD
from tests.records_data import generated, import_resources

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def with_records(live_server, patient):
    import_resources(patient, "한빛대학교병원.ndjson", generated(patient, size=400, seed=3))
    return patient


def _visit_with_results(patient):
    """The latest visit whose records include lab results."""
    labs = Record.objects.filter(patient=patient, category=Category.LAB)
    for encounter in Record.objects.filter(patient=patient, category=Category.ENCOUNTER).order_by(
        "-effective"
    ):
        reference = f"Encounter/{encounter.resource_id}"
        if labs.filter(resource__encounter__reference=reference).exists():
            return encounter
    raise AssertionError("no visit with lab results")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_lab_and_a_visit_summary_explained(browser, live_server, with_records, language):
    context = browser.new_context(
        base_url=live_server.url,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport=DESKTOP,
        extra_http_headers={"Accept-Language": language},
        bypass_csp=True,  # for axe
    )
    page = context.new_page()
    errors = console_errors(page)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(with_records.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")
    # The digest arrives after the page, by htmx.
    page.locator(".explain-digest").wait_for()
    shoot(page, f"explain-dashboard-{language}")

    code = (
        Record.objects.filter(patient=with_records, category=Category.LAB)
        .values("code_value")
        .annotate(n=Count("id"))
        .order_by("-n", "code_value")
        .first()["code_value"]
    )
    page.goto(f"/records/labs/{code}/")
    explanation = page.locator("section.explanation")
    assert explanation.is_visible()
    assert explanation.locator(".explain-sentences li").count() >= 3
    assert explanation.locator(".explain-source a").count() == 1
    assert explanation.locator(".explain-disclaimer").is_visible()
    assert axe_violations(page) == []
    shoot(page, f"explain-lab-{language}")

    encounter = _visit_with_results(with_records)
    page.goto(f"/records/explain/visit/{encounter.code}/")
    assert page.locator(".explain-section").count() >= 4
    assert page.locator("section.explanation").count() >= 1
    links = page.locator(".explain-sources a")
    assert links.count() >= 3
    assert axe_violations(page) == []
    shoot(page, f"explain-visit-{language}")

    page.goto("/records/explain/glance/")
    assert page.locator(".explain-section").count() >= 3
    shoot(page, f"explain-glance-{language}")
    assert errors == []
    context.close()

"""Layout where people stumbled: the records menu and tables on a phone (375 px), the delete
confirmation, and the admin's sync-health columns on common laptop widths (1366, 1600 px).

Each test measures in the browser and leaves a screenshot (var/screenshots/, or docs/ with
`make screenshots`)."""

import datetime as dt

import pytest
from django.utils import timezone

from institutions.models import Institution, RunStatus, Source, SyncRun
from records.models import Category, Record
from tests.browser.helpers import PHONE, horizontal_overflow, shoot
from tests.factories import PASSWORD, make_share

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every word (a run of non-space characters; a parenthesis starts a word of its own, as in
# "당화혈색소 (HbA1c)") of the page's table cells that the browser laid out over more than one
# line: "2024-" | "01-02", "서울한빛대학교" | "병원", "10³/" | "µL"; and the tables wider than
# their box (a column hidden off to the side).
SPLIT_WORDS = """() => {
  document.querySelectorAll("main details").forEach(d => { d.open = true; });  // value tables
  const split = [];
  for (const table of document.querySelectorAll("main table")) {
    if (table.scrollWidth > table.clientWidth + 1) {
      split.push(`table scrolls sideways by ${table.scrollWidth - table.clientWidth}px`);
    }
  }
  for (const cell of document.querySelectorAll("main td, main th")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s(]+|\\([^\\s]*/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set(
          [...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))
        );
        if (lines.size > 1) split.push(match[0]);
      }
    }
  }
  return split;
}"""

# The records menu's items that are not fully visible: outside the viewport or clipped by the
# menu's own box (a scrolling strip with no hint).
HIDDEN_MENU_ITEMS = """() => {
  const nav = document.querySelector(".records-nav").getBoundingClientRect();
  return [...document.querySelectorAll(".records-nav a")].filter(a => {
    const r = a.getBoundingClientRect();
    const inside = r.left >= Math.max(0, nav.left) - 0.5
      && r.right <= Math.min(window.innerWidth, nav.right) + 0.5;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !inside || !(hit === a || a.contains(hit));
  }).map(a => a.textContent.trim());
}"""


def _phone(browser, live_server, language="en"):
    context = browser.new_context(
        base_url=live_server.url,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        extra_http_headers={"Accept-Language": language},
    )
    return context, context.new_page()


def _log_in(page, user):
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_phone_records_menu_shows_every_item(browser, live_server, patient, kr_sources, language):
    context, page = _phone(browser, live_server, language)
    _log_in(page, patient)
    for path in ("/records/labs/", "/dashboard/"):
        page.goto(path)
        shoot(page, f"phone-{language}-records-menu")
        assert (
            page.locator(".records-nav a").count() == 11
        )  # the records, check-ups and vaccinations
        assert page.evaluate(HIDDEN_MENU_ITEMS) == [], path
        assert horizontal_overflow(page) == 0
    context.close()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_phone_tables_split_no_word(browser, live_server, patient, kr_sources, language):
    lab = Record.objects.filter(patient=patient, category=Category.LAB).first()
    make_share(
        patient,
        purpose="second opinion",
        label="서울한빛대학교병원 내과 김민준 교수",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    context, page = _phone(browser, live_server, language)
    _log_in(page, patient)
    pages = {
        "labs": "/records/labs/",
        "lab-trend": f"/records/labs/{lab.code_value}/",
        "vitals": "/records/vitals/",
        "shares": "/shares/",
        "activity": "/account/activity/",
    }
    split = {}
    for name, path in pages.items():
        page.goto(path)
        assert page.locator("main td").count() > 0, name
        split[name] = page.evaluate(SPLIT_WORDS)
        shoot(page, f"phone-{language}-table-{name}")
    assert {name: words for name, words in split.items() if words} == {}
    context.close()


def test_korean_font_stack_names_the_common_korean_fonts(browser, live_server):
    context, page = _phone(browser, live_server, "ko")
    page.goto("/")
    stack = page.evaluate("getComputedStyle(document.body).fontFamily")
    for font in (
        "Apple SD Gothic Neo",
        "Malgun Gothic",
        "Noto Sans KR",
        "Noto Sans CJK KR",
        "Nanum Gothic",
    ):
        assert f'"{font}"' in stack, stack
    assert stack.endswith("sans-serif")
    context.close()


def test_phone_delete_confirmation_names_the_count(browser, live_server, patient, kr_sources):
    source = kr_sources["hanbit"]
    count = source.records.count()
    context, page = _phone(browser, live_server, "en")
    _log_in(page, patient)
    page.goto(f"/sources/{source.code}/")
    page.locator("input[name=purge][value=true]").check()
    page.locator("form[action$='/unlink/'] button[type=submit]").click()
    page.wait_for_load_state()
    # One click deleted nothing: the page says what the next one deletes.
    assert source.records.count() == count
    assert page.locator(".confirm-count").inner_text() == (
        f"This deletes {count} records from 서울한빛대학교병원."
    )
    # The button that deletes is drawn as dangerous (it was the brand's green).
    delete = page.locator("main form button[type=submit]")
    assert delete.inner_text() == f"Delete {count} records"
    assert delete.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(179, 38, 30)"
    assert horizontal_overflow(page) == 0
    shoot(page, "phone-en-unlink-confirm")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")
    assert source.records.count() == 0
    context.close()


@pytest.fixture
def sync_health(patient, other_patient):
    """Institutions with a week of syncs, the last ones failing with the long real reason."""
    institutions = []
    for number, name in enumerate(["서울한빛대학교병원", "푸른내과의원", "들쭉날쭉병원"], start=1):
        institution = Institution.objects.create(
            name=name,
            name_en="Seoul Hanbit University Hospital",
            hira_number=f"1110000{number}",
            type_code="11",
            region="서울특별시 종로구",
            status="active",
            test_ok=True,
            fhir_version="4.0.1",
            test_message="Connected. FHIR 4.0.1, 14 resource types, "
            "no $everything: per-type search will be used.",
        )
        for user in (patient, other_patient):
            source = Source.objects.create(
                patient=user, kind="institution", institution=institution
            )
            SyncRun.objects.create(source=source, trigger="schedule", status=RunStatus.SUCCEEDED)
            SyncRun.objects.filter(source=source).update(finished_at=timezone.now())
            failed = SyncRun.objects.create(
                source=source,
                trigger="schedule",
                status=RunStatus.FAILED,
                error="The hospital kept failing after several attempts: the server answered "
                "HTTP 503 (Service Unavailable) at https://fhir.hanbit.example.org/fhir/Patient",
            )
            SyncRun.objects.filter(pk=failed.pk).update(
                finished_at=timezone.now() + dt.timedelta(minutes=1)
            )
        institutions.append(institution)
    return institutions


# The changelist's cells whose content is cut: outside the viewport, or wider than the cell.
CLIPPED_CELLS = """() => {
  const results = document.querySelector("#changelist .results");
  const clipped = [];
  for (const cell of document.querySelectorAll("#result_list th, #result_list td")) {
    const r = cell.getBoundingClientRect();
    if (r.right > window.innerWidth + 0.5 || cell.scrollWidth > cell.clientWidth + 1) {
      clipped.push(cell.className || cell.textContent.trim().slice(0, 30));
    }
  }
  if (results && results.scrollWidth > results.clientWidth + 1) clipped.push("results scroll");
  return clipped;
}"""


@pytest.mark.parametrize("width", [1366, 1600])
def test_admin_sync_health_columns_are_not_clipped(
    browser, live_server, admin_user, sync_health, settings, width
):
    settings.PHR_STAFF_MFA_REQUIRED = False
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    _log_in(page, admin_user)
    page.goto("/admin/institutions/institution/")
    for column in ("last_success", "failure_rate", "last_error"):
        assert page.locator(f"#result_list td.field-{column}").count() == 3
    assert "HTTP 503" in page.locator("#result_list td.field-last_error").first.inner_text()
    shoot(page, f"operator-sync-health-{width}")
    assert page.evaluate(CLIPPED_CELLS) == []
    assert horizontal_overflow(page) == 0
    context.close()


def test_admin_institution_page_tests_its_connection(
    browser, live_server, admin_user, institution, settings
):
    settings.PHR_STAFF_MFA_REQUIRED = False
    Institution.objects.filter(pk=institution.pk).update(test_ok=None, test_message="")
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    _log_in(page, admin_user)
    page.goto(f"/admin/institutions/institution/{institution.pk}/change/")
    page.get_by_role("button", name="Test the connection").click()
    page.wait_for_url(f"**/institution/{institution.pk}/change/")
    institution.refresh_from_db()
    message = page.locator(".messagelist").inner_text()
    assert message == f"{institution.name}: {institution.test_message}"
    assert institution.test_message.startswith("Connected. FHIR 4.0.1")
    assert institution.test_message in page.locator(".field-test_message").inner_text()
    shoot(page, "operator-05-connection-tested")
    context.close()

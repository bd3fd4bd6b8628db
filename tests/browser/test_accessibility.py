"""Accessibility and layout of every main page, in both languages, on a desktop and a phone:
axe-core finds no serious or critical violation, nothing scrolls sideways at 375 px, the share
forms work from the keyboard alone with a visible focus, and charts have a text alternative."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from records.models import Category, Record
from tests.browser.helpers import DESKTOP, PHONE, axe_violations, horizontal_overflow, shoot
from tests.factories import PASSWORD, make_share

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data(patient, kr_sources):
    lab = Record.objects.filter(patient=patient, category=Category.LAB).first()
    share, token = make_share(
        patient,
        purpose="second opinion",
        expires_at=timezone.now() + dt.timedelta(days=7),
        passcode="2468",
        allow_download=True,
    )
    source = kr_sources["hanbit"]
    return {
        "patient_pages": [
            ("dashboard", "/dashboard/"),
            ("timeline", "/records/timeline/"),
            ("labs", "/records/labs/"),
            ("lab-trend", f"/records/labs/{lab.code_value}/"),
            ("record", f"/records/r/{lab.code}/"),
            ("medications", "/records/medications/"),
            ("vitals", "/records/vitals/"),
            ("summary", "/records/summary/"),
            ("search", "/records/search/?q=a"),
            ("directory", "/institutions/"),
            ("source", f"/sources/{source.code}/"),
            ("shares", "/shares/"),
            ("share-new", "/shares/new/"),
            ("share", f"/shares/{share.code}/"),
            ("account", "/account/"),
            ("identity", "/account/identity/"),
            ("activity", "/account/activity/"),
            ("delete-account", "/account/delete/"),
        ],
        "public_pages": [
            ("landing", "/"),
            ("login", "/accounts/login/"),
            ("signup", "/accounts/signup/"),
            ("recipient-passcode", f"/s/{token}/"),
            ("link-not-available", "/s/no-such-link/"),
        ],
        "token": token,
    }


def _context(browser, live_server, *, language, viewport):
    return browser.new_context(
        base_url=live_server.url,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport=viewport,
        is_mobile=viewport is PHONE,
        bypass_csp=True,  # axe-core is injected as a script
        extra_http_headers={"Accept-Language": language},
    )


def _log_in(page, patient):
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(patient.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def _set_language(page, language):
    page.goto("/")
    page.locator(f".language-switcher button[value={language}]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_main_pages_are_accessible_and_fit(browser, live_server, patient, data, language, device):
    viewport = DESKTOP if device == "desktop" else PHONE
    context = _context(browser, live_server, language=language, viewport=viewport)
    page = context.new_page()
    _set_language(page, language)
    problems = {}
    for name, path in data["public_pages"]:
        page.goto(path)
        problems[name] = _check(page, name, language, device)
    _log_in(page, patient)
    for name, path in data["patient_pages"]:
        page.goto(path)
        problems[name] = _check(page, name, language, device)
    context.close()
    found = {name: found for name, found in problems.items() if found}
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)


def _check(page, name, language, device) -> list:
    found = axe_violations(page)
    if device == "phone":
        overflow = horizontal_overflow(page)
        if overflow:
            found.append({"id": "horizontal-scroll", "pixels": overflow})
    assert page.locator("html").get_attribute("lang") == language, name
    shoot(page, f"{device}-{language}-{name}")
    return found


def test_share_form_by_keyboard_alone_with_visible_focus(browser, live_server, patient, data):
    context = _context(browser, live_server, language="en", viewport=DESKTOP)
    page = context.new_page()
    _log_in(page, patient)
    page.goto("/shares/new/")
    page.locator("main h1").click()  # start from the page, as after reading the heading

    def tab_to(selector):
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                assert outline != "none", f"no visible focus on {selector}"
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    tab_to("#id_label")
    page.keyboard.type("Dr. Keyboard")
    tab_to("input[value=lab]")
    page.keyboard.press("Space")
    tab_to("#id_passcode")
    page.keyboard.type("1357")
    tab_to("main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}/$"))
    share = patient.shares.get(label="Dr. Keyboard")
    assert share.categories == ["lab"]
    assert share.has_passcode
    context.close()


def test_passcode_form_by_keyboard_alone(browser, live_server, data):
    context = _context(browser, live_server, language="en", viewport=PHONE)
    page = context.new_page()
    page.goto(f"/s/{data['token']}/")
    # The skip link is the first stop, and shows itself when reached.
    first = "document.querySelector('a[href], button, input, select, textarea')"
    assert page.evaluate(f"{first}.className") == "skip-link"
    page.locator(".skip-link").focus()
    assert page.locator(".skip-link").bounding_box()["x"] >= 0
    # The passcode field has the focus on arrival (autofocus), or is a few Tabs away.
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "id_passcode":
            break
        page.keyboard.press("Tab")
    page.keyboard.type("2468")
    page.keyboard.press("Enter")
    page.locator("#id_name").wait_for()
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "id_name":
            break
        page.keyboard.press("Tab")
    page.keyboard.type("Dr. Keys")
    page.keyboard.press("Enter")
    page.wait_for_selector(".share-banner")
    context.close()


def test_charts_have_a_table_with_every_value(browser, live_server, patient, data):
    context = _context(browser, live_server, language="en", viewport=DESKTOP)
    page = context.new_page()
    _log_in(page, patient)
    lab_page = next(path for name, path in data["patient_pages"] if name == "lab-trend")
    page.goto(lab_page)
    points = page.locator("figure.chart svg .chart-point").count()
    rows = page.locator("main table tbody tr").count()
    assert points > 0
    assert rows == points
    assert page.locator("figure.chart svg title").first.text_content()
    context.close()

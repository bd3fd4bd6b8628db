"""Charts, the share link and form errors in real Chromium: the lab trend and vital signs charts
with their legends and units (photographed), the link's Copy button read back from the
clipboard, the full-screen QR code opened and closed from the keyboard, the link field whole at
375 px, and the focus on the first error after a failed submit, by keyboard alone."""

import re

import pytest

from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    axe_violations,
    console_errors,
    decode_qr,
    horizontal_overflow,
    shoot,
)
from tests.factories import PASSWORD
from tests.test_charts import two_sources  # noqa: F401 - the fixture, shared with the unit tests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser, live_server, viewport=DESKTOP, **options):
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport=viewport,
        is_mobile=viewport is PHONE,
        extra_http_headers={"Accept-Language": "en"},
        **options,
    )
    return context, context.new_page()


def _log_in(page, user):
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard/")


def _legend(figure) -> list[str]:
    return [text.strip() for text in figure.locator(".legend li").all_inner_texts()]


def test_lab_trend_and_vital_charts_show_legends_units_and_band(
    browser,
    live_server,
    two_sources,  # noqa: F811
):
    context, page = _page(browser, live_server)
    _log_in(page, two_sources)

    page.goto("/records/labs/4548-4/")
    figure = page.locator("figure.chart")
    assert _legend(figure) == ["B의원", "Reference 4.0–6.0%"]
    assert figure.locator("text.chart-unit").text_content() == "%"
    assert figure.locator("text.chart-band-label").is_visible()
    shoot(page, "chart-lab-trend")

    page.goto("/records/vitals/")
    bp = page.locator("figure.chart").first
    assert _legend(bp) == ["A병원", "B의원", "Systolic", "Diastolic"]
    assert bp.locator("text.chart-unit").text_content() == "mmHg"
    lab_colour = "rgb(213, 94, 0)"  # B의원's #D55E00 on both charts
    assert (
        bp.locator(".legend li", has_text="B의원")
        .locator("path")
        .evaluate("node => getComputedStyle(node).fill")
        == lab_colour
    )
    shoot(page, "chart-vitals")
    context.close()


def _new_share(page):
    page.goto("/shares/new/")
    page.get_by_label("Who is it for?").fill("Dr. Kim, Seoul Clinic")
    page.get_by_label("Lab results").check()
    page.get_by_label("the recipient may download").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}/$"))


def test_share_link_copy_and_full_screen_qr(browser, live_server, patient):
    context, page = _page(browser, live_server, permissions=["clipboard-read", "clipboard-write"])
    errors = console_errors(page)  # the page's own CSP holds: no inline script or style
    _log_in(page, patient)
    _new_share(page)
    link = page.get_by_role("textbox", name="The link").input_value()
    assert link.startswith(f"{live_server.url}/s/")

    page.get_by_role("button", name="Copy the link").click()
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.locator('[data-copy-status="share-link"]').inner_text() == "Copied."
    page.get_by_role("button", name="Copy the SMART Health Link").click()
    assert page.evaluate("navigator.clipboard.readText()").startswith("shlink:/")
    # Share appears only where the browser has the Web Share API.
    has_share = page.evaluate("typeof navigator.share === 'function'")
    assert page.get_by_role("button", name="Share…").is_visible() == has_share

    # Full screen from the keyboard: Enter opens it, Escape closes it, focus comes back.
    opener = page.locator("[data-qr-open=qr-full-link]")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="QR code of the link")
    dialog.wait_for()
    box = dialog.bounding_box()
    assert (box["width"], box["height"]) == (DESKTOP["width"], DESKTOP["height"])
    assert page.evaluate("document.activeElement.textContent") == "Close"
    assert decode_qr(dialog.locator("img").screenshot()) == [link]
    shoot(page, "share-qr-full-screen")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.dataset.qrOpen") == "qr-full-link"
    # And again, closed by its button (Tab stays inside the modal dialog).
    page.keyboard.press("Enter")
    dialog.wait_for()
    page.keyboard.press("Enter")  # the focused Close button
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.dataset.qrOpen") == "qr-full-link"
    assert errors == []
    context.close()


def test_share_link_field_is_whole_at_375_px(browser, live_server, patient):
    context, page = _page(browser, live_server, viewport=PHONE, bypass_csp=True)  # for axe
    _log_in(page, patient)
    _new_share(page)

    for field in page.locator("textarea.share-link").all():
        sizes = field.evaluate(
            "node => [node.scrollWidth, node.clientWidth, node.scrollHeight, node.clientHeight]"
        )
        assert sizes[0] <= sizes[1], sizes  # nothing cut off sideways
        assert sizes[2] <= sizes[3], sizes  # nor below: the whole link is in view
        assert field.bounding_box()["x"] + field.bounding_box()["width"] <= PHONE["width"]
    assert horizontal_overflow(page) == 0
    assert page.get_by_role("button", name="Copy the link").is_visible()
    assert axe_violations(page) == []
    shoot(page, "phone-share-created")
    page.get_by_role("button", name="Show the QR code full screen").first.click()
    assert axe_violations(page) == []
    box = page.get_by_role("dialog").locator("img").bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    shoot(page, "phone-share-qr-full-screen")
    context.close()


def test_failed_submit_puts_the_focus_on_the_first_error(browser, live_server, patient):
    context, page = _page(browser, live_server)
    _log_in(page, patient)
    page.goto("/shares/new/")
    page.locator("main h1").click()

    def tab_to(selector):
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        raise AssertionError(f"{selector} cannot be reached with Tab")

    # The date fields show where the focus is, as every other field does.
    assert tab_to("#id_date_from") == "solid"
    shoot(page, "share-form-date-focus")
    assert tab_to("#id_date_to") == "solid"
    # A click into a date field's day part shows it too (no :focus-visible for a date's parts).
    page.locator("#id_date_from").click()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.locator("#id_date_to").focus()
    # Nothing filled in: the first field with an error gets the focus, its message linked.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_label"
    assert page.locator("#id_label").get_attribute("aria-invalid") == "true"
    described = page.locator("#id_label").get_attribute("aria-describedby").split()
    assert page.locator(f"#{described[-1]}").inner_text() == "This field is required."
    # A name, but no kind of record: the focus goes into the checkboxes' group.
    page.keyboard.type("Dr. Keys")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "categories"
    assert (
        page.evaluate("document.activeElement.closest('fieldset').getAttribute('aria-describedby')")
        == "id_categories_error"
    )
    shoot(page, "share-form-error-focus")
    context.close()


def test_failed_login_puts_the_focus_on_its_message(browser, live_server, patient):
    context, page = _page(browser, live_server)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(patient.email)
    page.locator("#id_password").fill("not the password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    focused = page.evaluate("document.activeElement.textContent")
    assert "not correct" in focused, focused
    context.close()

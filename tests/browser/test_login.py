import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_form_works_in_a_real_browser(page, patient, password):
    # Guards what the test client cannot see: CSRF with the browser's real Origin and
    # Referrer-Policy behaviour, and the CSP letting the page's own assets load.
    errors = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(patient.email)
    page.get_by_label("Password").fill(password)
    page.locator("main form button[type=submit]").click()

    page.wait_for_url("**/dashboard/")
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, 김민준"
    assert errors == []


def test_language_switch_in_a_real_browser(page):
    page.goto("/")
    page.get_by_role("button", name="한국어").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "모든 병원의 건강기록을 한곳에서"
    assert page.locator("html").get_attribute("lang") == "ko"

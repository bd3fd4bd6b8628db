"""A child's vaccinations in real Chromium: the national schedule for a girl born 2019-04-10 with
her KDCA record (one dose overdue, four due on the frozen day), in Korean and English, on a phone
and a desktop, photographed (vaccinations-<device>-<language>.jpg)."""

import datetime as dt

import polib
import pytest
import time_machine
from django.test import override_settings

from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    ROOT,
    axe_violations,
    console_errors,
    horizontal_overflow,
    shoot,
)
from tests.factories import PASSWORD, PatientProfileFactory, UserFactory
from tests.records_data import import_resources
from tests.test_vaccinations import PRESCHOOL, connect, shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
KST = dt.timezone(dt.timedelta(hours=9))
TODAY = dt.datetime(2026, 3, 10, 10, 0, tzinfo=KST)
PENDING = ROOT / "locale" / "ko" / "LC_MESSAGES" / "pending-medsvax.po"


@pytest.fixture
def korean_catalogue(tmp_path):
    """This work's Korean strings, until the lead merges pending-medsvax.po into the catalogue:
    compiled into a locale folder searched first. Once merged (no pending file), nothing."""
    if not PENDING.exists():
        yield
        return
    folder = tmp_path / "locale" / "ko" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    polib.pofile(str(PENDING)).save_as_mofile(str(folder / "django.mo"))
    from django.conf import settings

    with override_settings(LOCALE_PATHS=[str(tmp_path / "locale"), *settings.LOCALE_PATHS]):
        yield


@pytest.fixture
def haeun(db):
    """A girl born 2019-04-10 with her vaccinations to 4 years, but HepA's second dose."""
    user = UserFactory(email="haeun.kim@example.org")
    PatientProfileFactory(
        user=user, birth_date=dt.date(2019, 4, 10), sex="female", full_name="김하은"
    )
    given = [(code, day) for code, day in PRESCHOOL if (code, day) != ("31", "2020-11-20")]
    import_resources(user, "질병관리청", shots(given))
    connect(user, "kdca")  # her KDCA record is linked: the schedule may say due and overdue
    return user


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_childs_schedule(browser, live_server, haeun, korean_catalogue, language, device):
    context = browser.new_context(
        base_url=live_server.url,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport=PHONE if device == "phone" else DESKTOP,
        is_mobile=device == "phone",
        extra_http_headers={"Accept-Language": language},
        bypass_csp=True,  # for axe
    )
    page = context.new_page()
    errors = console_errors(page)
    with time_machine.travel(TODAY, tick=True):
        page.goto("/accounts/login/")
        page.locator("#id_login").fill(haeun.email)
        page.locator("#id_password").fill(PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/dashboard/")

        page.goto("/records/vaccinations/")

        schedule = page.locator("table.vaccination-schedule")
        assert schedule.is_visible()
        # HepA 2 (by 36 months) overdue; DTaP 5, IPV 4, MMR 2 (4-6 years), IJEV 4 (6 years) due.
        assert page.locator(".vaccination-schedule .dose-overdue").count() == 1
        assert page.locator(".vaccination-schedule .dose-due").count() == 4
        assert page.locator(".vaccination-attention li").count() == 5
        hepa = "A형간염 (HepA)" if language == "ko" else "Hepatitis A (HepA)"
        assert (
            hepa
            in page.locator(".vaccination-schedule .dose-overdue")
            .locator("xpath=ancestor::tr")
            .inner_text()
        )
        heading = "국가예방접종 일정" if language == "ko" else "National immunization schedule"
        assert page.locator("h2", has_text=heading).is_visible()
        assert page.locator(".vaccination-record li.card").count() >= 10
        assert horizontal_overflow(page) == 0
        assert axe_violations(page) == []
        shoot(page, f"vaccinations-{device}-{language}")
    assert errors == []
    context.close()

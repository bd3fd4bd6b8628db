"""What the patient and the clinician read around a share: the one "not available" answer that
covers expiry, withdrawal and a lock, the link shown once with its copy, share and full-screen
QR controls (at creation and at reissue), and form errors linked to their fields."""

import html
import re

import pytest

from sharing.models import Share
from tests.conftest import login
from tests.factories import make_share

pytestmark = pytest.mark.django_db

NOT_AVAILABLE = (
    "It may have expired, been withdrawn by the patient, or been locked after too many wrong "
    "passcodes. Ask the patient for a new link."
)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_not_available_covers_expiry_withdrawal_and_lock(client, patient, settings):
    _share, token = make_share(patient, passcode="2468")
    for _ in range(settings.PHR_SHARE_MAX_ATTEMPTS):
        locked = client.post(f"/s/{token}/", {"passcode": "0000"})
    unknown = client.get("/s/no-such-link/")

    assert locked.status_code == unknown.status_code == 404
    assert NOT_AVAILABLE in _text(locked.content.decode())
    assert NOT_AVAILABLE in _text(unknown.content.decode())
    assert "This link is not available" in unknown.content.decode()


def _controls(page: str) -> dict:
    return {
        "links": re.findall(r'<textarea[^>]*class="share-link[^"]*"[^>]*>([^<]*)</textarea>', page),
        "copy": re.findall(
            r'<button type="button" class="button button-secondary" '
            r'data-copy="([^"]+)" hidden>',
            page,
        ),
        "share": re.findall(
            r'<button type="button" class="button button-secondary" '
            r'data-share="([^"]+)" hidden>',
            page,
        ),
        "fullscreen": re.findall(
            r'<button type="button" class="button button-secondary" '
            r'data-qr-open="([^"]+)" hidden>',
            page,
        ),
        "dialogs": re.findall(r'<dialog id="([^"]+)" class="qr-full"', page),
    }


def test_new_share_page_offers_copy_share_and_full_screen_qr(client, patient):
    login(client, patient.email)
    client.post(
        "/shares/new/",
        {"label": "Dr. Kim", "categories": ["lab"], "expires": "1d", "allow_download": "on"},
    )
    share = Share.objects.get()

    page = client.get(f"/shares/{share.code}/").content.decode()

    found = _controls(page)
    assert len(found["links"]) == 2  # the link and the SMART Health Link
    assert found["links"][0].startswith("http://testserver/s/")
    assert found["links"][1].startswith("shlink:/")
    assert found["copy"] == ["share-link", "share-shlink"]
    assert found["share"] == ["share-link"]  # a SMART Health Link goes to an app, not a chat
    assert found["fullscreen"] == ["qr-full-link", "qr-full-shlink"]
    assert found["dialogs"] == ["qr-full-link", "qr-full-shlink"]
    assert 'src="/static/js/share.js"' in page or "js/share." in page


def test_reissued_links_have_the_same_controls(client, patient, settings):
    share, _token = make_share(patient, passcode="2468", allow_download=True)
    Share.objects.filter(pk=share.pk).update(failed_attempts=settings.PHR_SHARE_MAX_ATTEMPTS)
    login(client, patient.email)
    client.post(f"/shares/{share.code}/reissue/")

    page = client.get(f"/shares/{share.code}/").content.decode()

    found = _controls(page)
    assert [link.split(":")[0] for link in found["links"]] == ["http", "shlink"]
    assert found["copy"] == ["share-link", "share-shlink"]
    assert found["fullscreen"] == ["qr-full-link", "qr-full-shlink"]
    assert _controls(client.get(f"/shares/{share.code}/").content.decode())["links"] == []


def test_failed_share_form_links_each_error_to_its_field(client, patient):
    login(client, patient.email)
    page = client.post(
        "/shares/new/",
        {"label": "", "expires": "1d", "date_from": "2025-05-01", "date_to": "2025-01-01"},
    ).content.decode()

    label = re.search(r"<input[^>]*id=\"id_label\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in label
    assert 'aria-describedby="id_label_helptext id_label_error"' in label
    assert re.search(r'<ul class="errorlist" id="id_label_error">', page)
    # The checkboxes' group (a fieldset with a legend) names its error, and is marked for
    # forms.js, which moves the focus to the first field with an error.
    assert re.search(
        r'<fieldset class="field field-error" aria-describedby="id_categories_error">\s*'
        r"<legend>What to share:?</legend>",
        page,
    )
    assert re.search(r'<ul class="errorlist" id="id_categories_error">', page)

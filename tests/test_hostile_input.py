"""Hostile input answers a clear 4xx, never a 500 (issue 14, item 5).

NUL bytes and invalid UTF-8 in query strings, paths, headers and bodies, JSON nested deeper than
any real document, and oversized bodies are refused before any view (or database query) sees
them: core.middleware.HostileInputMiddleware. The property-based sweep over every route is in
tests/test_input_sweep.py.
"""

import json

import pytest

from tests.conftest import login
from tests.factories import make_share

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/institutions/?q=a%00b",
        "/api/v1/institutions/?region=a%00b",
        "/api/v1/institutions/?type_code=a%00b",
        "/api/v1/records/?q=a%00b",
        "/api/v1/labs/a%00b/series/",
        "/api/v1/institutions/?q=%FF%FE",
    ],
)
def test_api_refuses_nul_and_invalid_utf8_with_json_400(client, patient, path):
    login(client, patient.email)

    response = client.get(path)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The request contains invalid characters."}


@pytest.mark.parametrize(
    "path", ["/records/labs/a%00b/", "/records/search/?q=a%00b", "/records/labs/%C3%28/"]
)
def test_pages_refuse_nul_and_invalid_utf8_with_400(client, patient, path):
    login(client, patient.email)

    response = client.get(path)

    assert response.status_code == 400
    assert b"The request contains invalid characters." in response.content


def test_nul_in_a_session_token_header_is_400(client):
    response = client.get("/api/v1/me/", headers={"X-Session-Token": "a\x00b"})
    assert response.status_code == 400


@pytest.fixture
def manifest_url(patient):
    share, _ = make_share(patient, allow_download=True, base_url="http://testserver")
    encoded = share.shlink.removeprefix("shlink:/")
    import base64

    url = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))["url"]
    return url.removeprefix("http://testserver")


def test_shl_manifest_refuses_nul_in_recipient(client, manifest_url):
    response = client.post(
        manifest_url, {"recipient": "Dr.\x00Kim"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The request contains invalid characters."}


def test_deeply_nested_json_is_400_before_parsing(client, manifest_url):
    body = "[" * 100_000 + "]" * 100_000

    response = client.post(manifest_url, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "The JSON document is nested too deeply."}


def test_invalid_utf8_in_json_body_is_400(client, manifest_url):
    response = client.post(
        manifest_url, b'{"recipient": "\xff\xfe"}', content_type="application/json"
    )
    assert response.status_code == 400


def test_nul_in_a_form_field_is_400(client, patient):
    response = client.post("/accounts/login/", {"login": "a\x00b@example.org", "password": "x"})
    assert response.status_code == 400


def test_oversized_api_body_is_json_413(client, patient, settings):
    login(client, patient.email)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = client.post(
        "/api/v1/shares/", {"label": "x" * 20_000}, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}


def test_headless_password_reset_with_an_empty_user_part_is_400(client):
    # Found by tests/test_input_sweep.py: allauth took "-x" apart into an empty user id and
    # then failed on it (TypeError, a 500).
    response = client.post(
        "/_allauth/app/v1/auth/password/reset",
        {"key": "-x", "password": "a-long-pass-phrase-9"},  # pragma: allowlist secret
        content_type="application/json",
    )
    assert response.status_code == 400

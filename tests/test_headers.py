"""Transport and browser protections under the production settings, read off real responses,
and the encryption of secrets at rest with key rotation."""

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from institutions.models import Institution
from tests.helpers import PRODUCTION_ENV, manage, project_env

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Run inside `manage.py shell` with DEBUG off: a patient logs in over HTTPS and fetches a sample
# of pages; everything it creates is rolled back.
FETCH_PAGES = """
import json
from django.db import transaction
from django.test import Client
from accounts.models import User
from allauth.account.models import EmailAddress

PAGES = {pages!r}
out = {{}}
with transaction.atomic():
    user = User.objects.create_user(email="headers@example.org", password="A-long-pass-123!")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client = Client(HTTP_HOST="phr.example.org")
    login_page = client.get("/accounts/login/", secure=True)
    out["login"] = {{"cookies": {{k: dict(v.items()) for k, v in login_page.cookies.items()}}}}
    response = client.post(
        "/accounts/login/",
        {{"login": user.email, "password": "A-long-pass-123!"}},
        secure=True,
    )
    out["logged_in"] = {{
        "status": response.status_code,
        "cookies": {{k: dict(v.items()) for k, v in response.cookies.items()}},
    }}
    for path in PAGES:
        response = client.get(path, secure=True)
        out[path] = {{"status": response.status_code, "headers": dict(response.headers)}}
    transaction.set_rollback(True)
print("RESULT " + json.dumps(out))
"""

PATIENT_PAGES = [
    "/dashboard/",
    "/records/timeline/",
    "/records/labs/",
    "/records/medications/",
    "/records/summary/",
    "/shares/",
    "/shares/new/",
    "/account/",
    "/account/activity/",
    "/institutions/",
    "/api/v1/records/",
    "/api/v1/audit-events/",
]
PUBLIC_PAGES = ["/", "/accounts/login/", "/s/no-such-link/"]


@pytest.fixture(scope="module")
def production_responses(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = project_env(
        # Static files are not collected here; the headers do not depend on their storage.
        **{**PRODUCTION_ENV, "DATABASE_URL": url, "PHR_MANIFEST_STATIC": "0"}
    )
    script = FETCH_PAGES.format(pages=PATIENT_PAGES + PUBLIC_PAGES)
    result = manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_every_sampled_page_sends_the_protective_headers(production_responses):
    for path in PATIENT_PAGES + PUBLIC_PAGES:
        response = production_responses[path]
        headers = {k.lower(): v for k, v in response["headers"].items()}
        # Logged in, the login page sends the patient on; an unknown link is a 404.
        expected = {"/s/no-such-link/": 404, "/accounts/login/": 302}.get(path, 200)
        assert response["status"] == expected, path
        assert headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains; preload"
        ), path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["cross-origin-opener-policy"] == "same-origin", path
        assert headers["referrer-policy"] in ("same-origin", "no-referrer"), path
        csp = headers["content-security-policy"]
        for forbidden in ("'unsafe-inline'", "'unsafe-eval'"):
            assert forbidden not in csp, path
        for required in ("frame-ancestors 'none'", "object-src 'none'", "default-src 'self'"):
            assert required in csp, path
        assert "script-src 'self'" in csp, path
        if path in PATIENT_PAGES or path.startswith("/s/"):
            assert "no-store" in headers["cache-control"], path
    assert production_responses["/s/no-such-link/"]["headers"]["Referrer-Policy"] == "no-referrer"


def test_cookies_are_secure_host_only_and_http_only(production_responses):
    csrf = production_responses["login"]["cookies"]["__Host-phr-csrf"]
    assert (csrf["secure"], csrf["path"], csrf["domain"]) == (True, "/", "")
    assert production_responses["logged_in"]["status"] == 302
    session = production_responses["logged_in"]["cookies"]["__Host-phr-session"]
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")
    assert (session["path"], session["domain"]) == ("/", "")


def test_csrf_trusted_origins_and_hosts_come_from_the_environment():
    script = (
        "from django.conf import settings; "
        "print(settings.CSRF_TRUSTED_ORIGINS, settings.ALLOWED_HOSTS, settings.DEBUG)"
    )
    result = manage("shell", "-c", script, env=project_env(**PRODUCTION_ENV))
    expected = "['https://phr.example.org'] ['phr.example.org'] False"
    assert result.stdout.strip().splitlines()[-1] == expected


def test_secrets_are_encrypted_at_rest_and_keys_rotate(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    institution = Institution.objects.create(
        name="암호병원", hira_number="33333333", type_code="31", client_secret="hospital-secret-42"
    )

    def raw() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT client_secret FROM institutions_institution WHERE id = %s",
                [institution.pk],
            )
            return cursor.fetchone()[0]

    before = raw()
    assert "hospital-secret-42" not in before
    assert Fernet(old_key).decrypt(before.encode()) == b"hospital-secret-42"

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert Institution.objects.get(pk=institution.pk).client_secret == "hospital-secret-42"
    call_command("rotate_encryption_keys")
    after = raw()
    assert after != before
    assert "hospital-secret-42" not in after
    assert Fernet(new_key).decrypt(after.encode()) == b"hospital-secret-42"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
    assert Institution.objects.get(pk=institution.pk).client_secret == "hospital-secret-42"


def test_encryption_key_is_separate_from_secret_key(settings):
    assert settings.SECRET_KEY not in settings.FIELD_ENCRYPTION_KEYS
    result = manage(
        "check",
        env=project_env(
            **{**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEY": ""},
        ),
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr

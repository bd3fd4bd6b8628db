import re

import pytest
from django.core import mail

from accounts.domain import identity_identifier
from accounts.models import PatientProfile, User
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_signup_email_verification_login_dashboard(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )
    # Mandatory verification: no session yet, a mail with a link instead.
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/dashboard/").status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", mail.outbox[0].body)
    assert link is not None

    # Logging in before confirming is refused (sent back to "verify your e-mail").
    response = client.post(
        "/accounts/login/", {"login": "new@example.org", "password": "a-long-pass-phrase-9"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/dashboard/").status_code == 302

    assert client.post(link.group(1)).status_code == 302

    response = client.post(
        "/accounts/login/", {"login": "new@example.org", "password": "a-long-pass-phrase-9"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert b"Verify your identity" in page.content


def test_identity_verification_stores_hmac_not_raw_values(client, password):
    user = User.objects.create_user("id@example.org", password)
    user.emailaddress_set.create(email=user.email, verified=True, primary=True)
    login(client, user.email)

    response = client.post(
        "/account/identity/",
        {
            "full_name": "정 하 늘",
            "birth_date": "1988-11-30",
            "sex": "female",
            "phone": "+82 10-5555-0101",
            "confirm": "on",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    profile = PatientProfile.objects.get(user=user)
    assert profile.is_verified
    assert re.fullmatch(r"[0-9a-f]{64}", profile.verified_identifier)
    assert "01055550101" not in profile.verified_identifier
    assert "5555" not in profile.verified_identifier
    # Stable: the same person typed differently gives the same identifier.
    import datetime as dt

    assert profile.verified_identifier == identity_identifier(
        full_name="정하늘", birth_date=dt.date(1988, 11, 30), phone="010-5555-0101"
    )


def test_identity_verification_bad_phone_keeps_input(client, patient):
    login(client, patient.email)
    form = {
        "full_name": "김민준",
        "birth_date": "1962-03-15",
        "sex": "male",
        "phone": "02-123-4567",
        "confirm": "on",
    }
    response = client.post("/account/identity/", form)
    assert response.status_code == 200
    assert b"Enter a Korean mobile number such as 010-1234-5678." in response.content
    assert b'value="02-123-4567"' in response.content


def test_identity_already_linked_to_another_account(client, patient, other_patient):
    login(client, other_patient.email)
    response = client.post(
        "/account/identity/",
        {
            "full_name": "김민준",
            "birth_date": "1962-03-15",
            "sex": "male",
            "phone": "010-1234-5678",
            "confirm": "on",
        },
    )
    assert response.status_code == 200
    assert b"already linked to another PHR account" in response.content
    other_patient.profile.refresh_from_db()
    assert other_patient.profile.full_name == "이서연"


def test_login_rate_limited_refuses_correct_password(client, patient, password):
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": patient.email, "password": "wrong"})
        assert response.status_code == 200
        assert (
            b"The email address and/or password you specified are not correct." in response.content
        )

    response = client.post("/accounts/login/", {"login": patient.email, "password": password})

    # Capped for this (account, address): 429 with Retry-After (tests/test_login_throttle.py).
    assert response.status_code == 429
    assert b"Too many failed login attempts. Try again later." in response.content
    assert client.get("/dashboard/").status_code == 302


def test_account_page_requires_login(client):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_adding_an_email_address_asks_for_reauthentication(client, patient):
    login(client, patient.email)
    response = client.post("/accounts/email/", {"action_add": "", "email": "new@example.org"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert not patient.emailaddress_set.filter(email="new@example.org").exists()


def test_identity_form_posted_empty_shows_errors(client, patient):
    login(client, patient.email)
    response = client.post("/account/identity/", {})
    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") == 5

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value

from audit.models import Action, AuditEvent
from tests.conftest import login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.fixture
def enrolled(client, patient, django_capture_on_commit_callbacks):
    """The patient, logged in, enrols TOTP through the pages; returns the TOTP secret."""
    login(client, patient.email)
    # Changing MFA asks for the password again, even right after logging in.
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/reauthenticate/")
    client.post(page["Location"], {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    # allauth announces the new authenticator after commit.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert response.status_code == 302
    client.post("/accounts/logout/")
    return secret


def test_totp_enrolment_creates_authenticator_and_recovery_codes(enrolled, patient):
    types = set(Authenticator.objects.filter(user=patient).values_list("type", flat=True))
    assert types == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}
    assert AuditEvent.objects.filter(action=Action.MFA_ADDED, patient_id=patient.pk).count() == 2


def test_login_with_totp_requires_code_and_refuses_replay(client, enrolled, patient, password):
    response = client.post("/accounts/login/", {"login": patient.email, "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/dashboard/").status_code == 302  # not logged in until the code

    code = current_code(enrolled)
    # The code used at enrolment may be this same one: a fresh window guarantees a new code.
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    if response.status_code == 200:  # it was the enrolment code: replay refused already
        assert b"Incorrect code." in response.content
        time.sleep(31)
        code = current_code(enrolled)
        response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200

    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"login": patient.email, "password": password})
    replay = client.post("/accounts/2fa/authenticate/", {"code": code})

    assert replay.status_code == 200
    assert b"Incorrect code." in replay.content
    assert client.get("/dashboard/").status_code == 302
    assert AuditEvent.objects.filter(
        action=Action.LOGIN_FAILED, patient_id=patient.pk, extra__stage="mfa"
    ).exists()


def test_recovery_code_works_once(client, enrolled, patient, password):
    authenticator = Authenticator.objects.get(user=patient, type=Authenticator.Type.RECOVERY_CODES)
    recovery_code = RecoveryCodes(authenticator).get_unused_codes()[0]

    client.post("/accounts/login/", {"login": patient.email, "password": password})
    response = client.post("/accounts/2fa/authenticate/", {"code": recovery_code})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200

    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"login": patient.email, "password": password})
    again = client.post("/accounts/2fa/authenticate/", {"code": recovery_code})
    assert again.status_code == 200
    assert b"Incorrect code." in again.content

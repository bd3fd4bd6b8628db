import pytest
from django.test import override_settings

from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_admin_refuses_patients(client, patient):
    login(client, patient.email)
    assert client.get("/admin/").status_code == 302  # admin's own "not staff" redirect
    assert client.get("/admin/login/").status_code == 403


@override_settings(PHR_STAFF_MFA_REQUIRED=True)
def test_staff_without_mfa_is_sent_to_mfa_setup(client, admin_user):
    login(client, admin_user.email)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"


@override_settings(PHR_STAFF_MFA_REQUIRED=False)
def test_staff_reach_admin_when_mfa_not_required(client, admin_user):
    login(client, admin_user.email)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Audit events" in response.content


def test_staff_mfa_required_by_default_outside_development(settings):
    # tests run with DEBUG off, like production
    assert settings.PHR_STAFF_MFA_REQUIRED is True


@override_settings(PHR_STAFF_MFA_REQUIRED=False)
def test_audit_log_in_admin_is_read_only(client, admin_user):
    login(client, admin_user.email)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403


def test_admin_login_is_rate_limited_like_the_site(client, admin_user, password):
    for _ in range(5):
        client.post("/accounts/login/?next=/admin/", {"login": admin_user.email, "password": "x"})
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": admin_user.email, "password": password}
    )
    assert b"Too many failed login attempts" in response.content

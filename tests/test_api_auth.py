import pytest

pytestmark = pytest.mark.django_db


def app_login(client, email, password):
    return client.post(
        "/_allauth/app/v1/auth/login",
        {"email": email, "password": password},
        content_type="application/json",
    )


def test_headless_login_token_authenticates_api(client, patient, password):
    response = app_login(client, patient.email, password)
    assert response.status_code == 200
    token = response.json()["meta"]["session_token"]

    me = client.get("/api/v1/me/", headers={"X-Session-Token": token})

    assert me.status_code == 200
    assert me.json() == {
        "email": "patient@example.org",
        "full_name": "김민준",
        "identity_verified": True,
    }


def test_api_bad_session_token_is_401(client, patient):
    response = client.get("/api/v1/me/", headers={"X-Session-Token": "not-a-real-token"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "X-Session-Token"


def test_api_without_credentials_is_401(client):
    assert client.get("/api/v1/me/").status_code == 401


def test_headless_login_wrong_password_is_400(client, patient):
    response = app_login(client, patient.email, "wrong")
    assert response.status_code == 400
    assert "meta" not in response.json() or "session_token" not in response.json()["meta"]


def test_api_session_auth_for_browsers(client, patient):
    client.force_login(patient)
    assert client.get("/api/v1/me/").json()["email"] == "patient@example.org"


def test_schema_generates(client, patient):
    client.force_login(patient)
    response = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/me/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["sessionToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Session-Token",
    }

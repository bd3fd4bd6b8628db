"""Linking, syncing, unlinking and importing through the pages and the REST API."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import Action, AuditEvent
from institutions import domain
from institutions.models import Institution, RunStatus, Source, SyncRun
from mockhospital import domain as mock
from records.models import Record
from tests.conftest import login, run_to_end

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
LUIGI = FIXTURES / "synthea" / "Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def linked(patient, institution, known_patient):
    """The patient's source at the institution, synced once."""
    source = domain.link_institution(patient=patient, institution=institution)
    run_to_end(source.runs.get())
    return source


def api_token(client, user, password):
    response = client.post(
        "/_allauth/app/v1/auth/login",
        {"email": user.email, "password": password},
        content_type="application/json",
    )
    return {"X-Session-Token": response.json()["meta"]["session_token"]}


# --- Pages -----------------------------------------------------------------------------------


def test_directory_lists_only_active_institutions(client, patient, institution):
    Institution.objects.create(name="준비중병원", hira_number="99999999", type_code="31")  # a draft
    login(client, patient.email)
    page = client.get("/institutions/").content.decode()
    assert institution.name in page
    assert "준비중병원" not in page
    assert institution.name not in client.get("/institutions/", {"q": "없는이름"}).content.decode()
    assert institution.name in client.get("/institutions/", {"type_code": "11"}).content.decode()


def test_consent_is_required_then_link_starts_a_sync(client, patient, institution, known_patient):
    login(client, patient.email)
    url = f"/institutions/{institution.code}/link/"
    page = client.get(url).content.decode()
    assert "What will be received" in page
    assert "withdraw this consent at any time" in page

    refused = client.post(url, {})
    assert "Tick the box to give your consent, or go back." in refused.content.decode()
    assert not Source.objects.exists()

    response = client.post(url, {"agree": "on"})
    source = Source.objects.get()
    assert response["Location"] == f"/sources/{source.code}/"
    assert source.runs.get().status == RunStatus.QUEUED
    assert (
        AuditEvent.objects.filter(action=Action.SOURCE_LINKED, patient_id=patient.pk).count() == 1
    )
    progress = client.get(f"/sources/{source.code}/progress/").content.decode()
    assert 'hx-trigger="every 2s"' in progress  # polls while the run is active

    run_to_end(source.runs.get())
    progress = client.get(f"/sources/{source.code}/progress/").content.decode()
    assert "hx-trigger" not in progress
    assert f"{Record.objects.filter(source=source).count()} records in PHR" in progress
    dashboard = client.get("/dashboard/").content.decode()
    assert institution.name in dashboard
    assert "Completed" in dashboard


def test_patient_not_found_is_explained_on_the_page(client, patient, institution):
    login(client, patient.email)
    response = client.post(f"/institutions/{institution.code}/link/", {"agree": "on"})
    assert response.status_code == 200
    assert "has no records under your verified identity" in response.content.decode()
    assert not Source.objects.exists()


def test_failed_sync_explains_itself_and_offers_a_retry(
    client, patient, institution, hospital, known_patient
):
    source = domain.link_institution(patient=patient, institution=institution)
    mock.set_faults(institution=hospital, settings={"error_rate": 1})
    run_to_end(source.runs.get())
    login(client, patient.email)
    page = client.get(f"/sources/{source.code}/").content.decode()
    assert "The hospital kept failing after several attempts" in page
    assert "Try again" in page

    mock.set_faults(institution=hospital, settings={})
    assert client.post(f"/sources/{source.code}/sync/").status_code == 302
    assert run_to_end(source.runs.first()).status == RunStatus.SUCCEEDED


def test_unlink_and_delete_through_the_page(client, patient, linked):
    login(client, patient.email)
    count = Record.objects.filter(source=linked).count()
    response = client.post(f"/sources/{linked.code}/unlink/", {"purge": "true", "confirm": count})
    assert response["Location"] == "/dashboard/"
    linked.refresh_from_db()
    assert linked.status == "unlinked"
    assert not Record.objects.filter(source=linked).exists()


def test_unlink_and_delete_asks_first_with_the_count(client, patient, linked):
    # "Unlink and delete" erased 330 records in one click: the click now shows what it deletes.
    login(client, patient.email)
    count = Record.objects.filter(source=linked).count()
    assert count > 1
    response = client.post(f"/sources/{linked.code}/unlink/", {"purge": "true"})
    assert response.status_code == 200
    assert response.templates[0].name == "institutions/unlink_confirm.html"
    page = response.content.decode()
    assert f"This deletes {count} records from {linked.institution.name}." in page
    assert f'<input type="hidden" name="confirm" value="{count}">' in page
    assert f'href="/sources/{linked.code}/"' in page  # cancel goes back, deleting nothing
    linked.refresh_from_db()
    assert linked.status == "active"
    assert Record.objects.filter(source=linked).count() == count
    assert not AuditEvent.objects.filter(action=Action.SOURCE_UNLINKED).exists()


def test_unlink_and_delete_with_a_stale_count_asks_again(client, patient, linked):
    # The count confirmed must be the count deleted (a sync may have brought more since).
    login(client, patient.email)
    count = Record.objects.filter(source=linked).count()
    response = client.post(
        f"/sources/{linked.code}/unlink/", {"purge": "true", "confirm": count - 1}
    )
    assert response.status_code == 200
    assert f"This deletes {count} records" in response.content.decode()
    assert Record.objects.filter(source=linked).count() == count


def test_unlink_keeping_the_records_needs_no_confirmation(client, patient, linked):
    login(client, patient.email)
    count = Record.objects.filter(source=linked).count()
    response = client.post(f"/sources/{linked.code}/unlink/", {"purge": "false"})
    assert response["Location"] == "/dashboard/"
    assert Record.objects.filter(source=linked).count() == count


def test_import_through_the_page(client, patient):
    login(client, patient.email)
    bad = client.post("/sources/import/", {"file": SimpleUploadedFile("notes.txt", b"hello")})
    assert "Neither JSON nor NDJSON" in bad.content.decode()
    assert not Source.objects.exists()

    # Luigi's file is not about the cast's patient: the page asks, and stores nothing until
    # the patient confirms (tests/test_imports.py covers the review itself).
    review = client.post(
        "/sources/import/", {"file": SimpleUploadedFile(LUIGI.name, LUIGI.read_bytes())}
    )
    assert review.status_code == 200
    assert not Source.objects.exists()
    good = client.post(
        "/sources/import/",
        {"file": SimpleUploadedFile(LUIGI.name, LUIGI.read_bytes()), "confirm": "on"},
    )
    source = Source.objects.get()
    assert good["Location"] == f"/sources/{source.code}/"
    assert source.label == LUIGI.name
    assert run_to_end(source.runs.get()).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "progress/"), ("post", "sync/"), ("post", "unlink/")],
)
def test_other_patients_source_pages_are_404(client, other_patient, linked, method, suffix):
    login(client, other_patient.email)
    response = getattr(client, method)(f"/sources/{linked.code}/{suffix}", {"purge": "true"})
    assert response.status_code == 404
    linked.refresh_from_db()
    assert linked.status == "active"
    assert linked.runs.count() == 1


# --- API -------------------------------------------------------------------------------------


def test_api_link_sync_and_read_runs(client, patient, password, institution, known_patient):
    headers = api_token(client, patient, password)
    listed = client.get(
        "/api/v1/institutions/", {"q": institution.name[:3]}, headers=headers
    ).json()
    assert [i["id"] for i in listed["results"]] == [str(institution.code)]

    missing = client.post(
        "/api/v1/sources/",
        {"institution": str(institution.code)},
        content_type="application/json",
        headers=headers,
    )
    assert missing.status_code == 400
    assert "consent" in missing.json()

    created = client.post(
        "/api/v1/sources/",
        {"institution": str(institution.code), "consent": True},
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201
    source = Source.objects.get(code=created.json()["id"])
    first = run_to_end(source.runs.get())

    run = client.get(f"/api/v1/sync-runs/{first.code}/", headers=headers).json()
    assert run["status"] == "succeeded"
    assert run["progress"] == 100
    assert run["created"] == first.created_count > 0
    assert {"fetched", "updated", "unchanged", "invalid"} <= set(run)

    again = client.post(f"/api/v1/sources/{source.code}/sync/", headers=headers)
    assert again.status_code == 202
    assert again.json()["status"] == "queued"
    same = client.post(f"/api/v1/sources/{source.code}/sync/", headers=headers)
    assert same.json()["id"] == again.json()["id"]  # a second trigger is the same run

    count = Record.objects.filter(source=source).count()
    unconfirmed = client.delete(f"/api/v1/sources/{source.code}/?purge=true", headers=headers)
    assert unconfirmed.status_code == 409
    assert unconfirmed.json() == {
        "detail": f"This deletes {count} records from {institution.name}. "
        f"Repeat the request with confirm={count}.",
        "records": count,
    }
    assert Record.objects.filter(source=source).count() == count
    source.refresh_from_db()
    assert source.status == "active"
    stale = f"/api/v1/sources/{source.code}/?purge=true&confirm={count + 1}"
    assert client.delete(stale, headers=headers).status_code == 409
    confirmed = f"/api/v1/sources/{source.code}/?purge=true&confirm={count}"
    deleted = client.delete(confirmed, headers=headers)
    assert deleted.status_code == 204
    assert not Record.objects.filter(source=source).exists()


def test_api_link_patient_not_found_is_422(client, patient, password, institution):
    headers = api_token(client, patient, password)
    response = client.post(
        "/api/v1/sources/",
        {"institution": str(institution.code), "consent": True},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422
    assert "has no records under your verified identity" in response.json()["detail"]


def test_api_import(client, patient, password):
    headers = api_token(client, patient, password)
    bad = client.post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("x.json", b'{"a": 1}')}, headers=headers
    )
    assert bad.status_code == 400
    assert bad.json() == {"file": ["The JSON has no resourceType: it is not FHIR."]}
    good = client.post(
        "/api/v1/imports/",
        {"file": SimpleUploadedFile(LUIGI.name, LUIGI.read_bytes()), "confirm": "true"},
        headers=headers,
    )
    assert good.status_code == 202
    assert good.json()["kind"] == "upload"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/sources/{source}/"),
        ("delete", "/api/v1/sources/{source}/"),
        ("post", "/api/v1/sources/{source}/sync/"),
        ("get", "/api/v1/sync-runs/{run}/"),
    ],
)
def test_api_other_patients_objects_are_404(client, other_patient, password, linked, method, path):
    headers = api_token(client, other_patient, password)
    url = path.format(source=linked.code, run=linked.runs.get().code)
    response = getattr(client, method)(url, headers=headers)
    assert response.status_code == 404
    assert client.get("/api/v1/sources/", headers=headers).json()["results"] == []
    assert linked.runs.count() == 1
    assert Source.objects.get(pk=linked.pk).status == "active"


def test_sync_run_counts_stay_with_the_owner(client, patient, password, linked):
    headers = api_token(client, patient, password)
    runs = client.get("/api/v1/sync-runs/", headers=headers).json()["results"]
    assert [r["id"] for r in runs] == [str(SyncRun.objects.get().code)]


def test_dashboard_polls_while_a_sync_runs(client, patient, institution, known_patient):
    source = domain.link_institution(patient=patient, institution=institution)
    login(client, patient.email)
    assert 'hx-get="/dashboard/sources/"' in client.get("/dashboard/").content.decode()
    fragment = client.get("/dashboard/sources/").content.decode()
    assert "Waiting to start" in fragment
    assert 'hx-trigger="every 3s"' in fragment
    run_to_end(source.runs.get())
    fragment = client.get("/dashboard/sources/").content.decode()
    assert "Completed" in fragment
    assert "hx-trigger" not in fragment


def test_hidden_fields_have_no_label_in_either_language(client, patient, linked):
    """The unlink form's hidden count is no field a person fills in: no "Confirm:" label (it
    showed, untranslated, in the Korean page)."""
    client.force_login(patient)
    for language in ("en", "ko"):
        page = client.get(f"/sources/{linked.code}/", HTTP_ACCEPT_LANGUAGE=language)
        html = page.content.decode()
        assert page.status_code == 200
        assert 'name="confirm"' in html
        assert 'for="id_confirm"' not in html
        assert "Confirm:" not in html

"""Operators: the institution directory CSV, onboarding in the admin, sync health and retry."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from institutions.directory_csv import import_directory
from institutions.models import Institution, RunStatus
from mockhospital import domain as mock
from tests.conftest import run_to_end

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "samples" / "institutions.csv"
HEADER = (
    "hira_number,name,name_en,type_code,region,fhir_base_url,token_url,client_id,client_secret\n"
)


@pytest.fixture
def operator(client, admin_user, settings):
    settings.PHR_STAFF_MFA_REQUIRED = False
    client.force_login(admin_user)
    return client


def test_sample_directory_imports_and_reimport_is_a_no_op(db):
    first = import_directory(SAMPLE.read_bytes())
    assert (first.created, first.updated, first.errors) == (20, 0, [])
    assert Institution.objects.filter(status="draft").count() == 20
    again = import_directory(SAMPLE.read_bytes())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 20)


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(db):
    data = (
        HEADER
        + "11100001,좋은병원,,11,서울,,,,\n"
        + "abc,숫자아님,,11,서울,,,,\n"
        + "11100003,,,99,서울,ftp://x,,,\n"
        + "11100001,중복,,31,서울,,,,\n"
    ).encode()
    result = import_directory(data)
    assert result.errors == [
        "line 3: the HIRA number abc is not a number.",
        "line 4: name is empty.",
        "line 4: unknown institution type 99.",
        "line 4: fhir_base_url is not an http(s) address.",
        "line 5: HIRA number 11100001 already appears on line 2.",
    ]
    assert not Institution.objects.exists()


def test_import_updates_by_hira_number_and_keeps_the_secret(db):
    import_directory((HEADER + "11100001,좋은병원,,11,서울,,,cid,secret-1\n").encode())
    result = import_directory((HEADER + "11100001,더좋은병원,,11,서울,,,cid,\n").encode())
    assert (result.created, result.updated) == (0, 1)
    institution = Institution.objects.get()
    assert (institution.name, institution.client_secret) == ("더좋은병원", "secret-1")


def test_client_secret_is_encrypted_at_rest(db):
    import_directory((HEADER + "11100001,좋은병원,,11,서울,,,cid,very-secret-value\n").encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM institutions_institution")
        (raw,) = cursor.fetchone()
    assert "very-secret-value" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert Institution.objects.get().client_secret == "very-secret-value"


def test_import_command(db):
    out = io.StringIO()
    call_command("import_institutions", str(SAMPLE), stdout=out)
    assert out.getvalue() == "20 created, 0 updated, 0 unchanged.\n"
    with pytest.raises(CommandError, match="line 2: name is empty"):
        call_command("import_institutions", str(_write_tmp(HEADER + "1,,,11,,,,,\n")))


def _write_tmp(text):
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)  # noqa: SIM115
    handle.write(text)
    handle.close()
    return handle.name


def test_admin_csv_import_page(operator):
    response = operator.post(
        "/admin/institutions/institution/import-csv/",
        {"file": SimpleUploadedFile("dir.csv", SAMPLE.read_bytes())},
    )
    assert response.status_code == 302
    assert Institution.objects.count() == 20
    bad = operator.post(
        "/admin/institutions/institution/import-csv/",
        {"file": SimpleUploadedFile("dir.csv", (HEADER + "x,,,11,,,,,\n").encode())},
    )
    assert "line 2: the HIRA number x is not a number." in bad.content.decode()


def test_admin_refuses_patients(client, patient):
    client.force_login(patient)
    assert client.get("/admin/institutions/institution/").status_code == 302
    assert client.get("/admin/institutions/institution/import-csv/").status_code == 302
    assert not Institution.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_admin_onboarding_health_and_retry(
    client, admin_user, settings, live_server, hospital, patient, known_patient
):
    settings.PHR_STAFF_MFA_REQUIRED = False
    client.force_login(admin_user)
    base = f"{live_server.url}/mock/{hospital.slug}"
    institution = Institution.objects.create(
        name="한빛",
        hira_number=hospital.hira_number,
        type_code="11",
        fhir_base_url=f"{base}/fhir",
        token_url=f"{base}/token",
        client_id=hospital.client_id,
        client_secret=hospital.client_secret,
    )
    changelist = "/admin/institutions/institution/"
    client.post(changelist, {"action": "activate", "_selected_action": [institution.pk]})
    institution.refresh_from_db()
    assert institution.status == "draft"  # not tested yet

    client.post(changelist, {"action": "test_connections", "_selected_action": [institution.pk]})
    client.post(changelist, {"action": "activate", "_selected_action": [institution.pk]})
    institution.refresh_from_db()
    assert (institution.test_ok, institution.status) == (True, "active")

    from institutions import domain

    source = domain.link_institution(patient=patient, institution=institution)
    mock.set_faults(institution=hospital, settings={"error_rate": 1})
    run_to_end(source.runs.get())
    page = client.get(changelist).content.decode()
    assert "1/1 (100%)" in page
    assert "The hospital kept failing after several attempts" in page

    mock.set_faults(institution=hospital, settings={})
    client.post(changelist, {"action": "retry_failed_syncs", "_selected_action": [institution.pk]})
    retried = source.runs.first()
    assert retried.trigger == "operator"
    assert run_to_end(retried).status == RunStatus.SUCCEEDED


def test_admin_refuses_internal_urls(operator, settings):
    settings.PHR_FHIR_ALLOW_LOOPBACK = False
    response = operator.post(
        "/admin/institutions/institution/add/",
        {
            "name": "x",
            "hira_number": "1",
            "type_code": "11",
            "fhir_base_url": "http://127.0.0.1:8000/fhir",
            "max_concurrent_syncs": 4,
        },
    )
    assert "Addresses on this machine (loopback) are not allowed." in response.content.decode()
    assert not Institution.objects.exists()

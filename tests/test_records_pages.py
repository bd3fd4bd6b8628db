import json
from pathlib import Path

import pytest

from records.models import Category, Record
from tests.conftest import login
from tests.records_data import import_resources

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
pytestmark = pytest.mark.django_db

PAGES = [
    "/dashboard/",
    "/records/timeline/",
    "/records/labs/",
    "/records/vitals/",
    "/records/medications/",
    "/records/vaccinations/",
    "/records/summary/",
    "/records/search/?q=a",
    *[f"/records/c/{c}/" for c in Category.values if c != "medication"],
]


@pytest.fixture
def kr_patient(patient, kr_sources):
    return patient


def fixture_resources():
    resources = []
    for path in sorted((FIXTURES / "synthea").glob("*.json")) + sorted(
        (FIXTURES / "hl7-r4-examples").glob("*.json")
    ):
        document = json.loads(path.read_text())
        if document["resourceType"] == "Bundle" and "synthea" in str(path):
            resources += [e["resource"] for e in document["entry"]]
        elif document["resourceType"] != "Bundle":
            resources.append(document)
    return resources


def test_every_page_renders_kr_core_records(client, kr_patient):
    login(client, kr_patient.email)
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_fixtures_render_on_every_page_and_detail(client, patient):
    import_resources(patient, "Synthea + HL7", fixture_resources())
    login(client, patient.email)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    for code in Record.objects.filter(patient=patient).values_list("code", flat=True):
        assert client.get(f"/records/r/{code}/").status_code == 200
    for code in (
        Record.objects.filter(patient=patient, category="lab", value_num__isnull=False)
        .values_list("code_value", flat=True)
        .distinct()
    ):
        assert client.get(f"/records/labs/{code}/").status_code == 200, code


def _text_only(resource_type: str, rid: str, text: str, **extra) -> dict:
    concept = "vaccineCode" if resource_type == "Immunization" else "code"
    subject = "patient" if resource_type in ("AllergyIntolerance", "Immunization") else "subject"
    return {
        "resourceType": resource_type,
        "id": rid,
        concept: {"text": text},
        subject: {"reference": "Patient/p"},
        **extra,
    }


def test_allergies_and_problems_named_only_in_words_are_each_listed(client, patient):
    """QA: an allergy or immunization with a name but no code was left out of the summary and
    the dashboard, which said "None recorded." over a recorded penicillin allergy; two active
    problems without codes were shown as one. Uncoded records are told apart by their name."""
    active = {"clinicalStatus": {"coding": [{"code": "active"}]}}
    import_resources(
        patient,
        "A병원",
        [
            _text_only("AllergyIntolerance", "a1", "페니실린", recordedDate="2024-03-01"),
            _text_only("AllergyIntolerance", "a2", "땅콩", recordedDate="2025-03-01"),
            _text_only("Condition", "c1", "고혈압", recordedDate="2024-01-01", **active),
            _text_only("Condition", "c2", "당뇨병", recordedDate="2024-02-01", **active),
            _text_only(
                "Immunization", "i1", "독감", status="completed", occurrenceDateTime="2025-10-01"
            ),
        ],
    )
    login(client, patient.email)

    for url in ("/records/summary/", "/dashboard/"):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        for name in ("페니실린", "땅콩", "고혈압", "당뇨병"):
            assert name in page, (url, name)
    summary = client.get("/records/summary/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "독감" in summary
    api = client.get("/api/v1/summary/").json()
    assert "페니실린" in json.dumps(api, ensure_ascii=False)

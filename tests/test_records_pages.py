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

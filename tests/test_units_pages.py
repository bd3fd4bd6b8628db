"""Units on the pages a person reads: written as people do (mmHg, °C, 10³/µL), the UCUM code kept
in the raw FHIR view only."""

import pytest

from records.models import Record
from tests.conftest import login
from tests.records_data import generated, import_resources

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(patient):
    import_resources(patient, "hanbit.ndjson", generated(patient, size=120))
    return patient


@pytest.mark.parametrize(
    "url", ["/records/vitals/", "/records/labs/", "/records/", "/records/summary/"]
)
def test_pages_show_units_as_written(client, synced, url):
    login(client, synced.email)

    page = client.get(url).content.decode()

    assert "mm[Hg]" not in page
    assert "Cel" not in page
    assert "10*3/uL" not in page
    assert "kg/m2" not in page


def test_vitals_page_blood_pressure_in_mmhg(client, synced):
    login(client, synced.email)

    page = client.get("/records/vitals/").content.decode()

    assert " mmHg</span></h2>" in page


@pytest.mark.parametrize(
    ("code", "written"), [("mm[Hg]", "mmHg"), ("Cel", "°C"), ("10*3/uL", "10³/µL")]
)
def test_record_detail_unit_written_raw_code_kept(client, synced, code, written):
    record = Record.objects.filter(patient=synced, unit=code).first()
    login(client, synced.email)

    page = client.get(f"/records/r/{record.code}/").content.decode()
    result, raw = page.split('class="raw"', 1)

    assert f" {written}</strong>" in result
    assert code not in result
    assert f"&quot;code&quot;: &quot;{code}&quot;" in raw


def test_api_record_unit_display_beside_raw_code(client, synced):
    record = Record.objects.filter(patient=synced, unit="mm[Hg]").first()
    login(client, synced.email)

    body = client.get(f"/api/v1/records/{record.code}/").json()

    assert (body["unit"], body["unit_display"]) == ("mm[Hg]", "mmHg")


# --- Vital-sign names in the reader's language ------------------------------------------------


@pytest.mark.parametrize(
    ("language", "loinc", "korean", "name"),
    [
        ("en", "8310-5", "체온", "Body temperature"),
        ("en", "29463-7", "체중", "Weight"),
        ("ko", "29463-7", "체중", "체중"),
    ],
)
def test_vital_sign_named_in_readers_language(client, synced, language, loinc, korean, name):
    record = Record.objects.filter(patient=synced, code_value=loinc).first()
    assert record.display == korean  # as the Korean hospital sent it
    client.post("/i18n/setlang/", {"language": language})
    login(client, synced.email)

    detail = client.get(f"/records/r/{record.code}/").content.decode()
    timeline = client.get("/records/c/vital/").content.decode()

    assert f"<h1>{name}</h1>" in detail
    assert f'<span class="record-title">{name}</span>' in timeline
    if language == "en":
        assert f'<span class="record-title">{korean}</span>' not in timeline

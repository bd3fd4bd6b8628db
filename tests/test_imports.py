"""Importing a FHIR file through the page and the API: a file (or its resources) already
imported is recognised and never counted twice; a file about someone else, or about nobody, is
shown for what it is and stored only once the patient confirms (and that is audited).

Real files: Synthea bundles, and Synthea's hospitalInformation file (102 Organizations, no
Patient). The cast's patient is 김민준; `luigi` is an account verified as the Synthea patient
Luigi Wiegand, born 2020-10-20, so that his own file matches.
"""

import collections
import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import Action, AuditEvent
from institutions.models import RunStatus, Source, SyncRun, Upload
from records.models import Record
from tests.conftest import _verified, login, run_to_end
from tests.factories import UserFactory
from tests.test_sources_web import api_token

FIXTURES = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
LUIGI = FIXTURES / "Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json"
NOBODY = FIXTURES / "hospitalInformation1559319163815.json"
pytestmark = pytest.mark.django_db


@pytest.fixture
def luigi(db):
    user = UserFactory(email="luigi@example.org")
    return _verified(user, "Luigi Wiegand", dt.date(2020, 10, 20), "010-2020-1020", "male")


def post_file(client, path_or_name, data=None, **fields):
    name = getattr(path_or_name, "name", path_or_name)
    data = path_or_name.read_bytes() if data is None else data
    return client.post("/sources/import/", {"file": SimpleUploadedFile(name, data), **fields})


def imported(response) -> Source:
    """The source an accepted upload redirected to, imported to the end by the run."""
    assert response.status_code == 302, response.content.decode()[:3000]
    source = Source.objects.get(code=response["Location"].split("/")[2])
    assert run_to_end(source.runs.get()).status == RunStatus.SUCCEEDED
    return source


def luigi_resources() -> list[dict]:
    return [e["resource"] for e in json.loads(LUIGI.read_text())["entry"]]


def export_keys(client) -> collections.Counter:
    bundle = json.loads(b"".join(client.get("/records/export/fhir/").streaming_content))
    return collections.Counter(
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
    )


def text(response) -> str:
    """The page's words, tags removed and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- 14. The same file twice ----------------------------------------------------------------


def dashboard_counts(client) -> str:
    """The dashboard's "records by kind", as shown."""
    page = client.get("/dashboard/").content.decode()
    return re.search(r'<ul class="compact counts">.*?</ul>', page, re.DOTALL).group(0)


def test_import_same_file_twice_is_recognised_and_nothing_doubles(client, luigi):
    login(client, luigi.email)
    first = imported(post_file(client, LUIGI))
    stored = Record.objects.filter(patient=luigi).count()
    counts = dashboard_counts(client)
    assert re.search(r">\d+</strong>", counts)  # the counts by kind are there to compare
    assert stored == 61 - first.runs.get().invalid

    again = post_file(client, LUIGI)

    assert again.status_code == 200
    when = timezone.localtime(first.created).strftime("%Y-%m-%d")
    assert f"You already imported this file on {when}" in text(again)
    assert LUIGI.name in text(again)
    assert Source.objects.filter(patient=luigi).count() == 1  # nothing stored yet

    # "Import it anyway": a second source, and not one record stored twice.
    alongside = imported(post_file(client, LUIGI, decision="import"))
    run = alongside.runs.get()
    assert (run.created_count, run.unchanged) == (0, stored)
    assert Record.objects.filter(patient=luigi).count() == stored
    assert dashboard_counts(client) == counts
    assert set(export_keys(client).values()) == {1}


def test_import_same_file_again_can_replace_the_earlier_import(client, luigi):
    login(client, luigi.email)
    first = imported(post_file(client, LUIGI))
    stored = Record.objects.filter(patient=luigi).count()

    replacement = imported(post_file(client, LUIGI, decision="replace"))

    first.refresh_from_db()
    assert first.status == "unlinked"
    assert not Record.objects.filter(source=first).exists()
    assert Record.objects.filter(source=replacement).count() == stored
    assert Record.objects.filter(patient=luigi).count() == stored
    assert AuditEvent.objects.filter(action=Action.SOURCE_PURGED, object_id=str(first.pk)).exists()


def test_import_resources_already_imported_from_another_file_are_not_stored_twice(client, luigi):
    """The same resources in another file (NDJSON this time, other bytes): recognised, and only
    the resources PHR does not hold yet are stored."""
    login(client, luigi.email)
    first = imported(post_file(client, LUIGI))
    stored = Record.objects.filter(patient=luigi).count()
    extra = {
        "resourceType": "Observation",
        "id": "new-weight",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": "Weight"},
        "subject": {"reference": "urn:uuid:1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06"},
        "effectiveDateTime": "2021-01-05T10:00:00+00:00",
        "valueQuantity": {"value": 9.5, "unit": "kg"},
    }
    data = "\n".join(json.dumps(r) for r in [*luigi_resources(), extra]).encode()

    review = post_file(client, "luigi.ndjson", data)

    assert review.status_code == 200
    when = timezone.localtime(first.created).strftime("%Y-%m-%d")
    assert (
        f"{stored} of the 62 records in this file are already in PHR, from {LUIGI.name} "
        f"(imported on {when})"
    ) in text(review)
    second = imported(post_file(client, "luigi.ndjson", data, decision="import"))
    assert second.runs.get().created_count == 1
    assert Record.objects.filter(patient=luigi).count() == stored + 1
    assert set(export_keys(client).values()) == {1}


def test_api_import_same_file_twice_is_409_until_decided(client, luigi, password):
    headers = api_token(client, luigi, password)

    def send(**fields):
        upload = SimpleUploadedFile(LUIGI.name, LUIGI.read_bytes())
        return client.post("/api/v1/imports/", {"file": upload, **fields}, headers=headers)

    first = send()
    assert first.status_code == 202
    source = Source.objects.get(code=first.json()["id"])
    run_to_end(source.runs.get())

    again = send()

    assert again.status_code == 409
    body = again.json()
    assert body["already_imported"] == [
        {"id": str(source.code), "name": LUIGI.name, "imported_at": source.created.isoformat()}
    ]
    assert body["identity"]["status"] == "match"
    assert body["records_already_stored"] == Record.objects.filter(source=source).count()
    assert Source.objects.filter(patient=luigi).count() == 1
    replaced = send(decision="replace")
    assert replaced.status_code == 202
    source.refresh_from_db()
    assert source.status == "unlinked"


# --- 15. Whose file is it? ------------------------------------------------------------------


def test_import_of_someone_elses_file_shows_the_mismatch_and_stores_nothing(client, patient):
    login(client, patient.email)

    review = post_file(client, LUIGI)

    assert review.status_code == 200
    words = text(review)
    assert "This file is about someone other than you." in words
    assert "In the file: Luigi Wiegand, born 2020-10-20" in words
    assert "Your verified identity: 김민준, born 1962-03-15" in words
    assert not Source.objects.exists()
    assert not Upload.objects.exists()
    assert not SyncRun.objects.exists()
    assert not Record.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.RECORDS_IMPORTED).exists()

    source = imported(post_file(client, LUIGI, confirm="on"))

    assert Record.objects.filter(source=source).count() > 0
    event = AuditEvent.objects.get(action=Action.IMPORT_CONFIRMED)
    assert event.patient_id == patient.pk
    assert event.extra == {"identity": "mismatch", "people": 1}


def test_import_with_the_same_name_but_another_birth_date_is_a_mismatch(client, db):
    user = _verified(
        UserFactory(email="l2@example.org"), "Luigi Wiegand", dt.date(2020, 10, 21), "01011", "male"
    )
    login(client, user.email)

    review = post_file(client, LUIGI)

    assert review.status_code == 200
    assert "In the file: Luigi Wiegand, born 2020-10-20" in text(review)
    assert "Your verified identity: Luigi Wiegand, born 2020-10-21" in text(review)
    assert not Source.objects.exists()


def test_import_of_ones_own_file_needs_no_confirmation(client, luigi):
    login(client, luigi.email)
    source = imported(post_file(client, LUIGI))
    assert source.label == LUIGI.name
    assert not AuditEvent.objects.filter(action=Action.IMPORT_CONFIRMED).exists()


def test_import_of_a_file_that_names_nobody_is_reported(client, patient, password):
    login(client, patient.email)

    review = post_file(client, NOBODY)

    assert review.status_code == 200
    assert (
        "This file does not say whose records it holds: it has no Patient. "
        "It holds 102 records: 102 Organization."
    ) in text(review)
    assert not Source.objects.exists()
    headers = api_token(client, patient, password)
    upload = SimpleUploadedFile(NOBODY.name, NOBODY.read_bytes())
    api = client.post("/api/v1/imports/", {"file": upload}, headers=headers)
    assert api.status_code == 409
    assert api.json()["identity"] == {
        "status": "nobody",
        "people": [],
        "account": {"name": "김민준", "birth_date": "1962-03-15"},
    }
    assert not Source.objects.exists()

    confirmed = imported(post_file(client, NOBODY, confirm="on"))

    assert Record.objects.filter(source=confirmed, resource_type="Organization").count() == 102
    assert AuditEvent.objects.get(action=Action.IMPORT_CONFIRMED).extra == {
        "identity": "nobody",
        "people": 0,
    }


def test_api_import_of_someone_elses_file_is_409_then_confirmed(client, patient, password):
    headers = api_token(client, patient, password)

    def send(**fields):
        upload = SimpleUploadedFile(LUIGI.name, LUIGI.read_bytes())
        return client.post("/api/v1/imports/", {"file": upload, **fields}, headers=headers)

    refused = send()

    assert refused.status_code == 409
    assert refused.json()["identity"] == {
        "status": "mismatch",
        "people": [{"name": "Luigi Wiegand", "birth_date": "2020-10-20"}],
        "account": {"name": "김민준", "birth_date": "1962-03-15"},
    }
    assert refused.json()["already_imported"] == []
    assert not Source.objects.exists()
    accepted = send(confirm="true")
    assert accepted.status_code == 202
    assert AuditEvent.objects.filter(action=Action.IMPORT_CONFIRMED).count() == 1


# --- What was stored before the review -------------------------------------------------------


def test_migration_removes_duplicates_imported_before_the_review(luigi):
    """A patient who imported the same file twice before this fix: the data migration gives the
    old sources their file hash, keeps each resource once and names the care plans."""
    import importlib

    from django.apps import apps

    from tests.records_data import import_resources

    migration = importlib.import_module(
        "records.migrations.0004_uploads_deduplicated_and_plans_named"
    )
    first = import_resources(luigi, LUIGI.name, luigi_resources())
    stored = Record.objects.filter(source=first).count()
    # The second import as it was stored before the review: a copy of every record.
    second = Source.objects.create(patient=luigi, kind="upload", label=LUIGI.name)
    Upload.objects.create(source=second, data=LUIGI.read_bytes(), size=LUIGI.stat().st_size)
    Record.objects.bulk_create(
        Record(**{**row, "source": second})
        for row in Record.objects.filter(source=first).values(
            "patient_id",
            "resource_type",
            "resource_id",
            "category",
            "display",
            "content_hash",
            "resource",
            "effective",
        )
    )
    plan = Record.objects.create(
        patient=luigi,
        source=second,
        resource_type="CarePlan",
        resource_id="old-plan",
        category="other",
        content_hash="x",
        display="",
        resource={
            "resourceType": "CarePlan",
            "id": "old-plan",
            "category": [{"text": "Self care"}],
        },
    )
    assert Record.objects.filter(patient=luigi).count() == 2 * stored + 1

    migration.backfill_file_hashes(apps, None)
    migration.drop_duplicate_upload_records(apps, None)
    migration.name_plans_and_goals(apps, None)

    assert Record.objects.filter(patient=luigi).count() == stored + 1
    assert Record.objects.filter(source=first).count() == stored
    second.refresh_from_db()
    assert second.file_hash == hashlib.sha256(LUIGI.read_bytes()).hexdigest()
    plan.refresh_from_db()
    assert plan.display == "Self care"


@pytest.mark.django_db(transaction=True)
def test_import_same_file_sent_twice_at_once_makes_one_source(luigi):
    """A double click (or two tabs): two uploads of the same file at the same moment, each on
    its own database connection. One is imported; the other is told it is already there."""
    import threading

    from django.db import connection

    from institutions import domain

    data = LUIGI.read_bytes()
    barrier = threading.Barrier(2)
    outcomes = []

    def upload():
        try:
            barrier.wait()
            domain.import_file(patient=luigi, filename=LUIGI.name, data=data)
            outcomes.append("imported")
        except domain.ImportNeedsConfirmation as exc:
            outcomes.append("already" if exc.review.same_file else "?")
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already", "imported"]
    assert Source.objects.filter(patient=luigi).count() == 1


def test_import_review_names_at_most_ten_people(client, patient):
    """The HL7 spec's 22 example Patients in one NDJSON file: ten are named, the rest counted."""
    examples = sorted((FIXTURES.parent / "hl7-r4-examples").glob("Patient-*.json"))
    data = "\n".join(json.dumps(json.loads(p.read_text())) for p in examples).encode()
    login(client, patient.email)

    review = post_file(client, "patients.ndjson", data)

    assert review.status_code == 200
    people = len(re.findall(r"<li>In the file: ", review.content.decode()))
    assert people == 10
    assert f"and {len(examples) - 10} more people" in text(review)
    assert not Source.objects.exists()


# --- An uploaded resource about another patient (H11) -------------------------------------

LUIGI_ID = "1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06"


def _stranger_observation(reference: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": "someone-elses-weight",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": "Weight"},
        "subject": {"reference": reference},
        "effectiveDateTime": "2021-01-05T10:00:00+00:00",
        "valueQuantity": {"value": 70.5, "unit": "kg"},
    }


@pytest.mark.parametrize("reference", ["Patient/SOMEONE-ELSE", "urn:uuid:SOMEONE-ELSE"])
def test_import_refuses_a_resource_about_another_patient_than_the_files(
    client, luigi, password, reference
):
    """The file's Patient is the account's (no review), but one Observation names someone else:
    it is refused as an other_patient issue of the run and stored nowhere."""
    bundle = json.loads(LUIGI.read_text())
    bundle["entry"].append({"resource": _stranger_observation(reference)})
    login(client, luigi.email)

    source = imported(post_file(client, "luigi-plus.json", json.dumps(bundle).encode()))

    run = source.runs.get()
    assert not Record.objects.filter(resource_id="someone-elses-weight").exists()
    issue = run.issues.get(resource_id="someone-elses-weight")
    assert (issue.code, issue.params) == ("other_patient", {"element": "Observation.subject"})
    assert Record.objects.filter(source=source).count() == 61 - (run.invalid - 1)
    headers = api_token(client, luigi, password)
    listed = client.get("/api/v1/records/?page_size=200", headers=headers)
    assert listed.status_code == 200
    assert "someone-elses-weight" not in listed.content.decode()
    assert ("Observation", "someone-elses-weight") not in export_keys(client)


@pytest.mark.parametrize("ndjson", [False, True])
def test_import_of_a_synthea_file_keeps_every_resource_of_its_patient(client, luigi, ndjson):
    """The owner set is the file's Patient and its urn:uuid fullUrl: every Synthea resource
    (subject/patient = urn:uuid:<id>) is stored, nothing is refused as another patient's."""
    data = LUIGI.read_bytes()
    if ndjson:
        data = "\n".join(json.dumps(r) for r in luigi_resources()).encode()
    login(client, luigi.email)

    source = imported(post_file(client, "luigi.ndjson" if ndjson else LUIGI.name, data))

    run = source.runs.get()
    assert not run.issues.filter(code="other_patient").exists()
    assert (run.fetched, run.created_count, run.invalid) == (61, 61, 0)
    assert Record.objects.filter(source=source).count() == 61


def _nested(depth: int) -> dict:
    extension = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(depth):
        extension = {"url": "http://example.org/level", "extension": [extension]}
    return extension


def test_a_file_nested_too_deep_to_hash_is_reported_not_a_500(client, patient):
    """Deeper than orjson writes back (255), within what the parser reads: the import answers
    (QA: a 500 from the check for resources already imported), the resource is refused with
    its reason and the rest is stored."""
    deep = {
        "resourceType": "Observation",
        "id": "deep",
        "status": "final",
        "code": {"text": "x"},
        "extension": [_nested(300)],
    }
    ok = {"resourceType": "Observation", "id": "ok", "status": "final", "code": {"text": "y"}}
    data = "\n".join(json.dumps(r) for r in (deep, ok)).encode()
    login(client, patient.email)

    review = post_file(client, "deep.ndjson", data)
    assert review.status_code == 200
    source = imported(post_file(client, "deep.ndjson", data, confirm="on"))

    assert set(Record.objects.filter(source=source).values_list("resource_id", flat=True)) == {"ok"}
    issue = source.runs.get().issues.get()
    assert issue.resource_id == "deep"


def test_a_nul_character_in_a_resource_is_refused_with_its_place(client, patient):
    """U+0000 is valid JSON but no text column holds it (PostgreSQL refuses it): that resource
    is refused and named, the rest of the file stored."""
    nul = {
        "resourceType": "MedicationRequest",
        "id": "nul",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "amlodipine"},
        "dosageInstruction": [{"text": "하루\u00001회"}],
    }
    ok = {"resourceType": "Observation", "id": "ok", "status": "final", "code": {"text": "y"}}
    data = "\n".join(json.dumps(r) for r in (nul, ok)).encode()
    login(client, patient.email)

    source = imported(post_file(client, "nul.ndjson", data, confirm="on"))

    assert set(Record.objects.filter(source=source).values_list("resource_id", flat=True)) == {"ok"}
    issue = source.runs.get().issues.get()
    assert (issue.resource_id, issue.display) == ("nul", "amlodipine")
    page = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "dosageInstruction[0].text holds a NUL character" in page


def test_a_lone_surrogate_makes_the_file_unreadable_not_a_500(client, patient):
    """JSON may escape half of a UTF-16 pair ("\\ud800"): not text, and no page can write it
    (QA: the import's review page answered 500). The file is refused with a message; an
    escaped pair (an emoji) is text and is read."""
    login(client, patient.email)
    start = b'{"resourceType": "Observation", "id": "x", "status": "final", "code": {"text": '
    lone = start + b'"a\\ud800b"}}'
    response = post_file(client, "lone.json", lone)
    assert response.status_code == 200
    assert not Source.objects.exists()

    pair = start + b'"\\ud83d\\ude00"}}'
    source = imported(post_file(client, "pair.json", pair, confirm="on"))
    assert Record.objects.get(source=source).display == "\U0001f600"


# --- Hostile files (second QA pass): each is answered, the rest of the file is stored ---------


def _ndjson(*resources) -> bytes:
    return "\n".join(json.dumps(r) for r in resources).encode()


OK_OBSERVATION = {
    "resourceType": "Observation",
    "id": "ok",
    "status": "final",
    "code": {"text": "y"},
}


def test_a_nul_in_a_refused_resources_name_is_reported_without_it(client, patient):
    """The name a refused resource is listed by is text too (QA: PostgreSQL refused the
    issue row and the whole import failed)."""
    nul = {
        "resourceType": "MedicationRequest",
        "id": "nul-name",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "amlo\u0000dipine"},
    }
    login(client, patient.email)

    source = imported(post_file(client, "nul.ndjson", _ndjson(nul, OK_OBSERVATION), confirm="on"))

    assert set(Record.objects.filter(source=source).values_list("resource_id", flat=True)) == {"ok"}
    issue = source.runs.get().issues.get()
    assert (issue.resource_id, issue.display) == ("nul-name", "amlo\ufffddipine")
    page = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "medicationCodeableConcept.text holds a NUL character" in page


@pytest.mark.parametrize("where", ["resource", "patient"])
def test_a_nul_in_an_id_is_refused_not_a_500(client, patient, password, where):
    """QA: a NUL in a resource's id, or in the file's Patient's id, answered 500 (the check
    for resources already imported sent it to PostgreSQL)."""
    person = {"resourceType": "Patient", "id": "p\u0000" if where == "patient" else "p"}
    odd = dict(OK_OBSERVATION, id="a\u0000b" if where == "resource" else "odd")
    data = _ndjson(person, odd, dict(OK_OBSERVATION, subject={"reference": "Patient/p"}))
    login(client, patient.email)

    review = post_file(client, "nul-id.ndjson", data)
    assert review.status_code == 200
    source = imported(post_file(client, "nul-id.ndjson", data, confirm="on"))
    refused = {i.resource_type: i.params for i in source.runs.get().issues.all()}
    nul_one = "Patient" if where == "patient" else "Observation"
    assert refused[nul_one]["problems"][0]["error"] == "nul"
    # The rest is stored (with the Patient refused, "Patient/p" names someone else).
    kept = {"resource": {"p", "ok"}, "patient": {"odd"}}[where]
    assert set(Record.objects.filter(source=source).values_list("resource_id", flat=True)) == kept

    headers = api_token(client, patient, password)
    upload = SimpleUploadedFile("nul-id.ndjson", data)
    api = client.post("/api/v1/imports/", {"file": upload, "confirm": "true"}, headers=headers)
    assert api.status_code in (202, 409), api.content[:500]


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_make_a_file_unreadable_not_a_500(client, patient, password, constant):
    data = (
        b'{"resourceType": "Observation", "id": "x", "status": "final", "code": {"text": "t"},'
        b' "valueQuantity": {"value": ' + constant + b"}}"
    )
    login(client, patient.email)
    response = post_file(client, "nan.json", data)
    assert response.status_code == 200
    assert "FHIR" in response.content.decode()
    assert not Source.objects.exists()

    headers = api_token(client, patient, password)
    api = client.post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("nan.json", data)}, headers=headers
    )
    assert api.status_code == 400
    assert not Source.objects.exists()


@pytest.mark.parametrize(
    "number", [b"1e131072", b"-1.5E+131072", b"1.5e-16384", b"1." + b"1" * 16384, b"1" * 131073]
)
def test_a_number_beyond_what_a_database_holds_is_refused_with_its_place(client, patient, number):
    """1e131072 is a valid FHIR decimal, but PostgreSQL's numeric (jsonb's numbers) ends at
    1e131071 (QA: the whole import failed). That resource is refused and named, on every
    database; the rest of the file is stored, and a number just in range is kept as sent."""
    huge = dict(OK_OBSERVATION, id="huge", valueQuantity={"value": 1, "unit": "mg"})
    fine = dict(OK_OBSERVATION, id="fine", valueQuantity={"value": 2, "unit": "mg"})
    data = (
        _ndjson(huge, fine, OK_OBSERVATION)
        .replace(b'"value": 1,', b'"value": ' + number + b",")
        .replace(b'"value": 2,', b'"value": 1e131071,')
    )
    login(client, patient.email)

    source = imported(post_file(client, "huge.ndjson", data, confirm="on"))

    stored = dict(Record.objects.filter(source=source).values_list("resource_id", "resource"))
    assert set(stored) == {"ok", "fine"}
    assert stored["fine"]["valueQuantity"]["value"] == Decimal("1e131071")
    issue = source.runs.get().issues.get()
    assert issue.resource_id == "huge"
    page = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "valueQuantity.value holds a number too large or too precise" in page

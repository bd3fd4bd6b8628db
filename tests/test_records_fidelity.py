"""Data fidelity with real FHIR files (issue 14, items 8, 10, 12, 13): blood pressure picked by
component code, every reference that resolved in what we received resolving in what we give out
(export, summary document, SMART Health Link Bundle) with one Patient entry, and decimals keeping
the digits they were sent with. The Synthea patients are imported through the real pipeline."""

import base64
import datetime as dt
import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from django.template.defaultfilters import floatformat
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from jwcrypto import jwe, jwk

from core.access import Actor
from institutions import domain, sync
from institutions.models import RunTrigger
from records.models import Record
from sharing import domain as sharing_domain
from tests.conftest import onboard, run_to_end

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
SYNTHEA = sorted(
    p for p in (FIXTURES / "synthea").glob("*.json") if not p.name.startswith("hospital")
)
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
BP_PANELS, GLUCOSE = {"85354-9", "55284-4"}, {"2345-7", "2339-0"}


def import_file(patient, path: Path):
    """The file as the patient uploads it, imported by the real run code."""
    source = domain.import_file(
        patient=patient, filename=path.name, data=path.read_bytes(), identity_confirmed=True
    )
    assert sync.execute_run(run_id=source.runs.get().pk) == "succeeded"
    return source


def synthea_id(path: Path) -> str:
    return path.stem.split("_")[0]


def codes(concept) -> set[str]:
    return {c.get("code") for c in (concept or {}).get("coding", [])}


# --- 10. Blood pressure by component code ------------------------------------------------------


def blood_pressures(path: Path) -> dict[str, tuple[float, float]]:
    """{observation id: (systolic, diastolic)} read from the file by component code."""
    found = {}
    for entry in json.loads(path.read_bytes())["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation" or not codes(resource["code"]) & BP_PANELS:
            continue
        values = {
            code: component["valueQuantity"]["value"]
            for component in resource["component"]
            for code in codes(component["code"])
        }
        found[resource["id"]] = (values[SYSTOLIC], values[DIASTOLIC])
    return found


@pytest.mark.parametrize("path", SYNTHEA, ids=synthea_id)
def test_blood_pressure_is_systolic_over_diastolic_by_code(client, patient, path):
    expected = blood_pressures(path)
    assert expected  # every Synthea patient has blood pressures, diastolic listed first
    source = import_file(patient, path)
    client.force_login(patient)

    stored = {
        r.resource_id: (r.value_num, r.value_num2)
        for r in Record.objects.filter(source=source, resource_id__in=expected)
    }
    assert stored == expected
    assert all(systolic > diastolic for systolic, diastolic in stored.values())

    api = client.get("/api/v1/records/", {"category": "vital", "page_size": 500}).json()
    from_api = {
        r["resource_id"]: (r["value"], r["value2"])
        for r in api["results"]
        if r["resource_id"] in expected
    }
    assert from_api == expected

    latest = (
        Record.objects.filter(source=source, resource_id__in=expected)
        .order_by("-effective", "-id")
        .first()
    )
    systolic, diastolic = expected[latest.resource_id]
    shown = f"{floatformat(systolic, '-1')}/{floatformat(diastolic, '-1')} mmHg"
    assert shown in client.get("/dashboard/").content.decode()

    vitals = client.get("/records/vitals/").content.decode()
    for systolic, diastolic in expected.values():
        assert f"{floatformat(systolic, '-2')}/{floatformat(diastolic, '-2')} mmHg" in vitals

    _share, token = make_share(patient, categories=["vital"])
    recipient = client.__class__()
    assert recipient.post(f"/s/{token}/", {"name": "Dr. Kim"}).status_code == 302
    shared = recipient.get(f"/s/{token}/c/vital/").content.decode()
    for systolic, diastolic in expected.values():
        assert f"{floatformat(systolic, '-2')}/{floatformat(diastolic, '-2')} mmHg" in shared


def make_share(patient, **fields):
    from tests.factories import make_share as factory

    return factory(patient, **fields)


def test_vitals_page_charts_blood_pressure_and_glucose_under_any_loinc_code(client, patient):
    # Micah Schinner's hospital codes glucose 2339-0 and blood pressure 55284-4.
    path = FIXTURES / "synthea" / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json"
    resources = [e["resource"] for e in json.loads(path.read_bytes())["entry"]]
    glucose = [
        r["valueQuantity"]["value"]
        for r in resources
        if r["resourceType"] == "Observation" and codes(r["code"]) & GLUCOSE
    ]
    assert len(glucose) == 6
    import_file(patient, path)
    client.force_login(patient)

    page = client.get("/records/vitals/").content.decode()
    sections = dict(
        re.findall(r'<h2 id="vital-\d+">([^<]+?) <span.*?</h2>(.*?)</section>', page, re.S)
    )
    assert {"Blood pressure", "Glucose"} <= set(sections)
    assert sections["Blood pressure"].count("<tr><td>") == len(blood_pressures(path))
    assert sections["Glucose"].count("<tr><td>") == len(glucose)
    for value in glucose:
        assert f"{floatformat(value, '-2')} mg/dL" in sections["Glucose"]


# --- 12 and 8. References resolve; one Patient entry --------------------------------------------

RELATIVE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.+)?$")
RESTFUL = re.compile(r"^(?P<base>https?://.+)/[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def references(node, path=""):
    """(path, reference) for every Reference.reference in a resource."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node["reference"]
        for key, value in node.items():
            yield from references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from references(value, f"{path}[{index}]")


def resolution(bundle) -> dict[tuple, str | None]:
    """{(type, id, path): the fullUrl the reference resolves to, or None}, following the FHIR R4
    rules for references in a Bundle (bundle.html#references), written here from the spec:
    an absolute reference (URL or URN) matches an entry's fullUrl; a relative `Type/id` is
    resolved against the base of the referring entry's fullUrl when that is a RESTful URL, and
    has no defined meaning otherwise. Fragment (#contained) and conditional (`Type?…`, which a
    transaction resolves on the server) references are not Bundle references and are skipped."""
    full_urls = {e["fullUrl"] for e in bundle["entry"] if "fullUrl" in e}
    found = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for path, reference in references(resource):
            if reference.startswith("#") or "?" in reference:
                continue
            if match := RELATIVE.match(reference):
                base = RESTFUL.match(entry.get("fullUrl", ""))
                target = f"{base['base']}/{match['type']}/{match['id']}" if base else None
            else:
                target = reference.split("/_history/")[0]
            key = (resource["resourceType"], resource.get("id"), path)
            found[key] = target if target in full_urls else None
    return found


def the_patient_entry(bundle, patient) -> dict:
    """The one Patient entry every patient reference points at: the patient as verified."""
    ours = [e for e in bundle["entry"] if e["fullUrl"] == f"urn:uuid:{patient.code}"]
    assert len(ours) == 1
    resource = ours[0]["resource"]
    profile = patient.profile
    assert resource["resourceType"] == "Patient"
    assert resource["name"] == [{"text": profile.full_name}]
    assert resource["birthDate"] == profile.birth_date.isoformat()
    assert resource["gender"] == profile.sex
    return ours[0]


def patient_references(resolved: dict, bundle, patient) -> dict:
    """The references to a Patient entry, but for the one Patient's links to the patient's
    record at each source (kept as received)."""
    types = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
    return {
        key: url
        for key, url in resolved.items()
        if url and types[url] == "Patient" and key[:2] != ("Patient", str(patient.code))
    }


@pytest.mark.parametrize("path", SYNTHEA, ids=synthea_id)
def test_export_resolves_every_reference_the_file_resolved(client, patient, path):
    received = json.loads(path.read_bytes())
    before = {key for key, url in resolution(received).items() if url}
    assert len(before) > 100
    import_file(patient, path)
    client.force_login(patient)

    response = client.get("/records/export/fhir/")
    bundle = json.loads(b"".join(response.streaming_content))
    after = resolution(bundle)

    dangling = sorted(key for key in before if not after.get(key))
    assert (len(dangling), dangling[:3]) == (0, [])
    ours = the_patient_entry(bundle, patient)
    subjects = patient_references(after, bundle, patient)
    assert subjects
    assert set(subjects.values()) == {ours["fullUrl"]}
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])
    get_fhir_model_class("Bundle").model_validate(bundle)


def test_summary_document_resolves_its_references(client, patient):
    path = FIXTURES / "synthea" / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json"
    received = {key for key, url in resolution(json.loads(path.read_bytes())).items() if url}
    import_file(patient, path)
    client.force_login(patient)

    document = json.loads(b"".join(client.get("/records/summary/fhir/").streaming_content))
    after = resolution(document)
    composition = document["entry"][0]["resource"]
    listed = [k for k in after if k[0] == "Composition" and ".section" in k[2]]
    assert len(listed) >= 10
    assert all(after[k] for k in listed)
    inside = [k for k in after if k[0] != "Composition"]
    dangling = sorted(k for k in inside if k in received and not after[k])
    assert (len(inside) > 20, len(dangling), dangling[:3]) == (True, 0, [])
    ours = the_patient_entry(document, patient)
    assert composition["subject"] == {"reference": ours["fullUrl"]}
    assert set(patient_references(after, document, patient).values()) == {ours["fullUrl"]}
    get_fhir_model_class("Bundle").model_validate(document)


def shl_plaintext(share) -> bytes:
    """The SMART Health Link's file, decrypted with the key from the shlink (as a viewer does)."""
    encoded = share.shlink.removeprefix("shlink:/")
    key = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))["key"]
    token = jwe.JWE()
    token.deserialize(share.shl_file, key=jwk.JWK(kty="oct", k=key))
    return token.payload


def create_shl(patient, categories):
    share, _token = sharing_domain.create_share(
        actor=Actor.patient(patient),
        label="Dr. Kim",
        purpose="",
        categories=categories,
        sources=[],
        date_from=None,
        date_to=None,
        expires_at=timezone.now() + dt.timedelta(days=1),
        passcode="",
        allow_download=True,
        notify_on_open=False,
        base_url="http://testserver",
    )
    return share


def test_shl_bundle_names_the_patient_and_resolves_patient_references(patient):
    path = FIXTURES / "synthea" / "Ossie_Rodriguez_d7ec3d8f-7be8-4a94-a20c-e694f7bfdb80.json"
    import_file(patient, path)
    share = create_shl(patient, ["lab", "vital"])

    bundle = json.loads(shl_plaintext(share))
    resolved = resolution(bundle)
    ours = the_patient_entry(bundle, patient)
    subjects = [k for k in resolved if k[2] == ".subject"]
    assert len(subjects) == len(bundle["entry"]) - 1  # every observation names its patient
    assert {resolved[k] for k in subjects} == {ours["fullUrl"]}
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Patient") == 1
    # A link between two shared records (a lab report to its results) resolves; a link to a
    # record outside the scope (the visit) cannot, the record not being shared.
    received = resolution(json.loads(path.read_bytes()))
    shared_ids = {e["resource"]["id"] for e in bundle["entry"]}
    within = [
        key
        for key, url in received.items()
        if key[1] in shared_ids and url and url.removeprefix("urn:uuid:") in shared_ids
    ]
    assert len(within) == 22  # DiagnosticReport.result links in Ossie Rodriguez's file
    assert sorted(key for key in within if not resolved.get(key)) == []


def test_shared_bundles_hold_no_reference_to_what_was_not_shared(client, patient):
    """A share of labs and vitals: the visits its results were taken at are outside the scope.
    In the SMART Health Link's file and the recipient's download every reference resolves in
    the Bundle; the ones to unshared records are withheld, keeping their words."""
    from tests.factories import make_share

    path = FIXTURES / "synthea" / "Ossie_Rodriguez_d7ec3d8f-7be8-4a94-a20c-e694f7bfdb80.json"
    import_file(patient, path)
    shl = create_shl(patient, ["lab", "vital"])
    _share, token = make_share(patient, categories=["lab", "vital"], allow_download=True)
    client.post(f"/s/{token}/", {"name": "Dr. Kim"})
    download = client.get(f"/s/{token}/download/")
    assert download.status_code == 200

    for bundle in (
        json.loads(shl_plaintext(shl)),
        json.loads(b"".join(download.streaming_content)),
    ):
        resolved = resolution(bundle)
        assert sorted(key for key, url in resolved.items() if url is None) == []
        withheld = [
            node
            for entry in bundle["entry"]
            for node in [entry["resource"].get("encounter")]
            if isinstance(node, dict)
        ]
        observations = [
            e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
        ]
        # Every Synthea observation (and lab report) names its visit; no visit was shared.
        assert len(withheld) >= len(observations) > 0
        assert {tuple(node) for node in withheld} == {("display",)}
        assert {node["display"] for node in withheld} == {"Not included in this share"}


def test_export_gives_one_patient_entry_for_patient_references_from_every_source(client, patient):
    for path in SYNTHEA[:2]:
        import_file(patient, path)
    client.force_login(patient)
    bundle = json.loads(b"".join(client.get("/records/export/fhir/").streaming_content))
    resolved = resolution(bundle)
    ours = the_patient_entry(bundle, patient)
    assert set(patient_references(resolved, bundle, patient).values()) == {ours["fullUrl"]}


# --- 13. Decimals keep their digits ------------------------------------------------------------

DECIMAL_FILE = FIXTURES / "hl7-r4-examples" / "Observation-decimal.json"


def observation_125(rid="glucose-125") -> bytes:
    # What a hospital sends: a glucose of 125.00 mg/dL, two decimals significant.
    return (
        f'{{"resourceType":"Observation","id":"{rid}","status":"final","category":[{{"coding":'
        '[{"system":"http://terminology.hl7.org/CodeSystem/observation-category",'
        '"code":"laboratory"}]}],'
        '"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},'
        '"effectiveDateTime":"2025-01-02","valueQuantity":{"value":125.00,"unit":"mg/dL"},'
        '"referenceRange":[{"low":{"value":70.0},"high":{"value":99.50}}]}'
    ).encode()


def values_text(data: bytes) -> list[str]:
    return re.findall(rb'"value":\s*(-?[0-9][0-9.eE+-]*)', data)


def test_decimals_keep_their_digits_through_import_storage_export_and_shl(client, patient):
    source = domain.import_file(
        patient=patient,
        filename="decimal.json",
        data=DECIMAL_FILE.read_bytes(),
        identity_confirmed=True,
    )
    assert sync.execute_run(run_id=source.runs.get().pk) == "succeeded"
    upload = domain.import_file(
        patient=patient, filename="glucose.json", data=observation_125(), identity_confirmed=True
    )
    assert sync.execute_run(run_id=upload.runs.get().pk) == "succeeded"

    record = Record.objects.get(resource_id="glucose-125")  # read back from the database
    assert str(record.resource["valueQuantity"]["value"]) == "125.00"
    assert str(record.resource["referenceRange"][0]["high"]["value"]) == "99.50"
    assert (record.value_num, record.unit) == (125.0, "mg/dL")
    components = Record.objects.get(resource_id="decimal").resource["component"]
    assert [str(c["valueQuantity"]["value"]) for c in components[:3]] == ["1.0", "1.00", "1.0"]
    # PostgreSQL's numeric writes exponents out in full: the same value and the same digits.
    assert [c["valueQuantity"]["value"] for c in components[3:]] == [
        Decimal("1E-22"),
        1000000000000000000,
        Decimal("1.000000000000000000E-245"),
        Decimal("-1.000000000000000000E+245"),
    ]

    client.force_login(patient)
    api = client.get(f"/api/v1/records/{record.code}/")
    assert (api.status_code, api.json()["value"]) == (200, 125.0)
    assert b'"value":125.00}' in api.content
    assert "&quot;value&quot;: 125.00" in client.get(f"/records/r/{record.code}/").content.decode()
    exported = b"".join(client.get("/records/export/fhir/").streaming_content)
    assert b'"value":125.00}' in exported
    assert b'"low":{"value":70.0}' in exported
    assert b'"value":99.50}' in exported
    assert values_text(exported).count(b"1.00") == 1
    summary = b"".join(client.get("/records/summary/fhir/").streaming_content)
    assert b'"value":125.00}' in summary

    share = create_shl(patient, ["lab"])
    plaintext = shl_plaintext(share)
    assert b'"value":125.00}' in plaintext
    assert b'"value":99.50}' in plaintext
    get_fhir_model_class("Bundle").model_validate(json.loads(plaintext, parse_float=Decimal))


def test_unchanged_decimals_are_unchanged_on_reimport(patient):
    upload = domain.import_file(
        patient=patient, filename="glucose.json", data=observation_125(), identity_confirmed=True
    )
    run = upload.runs.get()
    assert sync.execute_run(run_id=run.pk) == "succeeded"
    record = Record.objects.get(resource_id="glucose-125")

    again, _ = sync.request_sync(source=upload, trigger=RunTrigger.IMPORT)
    again = run_to_end(again)
    assert (again.unchanged, again.updated, again.created_count) == (1, 0, 0)
    assert Record.objects.get(pk=record.pk).content_hash == record.content_hash


def test_record_json_keeps_decimal_digits_on_sqlite_too():
    """The embedded default stores JSON as text in SQLite: the field's encoder and decoder must
    round-trip decimals as JSON numbers there as well."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    field = Record._meta.get_field("resource")
    wrapper = DatabaseWrapper({"NAME": ":memory:", **_sqlite_settings()})
    value = json.loads(observation_125(), parse_float=Decimal)
    stored = field.get_db_prep_save(value, wrapper)
    assert '"value":125.00' in stored.replace(" ", "")
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE t (resource text)")
    database.execute("INSERT INTO t VALUES (?)", (stored,))
    [(text,)] = database.execute("SELECT resource FROM t").fetchall()
    back = field.from_db_value(text, None, wrapper)
    assert str(back["valueQuantity"]["value"]) == "125.00"
    assert back == value


def _sqlite_settings():
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {},
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }


@pytest.mark.django_db(transaction=True)
def test_sync_keeps_decimal_digits_from_the_hospital(live_server, hospital, patient):
    from mockhospital import domain as mock

    patient_resource = {"resourceType": "Patient", "id": "dec-1"}
    observation = (
        observation_125()
        .decode()
        .replace('"status"', '"subject":{"reference":"Patient/dec-1"},"status"')
    )
    data = ("\n".join([json.dumps(patient_resource), observation])).encode()
    mock.load_file(institution=hospital, data=data, identifier=patient.profile.verified_identifier)
    institution = onboard(live_server, hospital)
    source = domain.link_institution(patient=patient, institution=institution)
    run = run_to_end(source.runs.get())
    assert run.status == "succeeded"
    record = Record.objects.get(source=source, resource_id="glucose-125")
    assert str(record.resource["valueQuantity"]["value"]) == "125.00"
    assert str(record.resource["referenceRange"][0]["high"]["value"]) == "99.50"

    # The hospital corrects the value: the re-sync's update keeps the new digits too.
    hospital.clock += dt.timedelta(days=1)
    hospital.save(update_fields=["clock"])
    corrected = data.replace(b"125.00", b"126.50")
    mock.load_file(
        institution=hospital, data=corrected, identifier=patient.profile.verified_identifier
    )
    again, _ = sync.request_sync(source=source, trigger=RunTrigger.PATIENT)
    again = run_to_end(again)
    assert (again.status, again.updated) == ("succeeded", 1)
    record.refresh_from_db()
    assert str(record.resource["valueQuantity"]["value"]) == "126.50"
    assert record.value_num == 126.5


@pytest.mark.django_db(transaction=True)
def test_synced_hospitals_export_and_shl_resolve_references_to_one_patient(
    client, live_server, hospital, patient
):
    """Two hospitals over real HTTP, each with its own id for the patient: in the export every
    reference that resolved in what the hospitals served still resolves, and every patient
    reference, from either hospital, points at the one Patient entry; the SHL Bundle too."""
    from mockhospital import domain as mock
    from tests.factories import MockInstitutionFactory

    clinic = MockInstitutionFactory(
        slug="pureun", hira_number="31100002", seed=2, patient_size=80, default_page_size=50
    )
    received = {"resourceType": "Bundle", "entry": []}
    for mock_hospital in (hospital, clinic):
        known = mock.register_patient(
            institution=mock_hospital, identifier=patient.profile.verified_identifier
        )
        institution = onboard(live_server, mock_hospital)
        source = domain.link_institution(patient=patient, institution=institution)
        assert run_to_end(source.runs.get()).status == "succeeded"
        base = institution.fhir_base_url.rstrip("/")
        received["entry"] += [  # as the hospital serves them: fullUrl = <base>/<type>/<id>
            {"fullUrl": f"{base}/{rtype}/{rid}", "resource": resource}
            for (rtype, rid), resource in mock.ground_truth(known).items()
        ]
    before = {key for key, url in resolution(received).items() if url}
    assert len(before) > 500
    client.force_login(patient)

    bundle = json.loads(b"".join(client.get("/records/export/fhir/").streaming_content))
    after = resolution(bundle)
    dangling = sorted(key for key in before if not after.get(key))
    assert (len(dangling), dangling[:3]) == (0, [])
    ours = the_patient_entry(bundle, patient)
    hospital_patients = [
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient" and e is not ours
    ]
    assert len(hospital_patients) == 2  # kept as received, linked from the one Patient
    assert [link["other"]["reference"] for link in ours["resource"]["link"]] == hospital_patients
    assert set(patient_references(after, bundle, patient).values()) == {ours["fullUrl"]}

    share = create_shl(patient, ["lab", "medication"])
    shared = json.loads(shl_plaintext(share))
    shared_refs = resolution(shared)
    ours = the_patient_entry(shared, patient)
    subjects = {k: v for k, v in shared_refs.items() if k[2] == ".subject"}
    assert len(subjects) == len(shared["entry"]) - 1
    assert set(subjects.values()) == {ours["fullUrl"]}


def _linked_bundle(value, conclusion) -> bytes:
    ids = {
        "patient": "0b6f1d3e-6a43-4a9e-9b1e-0c1f6a3d2e10",
        "obs": "5c2d8e4f-1b7a-4c3d-8e9f-2a1b3c4d5e6f",
        "report": "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b",
    }
    resources = [
        {"resourceType": "Patient", "id": ids["patient"], "name": [{"text": "김민준"}]},
        {
            "resourceType": "Observation",
            "id": ids["obs"],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": f"urn:uuid:{ids['patient']}"},
            "effectiveDateTime": "2025-01-02",
            "valueQuantity": {"value": value, "unit": "mg/dL"},
        },
        {
            "resourceType": "DiagnosticReport",
            "id": ids["report"],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": f"urn:uuid:{ids['patient']}"},
            "effectiveDateTime": "2025-01-02",
            "result": [{"reference": f"urn:uuid:{ids['obs']}"}],
            "conclusion": conclusion,
        },
    ]
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def test_export_disambiguates_two_uploads_with_the_same_fullurls(client, patient):
    """A corrected copy of a file (same ids, other values) imported beside the first: each
    copy's links lead to its own resources, and no fullUrl appears twice."""
    for name, value, conclusion in (("first.json", 105, "high"), ("second.json", 98, "normal")):
        source = domain.import_file(
            patient=patient,
            filename=name,
            data=_linked_bundle(value, conclusion),
            identity_confirmed=True,
            decision="import",
        )
        assert sync.execute_run(run_id=source.runs.get().pk) == "succeeded"
    client.force_login(patient)

    bundle = json.loads(b"".join(client.get("/records/export/fhir/").streaming_content))
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    reports = [r for r in by_url.values() if r["resourceType"] == "DiagnosticReport"]
    assert sorted(
        (r["conclusion"], by_url[r["result"][0]["reference"]]["valueQuantity"]["value"])
        for r in reports
    ) == [("high", 105), ("normal", 98)]
    ours = the_patient_entry(bundle, patient)
    assert {r["subject"]["reference"] for r in reports} == {ours["fullUrl"]}


HL7_BUNDLES = [
    "Bundle-bundle-references",
    "Bundle-101",
    "Bundle-ghp",
    "Bundle-micro",
    "Bundle-report",
]


@pytest.mark.parametrize("name", HL7_BUNDLES)
def test_export_resolves_the_hl7_example_bundles_references(client, patient, name):
    """The specification's own examples, with RESTful fullUrls (`http://example.org/fhir/…`),
    relative and absolute references: every reference that resolved in the file, between two
    resources PHR stored (a resource without an id is not stored), resolves in the export."""
    path = FIXTURES / "hl7-r4-examples" / f"{name}.json"
    received = json.loads(path.read_bytes())
    with_ids = {
        e["fullUrl"]: (e["resource"]["resourceType"], e["resource"]["id"])
        for e in received["entry"]
        if e["resource"].get("id")
    }
    before = {
        key for key, url in resolution(received).items() if url in with_ids and key[1] is not None
    }
    assert before
    import_file(patient, path)
    client.force_login(patient)

    bundle = json.loads(b"".join(client.get("/records/export/fhir/").streaming_content))
    after = resolution(bundle)
    assert sorted(key for key in before if not after.get(key)) == []

import collections
import datetime as dt
import io
import json
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import time_machine
from django.core.management import CommandError, call_command
from fhir.resources.R4B import get_fhir_model_class

from accounts.models import User
from mockhospital import domain, fhir
from mockhospital.admin import MockInstitutionForm
from mockhospital.demo import AGENCY_SLUGS
from mockhospital.generator import KST, InstitutionSpec, PatientSpec, generate, person
from mockhospital.models import MockInstitution, MockPatient
from records.fhirfile import NotFHIR, parse_fhir_file
from tests.factories import MockInstitutionFactory, MockPatientFactory, MockResourceFactory
from tests.helpers import PRODUCTION_ENV, manage, project_env
from tests.mock_fhir import MockFHIR

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
UNTIL = dt.datetime(2026, 11, 1, 12, 0, tzinfo=KST)
transactional = pytest.mark.django_db(transaction=True)


def keys(resources):
    return [(r["resourceType"], r["id"]) for r in resources]


@pytest.fixture
def hospital(db):
    return MockInstitutionFactory(patient_size=300, default_page_size=50)


@pytest.fixture
def mock_patient(hospital):
    return MockPatientFactory(institution=hospital, size=300)


@pytest.fixture
def fhir_client(live_server, hospital):
    client = MockFHIR(live_server.url, hospital)
    yield client
    client.close()


# --- Generated data ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["tertiary", "general", "clinic", "dental", "public_health"])
@pytest.mark.parametrize(("person", "size"), [("a" * 64, 40), ("b" * 64, 600), ("c" * 64, 3000)])
def test_generated_data_validates_and_is_byte_identical(profile, person, size):
    institution = InstitutionSpec("h", "테스트병원", "11100001", "11", profile, "서울")
    spec = PatientSpec(
        "P00000001",
        person,
        seed=7,
        size=size,
        history_start=UNTIL - dt.timedelta(days=5 * 365),
        span_days=5 * 365,
    )

    first = [domain.dumps(r) for r in generate(institution, spec, since=None, until=UNTIL)]
    second = [domain.dumps(r) for r in generate(institution, spec, since=None, until=UNTIL)]

    assert first == second
    resources = [json.loads(body) for body in first]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert len(set(keys(resources))) == len(resources)
    # The size is a target, met within a factor the visit-by-visit generation allows; a public
    # health centre's visits follow the person's age instead (tests/test_public_health.py).
    if profile != "public_health":
        assert size * 0.4 <= len(resources) <= size * 2.5
    assert all(r["meta"]["lastUpdated"] <= UNTIL.isoformat() for r in resources)


def test_generated_record_tells_a_korean_story():
    institution = InstitutionSpec("h", "서울한빛대학교병원", "11100001", "01", "tertiary", "서울")
    start = dt.datetime(2016, 1, 1, tzinfo=KST)

    def spec_for(key):
        return PatientSpec(
            "P1",
            key,
            seed=3,
            size=3000,
            history_start=start,
            span_days=3957,
            full_name="김민준",
            birth_date=dt.date(1962, 3, 15),
            sex="male",
            phone="01012345678",
        )

    # A person whose diabetes was treated well inside the history (the person seed decides).
    spec = next(
        spec_for(key)
        for key in (f"{n:064x}" for n in range(100))
        if "diabetes" in person(spec_for(key)).chronic
        and person(spec_for(key)).chronic["diabetes"][1] > (start + dt.timedelta(days=1000)).date()
    )
    resources = list(generate(institution, spec, since=None, until=UNTIL))
    types = collections.Counter(r["resourceType"] for r in resources)
    assert {
        "Patient",
        "Organization",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "DiagnosticReport",
    } <= set(types)

    patient = next(r for r in resources if r["resourceType"] == "Patient")
    assert patient["name"][0]["text"] == "김민준"
    assert patient["address"][0]["extension"][0]["url"].endswith("krcore-roadNameAddress")
    kcd = {c["code"]["coding"][0]["code"] for c in resources if c["resourceType"] == "Condition"}
    assert "E11.9" in kcd  # type 2 diabetes, KCD-8
    hba1c = sorted(
        (o["effectiveDateTime"], o["valueQuantity"]["value"])
        for o in resources
        if o["resourceType"] == "Observation" and o["code"]["coding"][-1]["code"] == "4548-4"
    )
    values = [v for _, v in hba1c]
    # Rises to a peak before treatment, then falls with it.
    peak = values.index(max(values))
    assert max(values) > 7.5
    assert 0 < peak < len(values) - 3
    assert values[-1] < max(values) - 1


def test_same_person_same_course_at_two_institutions():
    spec_a = PatientSpec(
        "P1", "e" * 64, seed=1, size=800, history_start=dt.datetime(2019, 1, 1, tzinfo=KST)
    )
    spec_b = PatientSpec(
        "Q9", "e" * 64, seed=2, size=800, history_start=dt.datetime(2019, 1, 1, tzinfo=KST)
    )
    a = list(
        generate(
            InstitutionSpec("a", "가병원", "1", "11", "general", "서울"),
            spec_a,
            since=None,
            until=UNTIL,
        )
    )
    b = list(
        generate(
            InstitutionSpec("b", "나의원", "2", "31", "clinic", "서울"),
            spec_b,
            since=None,
            until=UNTIL,
        )
    )
    name = {r["name"][0]["text"] for r in a + b if r["resourceType"] == "Patient"}
    assert len(name) == 1
    chronic = {"E11.9", "I10", "E78.5", "E03.9"}

    def problems(resources):
        return {
            r["code"]["coding"][0]["code"]
            for r in resources
            if r["resourceType"] == "Condition"
            and r["category"][0]["coding"][0]["code"] == "problem-list-item"
        } & chronic

    assert problems(a) == problems(b)


# --- Serving over HTTP ------------------------------------------------------------------------


@transactional
def test_no_token_and_expired_token_are_401(live_server, hospital, mock_patient):
    url = (
        f"{live_server.url}/mock/{hospital.slug}/fhir/Patient/{mock_patient.patient_id}/$everything"
    )
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer forged"}).status_code == 401

    client = MockFHIR(live_server.url, hospital)
    assert client.get(f"Patient/{mock_patient.patient_id}/$everything").status_code == 200
    with time_machine.travel(dt.timedelta(seconds=hospital.token_lifetime + 5)):
        expired = client.get(f"Patient/{mock_patient.patient_id}/$everything")
    assert expired.status_code == 401
    assert expired.json()["resourceType"] == "OperationOutcome"
    client.close()


@transactional
def test_token_endpoint_refuses_bad_credentials(live_server, hospital):
    url = f"{live_server.url}/mock/{hospital.slug}/token"
    bad = httpx.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": hospital.client_id,
            "client_secret": "wrong",
        },
    )
    assert bad.status_code == 401
    assert bad.json() == {"error": "invalid_client"}
    basic = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(hospital.client_id, hospital.client_secret),
    )
    assert basic.status_code == 200
    assert basic.json()["token_type"] == "Bearer"


@transactional
def test_metadata_states_fhir_version_and_everything_support(live_server, hospital):
    client = MockFHIR(live_server.url, hospital)
    statement = client.get("metadata").json()
    assert statement["fhirVersion"] == "4.0.1"
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["name"] == "everything"

    hospital.supports_everything = False
    hospital.save()
    statement = client.get("metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "operation" not in patient
    assert client.get("Patient/x/$everything").status_code == 400
    client.close()


@transactional
def test_patient_found_by_verified_identifier(fhir_client, hospital, mock_patient):
    found = fhir_client.get(
        "Patient",
        identifier=f"https://phr.example/identifier/verified-identity|{mock_patient.identifier}",
    ).json()
    assert found["total"] == 1
    assert found["entry"][0]["resource"]["id"] == mock_patient.patient_id

    unknown = fhir_client.get(
        "Patient", identifier="https://phr.example/identifier/verified-identity|" + "f" * 64
    ).json()
    assert unknown["total"] == 0
    assert unknown.get("entry", []) == []


@transactional
def test_unregistered_identity_known_by_deterministic_subset(fhir_client, hospital):
    hospital.knows_fraction = 0.5
    hospital.save()
    identities = [f"{n:064x}" for n in range(1, 41)]
    known = [
        i for i in identities if fhir_client.get("Patient", identifier=f"|{i}").json()["total"] == 1
    ]
    assert 8 <= len(known) <= 32
    # Asking again gives the same answers (and the same patient ids).
    again = [
        i for i in identities if fhir_client.get("Patient", identifier=f"|{i}").json()["total"] == 1
    ]
    assert again == known
    assert MockPatient.objects.filter(institution=hospital).count() == len(known)


@transactional
@pytest.mark.parametrize("count", [7, 50, 1000])
def test_paging_returns_every_resource_exactly_once(fhir_client, mock_patient, count):
    truth = domain.ground_truth(mock_patient)

    everything, pages = fhir_client.walk(
        f"Patient/{mock_patient.patient_id}/$everything", _count=count
    )

    assert sorted(keys(everything)) == sorted(truth)
    assert {(r["resourceType"], r["id"]): r for r in everything} == truth
    assert pages == -(-len(truth) // min(count, 1000))
    by_type = []
    for resource_type in {t for t, _ in truth} - set(fhir.NOT_PATIENT_TYPES):
        link = (fhir.PATIENT_SEARCH[resource_type] or ("_id",))[0]
        found, _ = fhir_client.walk(resource_type, **{link: mock_patient.patient_id}, _count=count)
        by_type += keys(found)
    assert sorted(by_type) == sorted(k for k in truth if k[0] != "Organization")


@transactional
def test_unknown_search_parameters_are_ignored_when_lenient_refused_when_strict(
    fhir_client, hospital, mock_patient
):
    other = MockPatientFactory(institution=hospital, size=40)
    truth = domain.ground_truth(mock_patient)
    domain.ensure_materialized(other)
    mine = ("Patient", mock_patient.patient_id)
    # Lenient (the default, like most servers): `patient` is no parameter of Patient, so it is
    # ignored and the answer is every patient there.
    lenient = fhir_client.get("Patient", patient=mock_patient.patient_id).json()
    assert sorted(keys(e["resource"] for e in lenient["entry"])) == sorted(
        [mine, ("Patient", other.patient_id)]
    )
    organizations, _ = fhir_client.walk("Organization", patient=mock_patient.patient_id)
    # The whole directory (`patient` ignored), the hospital's one Organization served once
    # although each person's data holds it.
    assert keys(organizations) == [("Organization", f"org-{hospital.hira_number}")]
    # Strict on request (Prefer: handling=strict), or as the server's mode.
    asked = fhir_client.http.get(
        f"{fhir_client.base}/Patient",
        params={"patient": mock_patient.patient_id},
        headers={"Prefer": "handling=strict"},
    )
    assert asked.status_code == 400
    assert asked.json()["issue"][0] == {
        "severity": "error",
        "code": "not-supported",
        "diagnostics": "Unknown search parameter for Patient: patient.",
    }
    hospital.search_handling = "strict"
    hospital.save()
    assert fhir_client.get("Patient", patient=mock_patient.patient_id).status_code == 400
    assert fhir_client.get("Organization", patient=mock_patient.patient_id).status_code == 400
    # The ways that name the patient work in both modes.
    by_id = fhir_client.get("Patient", _id=mock_patient.patient_id).json()
    assert keys(e["resource"] for e in by_id["entry"]) == [mine]
    observations, _ = fhir_client.walk(
        "Observation", subject=f"Patient/{mock_patient.patient_id}", _count=1000
    )
    assert sorted(keys(observations)) == sorted(k for k in truth if k[0] == "Observation")


def test_capability_statement_lists_each_types_patient_search_parameters(client, hospital):
    statement = client.get(f"/mock/{hospital.slug}/fhir/metadata").json()
    params = {
        r["type"]: [p["name"] for p in r["searchParam"]] for r in statement["rest"][0]["resource"]
    }
    assert params["Patient"] == ["identifier", "_id", "_lastUpdated", "_count"]
    assert params["Observation"] == ["patient", "subject", "_id", "_lastUpdated", "_count"]
    assert params["Coverage"] == ["patient", "beneficiary", "_id", "_lastUpdated", "_count"]
    assert params["SupplyRequest"] == ["subject", "_id", "_lastUpdated", "_count"]
    assert params["Organization"] == ["_id", "_lastUpdated", "_count"]
    assert {"Claim", "ExplanationOfBenefit", "CarePlan", "Goal", "Provenance"} <= set(params)


@transactional
def test_paging_is_stable_while_the_clock_advances(fhir_client, hospital, mock_patient):
    before = domain.ground_truth(mock_patient)
    response = fhir_client.get(f"Patient/{mock_patient.patient_id}/$everything", _count=20)
    first = response.json()
    assert first["total"] == len(before)
    seen = keys(r["resource"] for r in first["entry"])

    result = domain.advance_clock(institution=hospital, days=120)  # mid-paging
    assert result["created"] > 0

    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    rest, _ = fhir_client.walk(next_url)
    seen += keys(rest)
    assert len(seen) == len(set(seen)) == len(before)
    assert set(seen) == set(before)


@transactional
def test_since_returns_exactly_what_changed(fhir_client, hospital, mock_patient):
    before = domain.ground_truth(mock_patient)
    old_clock = hospital.clock

    result = domain.advance_clock(institution=hospital, days=90)
    after = domain.ground_truth(mock_patient)
    changed = {
        key
        for key, resource in after.items()
        if dt.datetime.fromisoformat(resource["meta"]["lastUpdated"]) > old_clock
    }
    assert len(changed) == result["created"] + result["amended"]
    assert changed == {k for k in after if k not in before or after[k] != before[k]}

    since, _ = fhir_client.walk(
        f"Patient/{mock_patient.patient_id}/$everything", _since=old_clock.isoformat()
    )
    assert set(keys(since)) == changed
    searched, _ = fhir_client.walk(
        "Observation", patient=mock_patient.patient_id, _lastUpdated=f"gt{old_clock.isoformat()}"
    )
    assert set(keys(searched)) == {k for k in changed if k[0] == "Observation"}
    assert (
        fhir_client.get(
            "Observation", patient=mock_patient.patient_id, _lastUpdated="yesterday"
        ).status_code
        == 400
    )


# --- Real files -------------------------------------------------------------------------------


FILES = [
    "synthea/Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json",
    "synthea/Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json",
    "hl7-r4-examples/Bundle-bundle-response-medsallergies.json",
    "hl7-r4-examples/Patient-example.json",
    "krcore/Patient-krcore-patient-example-01.json",
]


@transactional
@pytest.mark.parametrize("name", FILES)
def test_loaded_files_are_served_unchanged(fhir_client, hospital, name):
    data = (FIXTURES / name).read_bytes()
    expected = {(r["resourceType"], r["id"]): r for r in parse_fhir_file(data)}

    patient = domain.load_file(institution=hospital, data=data)
    served, _ = fhir_client.walk(f"Patient/{patient.patient_id}/$everything", _count=100)

    assert {(r["resourceType"], r["id"]): r for r in served} == expected


@transactional
def test_ndjson_file_is_served_unchanged(fhir_client, hospital):
    texts = [
        (FIXTURES / "krcore" / f).read_text()
        for f in (
            "Patient-krcore-patient-example-01.json",
            "Condition-krcore-condition-encounter-diagnosis-example-01.json",
            "Observation-krcore-observation-laboratory-result-example-01.json",
        )
    ]
    data = "\n".join(json.dumps(json.loads(t), ensure_ascii=False) for t in texts).encode()
    resources = [json.loads(t, parse_float=Decimal) for t in texts]  # decimals as sent
    patient = domain.load_file(institution=hospital, data=data)
    served, _ = fhir_client.walk(f"Patient/{patient.patient_id}/$everything")
    assert sorted(served, key=lambda r: r["id"]) == sorted(resources, key=lambda r: r["id"])


def test_non_fhir_file_is_refused():
    with pytest.raises(NotFHIR, match="no resourceType"):
        parse_fhir_file(b'{"name": "not fhir"}')
    with pytest.raises(NotFHIR, match="Neither JSON nor NDJSON"):
        parse_fhir_file(b"id,name\n1,a\n")


# --- Fault injection --------------------------------------------------------------------------


def _outcome(client, path, **params) -> str:
    try:
        response = client.get(path, **params)
    except httpx.TimeoutException:
        return "timeout"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "reset"
    if response.status_code == 401:
        return "expired_token"
    if response.status_code == 429:
        assert response.headers["Retry-After"]
        return "rate_limit"
    if response.status_code >= 500:
        return "error"
    assert response.status_code in (200, 404), response.text
    if response.status_code == 404:
        return "truncate"
    try:
        bundle = response.json()
    except ValueError:  # not JSON, or cut in the middle of a UTF-8 character
        return "malformed"
    entries = len(bundle["entry"])
    if entries > params["_count"]:  # the previous page's last resource, served again
        return "duplicate"
    if entries < params["_count"]:  # a page cut short
        return "truncate"
    return "ok"


FAULTS = [
    "timeout",
    "expired_token",
    "rate_limit",
    "error",
    "truncate",
    "duplicate",
    "malformed",
    "reset",
]


@transactional
@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_happens_at_its_rate_under_a_seed(live_server, hospital, mock_patient, fault):
    domain.ensure_materialized(mock_patient)
    client = MockFHIR(live_server.url, hospital, timeout=0.3)
    first = client.get(f"Patient/{mock_patient.patient_id}/$everything", _count=10).json()
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    page_token = parse_qs(urlsplit(next_url).query)["_page_token"][0]
    settings = {f"{fault}_rate": 0.3, "timeout_seconds": 0.6}

    runs = []
    for _ in range(2):
        domain.set_faults(institution=hospital, settings=settings, seed=1234)
        runs.append(
            [
                _outcome(
                    client,
                    f"Patient/{mock_patient.patient_id}/$everything",
                    _count=10,
                    _page_token=page_token,
                )
                for _ in range(40)
            ]
        )

    assert runs[0] == runs[1]  # deterministic under the seed
    happened = runs[0].count(fault)
    assert 5 <= happened <= 20, (fault, collections.Counter(runs[0]))  # 12 expected
    assert set(runs[0]) == {fault, "ok"}
    client.close()
    if fault == "timeout":  # let the server threads still sleeping finish their requests
        time.sleep(settings["timeout_seconds"])


@transactional
def test_retry_after_as_http_date(fhir_client, hospital, mock_patient):
    domain.set_faults(
        institution=hospital,
        settings={"rate_limit_rate": 1, "retry_after": 30, "retry_after_format": "http-date"},
    )
    response = fhir_client.get(f"Patient/{mock_patient.patient_id}/$everything")
    assert response.status_code == 429
    assert response.headers["Retry-After"].endswith(" GMT")


@transactional
def test_invalid_resources_fail_validation_and_are_known(fhir_client, hospital, mock_patient):
    domain.set_faults(institution=hospital, settings={"invalid_rate": 0.1}, seed=99)
    served, _ = fhir_client.walk(f"Patient/{mock_patient.patient_id}/$everything", _count=1000)

    invalid = set()
    for resource in served:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValueError:
            invalid.add((resource["resourceType"], resource["id"]))

    assert invalid == domain.invalid_keys(mock_patient)
    assert 0.04 * len(served) <= len(invalid) <= 0.2 * len(served)


def test_fault_settings_are_validated(hospital):
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1"):
        domain.set_faults(institution=hospital, settings={"error_rate": 2})
    with pytest.raises(ValueError, match="Unknown fault setting: eror_rate"):
        domain.set_faults(institution=hospital, settings={"eror_rate": 0.1})


# --- Operation --------------------------------------------------------------------------------


@transactional
def test_index_lists_institutions_with_connection_details(live_server, hospital):
    domain.set_faults(institution=hospital, settings={"error_rate": 0.2})
    listed = httpx.get(f"{live_server.url}/mock/").json()["institutions"]
    assert listed == [
        {
            "slug": hospital.slug,
            "name": hospital.name,
            "name_en": hospital.name_en,
            "hira_number": hospital.hira_number,
            "type_code": "11",
            "fhir_base_url": f"{live_server.url}/mock/{hospital.slug}/fhir",
            "token_url": f"{live_server.url}/mock/{hospital.slug}/token",
            "client_id": hospital.client_id,
            "client_secret": "test-client-secret",
            "supports_everything": True,
            "faults": {"error_rate": 0.2},
        }
    ]


def test_demo_hospitals_know_the_demo_patients(db, settings):
    settings.DEBUG = True
    call_command("demo", stdout=io.StringIO())
    known = collections.defaultdict(set)
    for patient in MockPatient.objects.select_related("institution"):
        known[patient.identifier].add(patient.institution.slug)

    assert MockInstitution.objects.count() == 8  # five hospitals, three public agencies
    hospitals = MockInstitution.objects.exclude(slug__in=AGENCY_SLUGS)
    assert len({i.type_code for i in hospitals}) == 5
    assert MockInstitution.objects.exclude(faults={}).count() == 1  # the flaky one
    mine = known[User.objects.get(email="patient@example.com").profile.verified_identifier]
    theirs = known[User.objects.get(email="other@example.com").profile.verified_identifier]
    # Both are registered at every agency with their demographics.
    assert set(AGENCY_SLUGS) <= mine
    assert set(AGENCY_SLUGS) <= theirs
    mine, theirs = mine - set(AGENCY_SLUGS), theirs - set(AGENCY_SLUGS)
    assert len(mine) == 4
    assert len(theirs) == 3
    assert mine & theirs == {"hangang-general", "mapo-health"}


@pytest.mark.slow
def test_mock_hospitals_are_off_under_production_settings():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.urls import Resolver404, resolve\n"
        "try:\n    resolve('/mock/'); print('routed')\n"
        "except Resolver404:\n    print('not routed')",
        env=project_env(**PRODUCTION_ENV),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "not routed"


def test_a_later_window_continues_the_same_visits():
    institution = InstitutionSpec("h", "테스트병원", "11100001", "11", "general", "서울")
    spec = PatientSpec(
        "P1",
        "g" * 64,
        seed=5,
        size=400,
        history_start=UNTIL - dt.timedelta(days=1000),
        span_days=1000,
    )
    later = UNTIL + dt.timedelta(days=200)
    at_once = list(generate(institution, spec, since=None, until=later))
    in_two = list(generate(institution, spec, since=None, until=UNTIL)) + list(
        generate(institution, spec, since=UNTIL, until=later)
    )
    assert len(keys(in_two)) == len(set(keys(in_two)))
    assert keys(in_two) == keys(at_once)


def test_command_sets_faults_and_advances_clock(hospital, mock_patient):
    out = io.StringIO()
    call_command(
        "mockhospital",
        "faults",
        hospital.slug,
        "--set",
        "error_rate=0.2",
        "latency_ms=50",
        "--seed",
        "7",
        stdout=out,
    )
    hospital.refresh_from_db()
    assert hospital.faults == {"error_rate": 0.2, "latency_ms": 50}
    assert hospital.fault_seed == 7
    assert json.loads(out.getvalue()) == {"faults": hospital.faults, "seed": 7}

    with pytest.raises(CommandError, match="error_rate must be between 0 and 1"):
        call_command("mockhospital", "faults", hospital.slug, "--set", "error_rate=3")

    domain.ensure_materialized(mock_patient)
    out = io.StringIO()
    call_command("mockhospital", "advance", hospital.slug, "--days", "60", stdout=out)
    assert out.getvalue().endswith("amended.\n")
    hospital.refresh_from_db()
    assert hospital.clock == UNTIL + dt.timedelta(days=60)


def test_command_loads_a_file_for_a_phr_patient(hospital, patient):
    path = FIXTURES / "synthea" / "Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json"
    out = io.StringIO()
    call_command(
        "mockhospital", "load", hospital.slug, str(path), "--email", patient.email, stdout=out
    )
    loaded = MockPatient.objects.get(institution=hospital)
    assert loaded.identifier == patient.profile.verified_identifier
    assert out.getvalue() == f"Loaded 61 resources as Patient/{loaded.patient_id}.\n"
    bad = FIXTURES / "SOURCE.md"
    with pytest.raises(CommandError, match="Neither JSON nor NDJSON"):
        call_command("mockhospital", "load", hospital.slug, str(bad))


def test_admin_shows_and_validates_faults(client, admin_user, hospital, settings):
    settings.PHR_STAFF_MFA_REQUIRED = False
    domain.set_faults(institution=hospital, settings={"error_rate": 0.25})
    client.force_login(admin_user)
    listing = client.get("/admin/mockhospital/mockinstitution/")
    assert b"{&quot;error_rate&quot;: 0.25}" in listing.content

    form = MockInstitutionForm(
        instance=hospital,
        data={
            **{f: getattr(hospital, f) for f in MockInstitutionForm.Meta.fields},
            "faults": '{"error_rate": 7}',
        },
    )
    assert not form.is_valid()
    assert form.errors["faults"] == ["error_rate must be between 0 and 1, not 7.0."]


def test_directory_types_are_found_by_several_ids_each_once(fhir_client, hospital, mock_patient):
    """`_id=a,b,c` on a type no patient owns (Organization, Practitioner…): each named one,
    once, whatever number of patients' data hold it; nothing else."""
    other = MockPatientFactory(institution=hospital, size=40)
    domain.ensure_materialized(mock_patient)
    domain.ensure_materialized(other)
    for rid in ("prac-1", "prac-2", "prac-3"):
        MockResourceFactory(patient=mock_patient, resource_type="Practitioner", resource_id=rid)
    MockResourceFactory(patient=other, resource_type="Practitioner", resource_id="prac-1")
    org = f"org-{hospital.hira_number}"

    practitioners, _ = fhir_client.walk("Practitioner", _id="prac-1,prac-3,prac-unknown")
    organizations, _ = fhir_client.walk("Organization", _id=f"{org},org-unknown")

    assert sorted(keys(practitioners)) == [("Practitioner", "prac-1"), ("Practitioner", "prac-3")]
    assert keys(organizations) == [("Organization", org)]

"""The public agencies (NHIS, HIRA, KDCA): their mock servers serve valid R4 with the national
codes, the platform's data windows hold, and a real worker syncs all three.

Validity is checked by validators that are not the product's: fhir.resources (its R4B models,
which R4 resources satisfy) and, where it is vendored, the official R4 JSON schema.
"""

import datetime as dt
import json
import threading
from pathlib import Path

import httpx
import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from fhir.resources.R4B import get_fhir_model_class

from institutions import domain, windows
from institutions.models import InstitutionKind, RunStatus
from mockhospital import domain as mock
from mockhospital.demo import DEMO_AGENCIES
from mockhospital.models import MockInstitution
from phr.celery import app
from records import checkups as ck
from records.models import Record
from tests.conftest import onboard, run_to_end
from tests.mock_fhir import MockFHIR

pytestmark = pytest.mark.django_db(transaction=True)
CLOCK = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
SCHEMA = Path(__file__).parent.parent / "records" / "fhir_r4_schema" / "fhir.schema.json"
KR = {
    "edi": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
    "atc": "http://www.whocc.no/atc",
    "kd": "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode",
    "vcnt": "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types",
    "kcd": "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
}


def _schema_validator():
    """A validator per resource type against the official R4 JSON schema (where vendored)."""
    if not SCHEMA.exists():
        return None
    import jsonschema

    definitions = json.loads(SCHEMA.read_text())["definitions"]
    validators = {}

    def validator(resource_type):
        if resource_type not in validators:
            validators[resource_type] = jsonschema.Draft6Validator(
                {"$ref": f"#/definitions/{resource_type}", "definitions": definitions}
            )
        return validators[resource_type]

    return validator


def _valid(resource: dict, schema) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    if schema is not None:
        errors = [e.message for e in schema(resource["resourceType"]).iter_errors(resource)]
        assert not errors, (resource["resourceType"], resource["id"], errors[:3])


def warm(live_server) -> None:
    """One first request to the live server, with time to spare: its first answer loads every
    URL module, which on a loaded machine takes longer than the FHIR client's test timeout."""
    httpx.get(f"{live_server.url}/mock/", timeout=120)


def _agency(slug: str) -> MockInstitution:
    spec = dict(next(s for s in DEMO_AGENCIES if s["slug"] == slug))
    return MockInstitution.objects.create(
        **spec, client_id=slug, client_secret=f"secret-{slug}", clock=CLOCK
    )


@pytest.fixture
def agencies(db, live_server):
    warm(live_server)
    return {slug: _agency(slug) for slug in ("nhis", "hira", "kdca")}


def _codes(concept: dict) -> dict:
    return {c["system"]: c["code"] for c in concept.get("coding", [])}


def _registered(agency, user):
    profile = user.profile
    return mock.register_patient(
        institution=agency,
        identifier=profile.verified_identifier,
        full_name=profile.full_name,
        birth_date=profile.birth_date,
        sex=profile.sex,
        phone=profile.phone,
    )


@pytest.mark.parametrize("slug", ["nhis", "hira", "kdca"])
def test_each_agency_serves_valid_r4_with_the_national_codes(live_server, agencies, patient, slug):
    agency = agencies[slug]
    known = _registered(agency, patient)
    client = MockFHIR(live_server.url, agency)
    try:
        assert client.get("metadata").json()["fhirVersion"] == "4.0.1"
        served, pages = client.walk(f"Patient/{known.patient_id}/$everything", _count=50)
        # Paging and `_since`: a later window is a strict subset, by lastUpdated.
        since = CLOCK - dt.timedelta(days=400)
        recent, _ = client.walk(
            f"Patient/{known.patient_id}/$everything", _count=50, _since=since.isoformat()
        )
    finally:
        client.close()
    assert pages > 1
    schema = _schema_validator()
    for resource in served:
        _valid(json.loads(json.dumps(resource, default=float)), schema)
    by_key = {(r["resourceType"], r["id"]): r for r in served}
    assert len(by_key) == len(served)
    assert recent
    assert {(r["resourceType"], r["id"]) for r in recent} < set(by_key)
    assert all(dt.datetime.fromisoformat(r["meta"]["lastUpdated"]) > since for r in recent)
    of = {
        t: [r for r in served if r["resourceType"] == t]
        for t in {r["resourceType"] for r in served}
    }

    def resolves(reference: dict) -> bool:
        return tuple(reference["reference"].split("/")) in by_key

    if slug == "nhis":
        reports = of["DiagnosticReport"]
        assert len(reports) >= 4  # a check-up every two years, most years attended
        for report in reports:
            assert _codes(report["code"]) == {ck.CHECKUP_SYSTEM: ck.CHECKUP_GENERAL}
            results = [by_key[tuple(r["reference"].split("/"))] for r in report["result"]]
            items = {_codes(o["code"]).popitem()[1] for o in results}
            # The items every check-up has (the lipid panel and hearing come by age).
            assert {"8302-2", "29463-7", "8280-0", "39156-5", "85354-9", "1558-6", "718-7"} <= items
            assert {
                "1920-8",
                "1742-6",
                "2324-2",
                "2160-0",
                "62238-1",
                "20454-5",
                "36643-5",
            } <= items
            assert all(o["effectiveDateTime"] == report["effectiveDateTime"] for o in results)
            assert _codes(report["conclusionCode"][0])[ck.RESULT_SYSTEM] in ck.RESULT_KOREAN
            for observation in results:
                if "valueQuantity" in observation and observation.get("referenceRange"):
                    assert observation["referenceRange"][0]["text"] == "정상A"
                    category = _codes(observation["interpretation"][0])[ck.RESULT_SYSTEM]
                    assert category in (ck.NORMAL_A, ck.NORMAL_B, ck.SUSPECT)
        visits = of["Encounter"]
        assert visits
        assert all(resolves(v["serviceProvider"]) for v in visits)
        assert all(KR["kcd"] in _codes(v["reasonCode"][0]) for v in visits)
    if slug == "hira":
        requests, dispenses = of["MedicationRequest"], of["MedicationDispense"]
        assert requests
        assert len(dispenses) == len(requests)
        for resource in requests + dispenses:
            codes = _codes(resource["medicationCodeableConcept"])
            assert len(codes[KR["edi"]]) == 9
            assert len(codes[KR["atc"]]) == 7
        for dispense in dispenses:
            pharmacy = by_key[tuple(dispense["performer"][0]["actor"]["reference"].split("/"))]
            assert pharmacy["type"][0]["coding"][0]["display"] == "약국"
            assert resolves(dispense["authorizingPrescription"][0])
        assert all(resolves(r["requester"]) for r in requests)
    if slug == "kdca":
        doses = of["Immunization"]
        assert doses
        for dose in doses:
            codes = _codes(dose["vaccineCode"])
            assert KR["kd"] in codes
            assert "http://hl7.org/fhir/sid/cvx" in codes
            assert dose["protocolApplied"][0]["doseNumberPositiveInt"] >= 1
            assert resolves(dose["performer"][0]["actor"])
        assert sum(KR["vcnt"] in _codes(d["vaccineCode"]) for d in doses) >= len(doses) // 2


def test_the_demo_child_has_the_childhood_series_at_kdca_and_no_adult_checkups(agencies, db):
    from accounts.models import User

    child = User.objects.create(email="child@example.org")
    from accounts import domain as accounts_domain

    accounts_domain.verify_identity(
        user=child,
        full_name="김하은",
        birth_date=dt.date(2019, 4, 10),
        sex="female",
        phone="010-2222-3333",
    )
    kdca = _registered(agencies["kdca"], child)
    nhis = _registered(agencies["nhis"], child)
    doses = [r for (t, _), r in mock.ground_truth(kdca).items() if t == "Immunization"]
    first = min(dt.datetime.fromisoformat(d["occurrenceDateTime"]).date() for d in doses)
    assert first >= dt.date(2019, 4, 10)
    series = {}
    for dose in doses:
        series.setdefault(dose["protocolApplied"][0]["series"], []).append(dose)
    assert len(series.get("HEPB", [])) == 3 or len(series.get("DTAP", [])) >= 4
    assert not [k for k in mock.ground_truth(nhis) if k[0] == "DiagnosticReport"]


# --- The data windows -------------------------------------------------------------------------


def _encounter(day: str) -> dict:
    return {"resourceType": "Encounter", "id": day, "period": {"start": f"{day}T09:00:00+09:00"}}


def test_windows_keep_what_the_platform_shows():
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    nhis = [
        _encounter("2025-11-30"),  # 366 days before: out
        _encounter("2025-12-02"),  # inside the year
        {"resourceType": "Observation", "id": "a", "effectiveDateTime": "2016-11-30"},  # out
        {"resourceType": "Observation", "id": "b", "effectiveDateTime": "2016-12-05"},
        {"resourceType": "Patient", "id": "p"},
        {"resourceType": "Organization", "id": "o"},
    ]
    kept = {r["id"] for r in windows.within(InstitutionKind.NHIS, nhis, now)}
    assert kept == {"2025-12-02", "b", "p", "o"}
    hira = [
        {"resourceType": "MedicationDispense", "id": "old", "whenHandedOver": "2025-11-01"},
        {"resourceType": "MedicationDispense", "id": "new", "whenHandedOver": "2026-01-01"},
        {"resourceType": "MedicationRequest", "id": "rx-old", "authoredOn": "2025-10-01"},
    ]
    assert [r["id"] for r in windows.within(InstitutionKind.HIRA, hira, now)] == ["new"]
    kdca = [{"resourceType": "Immunization", "id": "bcg", "occurrenceDateTime": "1990-07-20"}]
    assert windows.within(InstitutionKind.KDCA, kdca, now) == kdca
    assert windows.within(InstitutionKind.HOSPITAL, nhis, now) == nhis


def _older(resources, kind, years):
    limit = CLOCK - dt.timedelta(days=365 * years)
    return [r for r in resources if windows._dated(r) and windows._dated(r) < limit]


@time_machine.travel(CLOCK + dt.timedelta(days=1), tick=True)
def test_sync_keeps_each_agencys_window_and_expires_what_leaves_it(
    live_server, agencies, other_patient
):
    """The mock agencies hold more than the platform keeps (NHIS check-ups of 14 years, visits
    of 4; HIRA prescriptions of 3): the sync stores only the window, and a later sync removes
    what has left it since."""
    nhis = onboard(live_server, agencies["nhis"])
    hira = onboard(live_server, agencies["hira"])
    known_nhis = _registered(agencies["nhis"], other_patient)
    known_hira = _registered(agencies["hira"], other_patient)
    served_nhis = list(mock.ground_truth(known_nhis).values())
    served_hira = list(mock.ground_truth(known_hira).values())
    assert _older([r for r in served_nhis if r["resourceType"] == "DiagnosticReport"], "", 10)
    assert _older([r for r in served_nhis if r["resourceType"] == "Encounter"], "", 1)
    assert _older([r for r in served_hira if r["resourceType"] == "MedicationDispense"], "", 1)

    for institution in (nhis, hira):
        source = domain.link_institution(patient=other_patient, institution=institution)
        run = run_to_end(source.runs.get())
        assert run.status == RunStatus.SUCCEEDED, run.error
    records = Record.objects.filter(patient=other_patient)
    now = dt.datetime.now(dt.UTC)
    year, decade = now - dt.timedelta(days=365), now - dt.timedelta(days=3650)
    assert records.filter(resource_type="DiagnosticReport").exists()
    assert not records.filter(resource_type="DiagnosticReport", effective__lt=decade).exists()
    assert not records.filter(resource_type="Observation", effective__lt=decade).exists()
    assert records.filter(resource_type="Encounter").exists()
    assert not records.filter(resource_type="Encounter", effective__lt=year).exists()
    assert records.filter(resource_type="MedicationDispense").exists()
    assert not records.filter(resource_type="MedicationDispense", effective__lt=year).exists()
    assert not records.filter(resource_type="MedicationRequest", effective__lt=year).exists()
    kept_encounters = records.filter(resource_type="Encounter").count()

    # Half a year on: the next sync leaves out what is now older than the window.
    with time_machine.travel(CLOCK + dt.timedelta(days=183), tick=True):
        source = records.filter(resource_type="Encounter").first().source
        run, _ = domain.trigger_sync(source=source)
        run = run_to_end(run)
        assert run.status == RunStatus.SUCCEEDED, run.error
        later = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
        encounters = Record.objects.filter(patient=other_patient, resource_type="Encounter")
        assert not encounters.filter(effective__lt=later).exists()
        assert encounters.count() < kept_encounters


# --- A real worker, all three agencies --------------------------------------------------------


@pytest.mark.worker
def test_real_worker_syncs_all_three_agencies(live_server, agencies, patient):
    institutions = {slug: onboard(live_server, agency) for slug, agency in agencies.items()}
    assert {i.kind for i in institutions.values()} == set(windows.WINDOWS)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sources = [
            domain.link_institution(patient=patient, institution=institution)
            for institution in institutions.values()
        ]
        runs = [source.runs.get() for source in sources]
        for _ in range(600):
            for run in runs:
                run.refresh_from_db()
            if all(run.status in ("succeeded", "failed") for run in runs):
                break
            threading.Event().wait(0.1)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 3, [r.error for r in runs]
    records = Record.objects.filter(patient=patient)
    by_source = {s.institution.kind: records.filter(source=s) for s in sources}
    assert by_source["nhis"].filter(resource_type="DiagnosticReport").exists()
    assert by_source["hira"].filter(resource_type="MedicationDispense").exists()
    assert by_source["kdca"].filter(resource_type="Immunization").exists()
    # Every resource the agency holds within its window is stored.
    for slug, source in zip(institutions, sources, strict=True):
        held = windows.within(
            institutions[slug].kind,
            mock.ground_truth(
                mock.find_patient(
                    institution=agencies[slug], identifier=patient.profile.verified_identifier
                )
            ).values(),
        )
        assert source.records.count() == len(held)


def test_a_hiras_dispensing_is_dated_by_its_handover_and_expires_after_a_year(db):
    """HIRA's MedicationDispense carries no effective[x]: its day is whenHandedOver (else
    whenPrepared), so that the timeline places it and the year's window drops it."""
    from records.ingest import ingest_page
    from records.projection import project
    from tests.factories import InstitutionFactory, SourceFactory, UserFactory

    handed = {"resourceType": "MedicationDispense", "id": "d1", "status": "completed"}
    assert project({**handed, "whenHandedOver": "2025-01-10"}).effective.date() == dt.date(
        2025, 1, 10
    )
    assert project({**handed, "whenPrepared": "2025-01-09"}).effective.date() == dt.date(2025, 1, 9)

    patient = UserFactory()
    source = SourceFactory(patient=patient, institution=InstitutionFactory(kind="hira"))
    dispensings = [
        {**handed, "id": "old", "whenHandedOver": "2025-01-10"},
        {**handed, "id": "new", "whenHandedOver": "2026-11-01"},
    ]
    ingest_page(source_id=source.pk, patient_id=patient.pk, resources=dispensings)

    removed = windows.expire(source, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))

    assert removed == 1
    kept = Record.objects.filter(source=source).values_list("resource_id", flat=True)
    assert list(kept) == ["new"]


def test_a_patient_born_in_1962_has_no_childhood_dose_from_before_its_programme(agencies, db):
    from accounts import domain as accounts_domain
    from accounts.models import User
    from mockhospital.agencies import PROGRAMME_FROM

    adult = User.objects.create(email="born1962@example.org")
    accounts_domain.verify_identity(
        user=adult,
        full_name="김민준",
        birth_date=dt.date(1962, 5, 20),
        sex="male",
        phone="010-4444-5555",
    )
    kdca = _registered(agencies["kdca"], adult)
    doses = [r for (t, _), r in mock.ground_truth(kdca).items() if t == "Immunization"]

    for dose in doses:
        series = dose["protocolApplied"][0]["series"].lower()
        day = dt.datetime.fromisoformat(dose["occurrenceDateTime"]).date()
        assert day >= PROGRAMME_FROM.get(series, dt.date.min), (series, day)
    assert not {d["protocolApplied"][0]["series"] for d in doses} & {"HIB", "PCV", "HEPA", "RV"}

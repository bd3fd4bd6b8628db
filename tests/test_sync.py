import collections
import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.db import connection
from django.template.defaultfilters import date as date_filter
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.timezone import localtime

from institutions import domain, fhir_client, sync, sync_pull
from institutions import issues as issue_codes
from institutions.models import Institution, RunStatus, RunTrigger, Source, SyncIssue, SyncRun
from mockhospital import domain as mock
from mockhospital import fhir as mock_fhir
from phr.celery import app
from records.models import Record
from records.projection import PROJECTED_FIELDS, content_hash, project
from tests.conftest import onboard, run_to_end
from tests.factories import MockResourceFactory
from tests.records_data import stored

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"

pytestmark = pytest.mark.django_db(transaction=True)


def link_and_sync(patient, institution) -> tuple[Source, SyncRun]:
    source = domain.link_institution(patient=patient, institution=institution)
    run = source.runs.get()
    assert run.trigger == RunTrigger.LINK
    return source, run_to_end(run)


# --- Onboarding ------------------------------------------------------------------------------


def test_connection_test_reads_capabilities(live_server, hospital):
    hospital.supports_everything = False
    hospital.save()
    institution = onboard(live_server, hospital)
    assert institution.test_ok is True
    assert institution.fhir_version == "4.0.1"
    assert "Observation" in institution.resource_types
    assert institution.supports_everything is False
    assert institution.test_message.startswith(
        f"Connected. FHIR 4.0.1, {len(mock_fhir.RESOURCE_TYPES)} resource types, no $everything"
    )


def test_connection_test_explains_bad_credentials_and_unreachable_servers(live_server, hospital):
    institution = Institution.objects.create(
        name="x",
        hira_number="1",
        type_code="31",
        fhir_base_url=f"{live_server.url}/mock/{hospital.slug}/fhir",
        token_url=f"{live_server.url}/mock/{hospital.slug}/token",
        client_id=hospital.client_id,
        client_secret="wrong",
    )
    assert domain.test_connection(institution=institution) is False
    assert institution.test_message == "The hospital refused the platform's credentials (HTTP 401)."

    institution.fhir_base_url = "http://127.0.0.1:9/fhir"  # nothing listens on the discard port
    institution.token_url = ""
    assert domain.test_connection(institution=institution) is False
    assert institution.test_message.startswith("The hospital kept failing after several attempts: ")
    with pytest.raises(domain.LinkError, match="Test the connection successfully"):
        domain.set_status(institution=institution, status="active")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/fhir", "must start with http:// or https://"),
        ("http://10.0.0.5/fhir", "10.0.0.5 is a private, link-local or reserved address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a private, link-local"),
        ("http://[fd00::1]/fhir", "fd00::1 is a private, link-local or reserved address"),
    ],
)
def test_ssrf_guard_refuses_internal_addresses(url, message):
    with pytest.raises(fhir_client.UnsafeURL, match=message):
        fhir_client.check_url(url)


def test_ssrf_guard_refuses_loopback_unless_allowed(settings):
    settings.PHR_FHIR_ALLOW_LOOPBACK = False
    with pytest.raises(fhir_client.UnsafeURL, match="loopback"):
        fhir_client.check_url("http://127.0.0.1:8000/mock/x/fhir")
    settings.PHR_FHIR_ALLOW_LOOPBACK = True
    fhir_client.check_url("http://127.0.0.1:8000/mock/x/fhir")


# --- Linking and syncing ---------------------------------------------------------------------


def test_link_sync_stores_exactly_the_ground_truth(patient, institution, known_patient):
    source, run = link_and_sync(patient, institution)

    truth = mock.ground_truth(known_patient)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == truth
    assert (run.fetched, run.created_count, run.updated, run.unchanged, run.invalid) == (
        len(truth),
        len(truth),
        0,
        0,
        0,
    )
    assert run.progress == 100
    source.refresh_from_db()
    assert source.patient_ref == known_patient.patient_id
    assert source.consent_version == domain.CONSENT_VERSION
    assert source.high_water_mark == hospital_clock(institution)


def hospital_clock(institution):
    from mockhospital.models import MockInstitution

    return MockInstitution.objects.get(hira_number=institution.hira_number).clock


def test_per_type_search_when_everything_is_not_supported(
    live_server, hospital, patient, known_patient
):
    hospital.supports_everything = False
    hospital.save()
    institution = onboard(live_server, hospital)
    source, run = link_and_sync(patient, institution)
    assert run.status == RunStatus.SUCCEEDED, run.error
    truth = mock.ground_truth(known_patient)
    # The hospital's Organization links to no patient: read by _id as the records reference it.
    assert stored(source) == truth


SYNTHEA = FIXTURES / "synthea"
LUIGI = SYNTHEA / "Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json"
OSSIE = SYNTHEA / "Ossie_Rodriguez_d7ec3d8f-7be8-4a94-a20c-e694f7bfdb80.json"
# R4 links these types to no patient (no patient/subject/beneficiary search parameter): a
# per-type sync reads the ones the records reference as `Type/id` by _id; Synthea's `urn:uuid:`
# references name no id on the server, so only $everything brings those.
NOT_PATIENT_SEARCHABLE = {"Organization", "Practitioner"}


def others_known_to(hospital, count=3):
    """Other people the hospital knows, their data materialised: a lenient server that ignores
    a search parameter lists them all."""
    others = [
        mock.register_patient(institution=hospital, identifier=f"{n:064x}", size=40)
        for n in range(1, count + 1)
    ]
    for other in others:
        mock.ensure_materialized(other)
    return others


@pytest.mark.parametrize("handling", ["lenient", "strict"])
def test_per_type_sync_stores_only_this_patients_records(
    live_server, hospital, patient, known_patient, handling
):
    hospital.supports_everything = False
    hospital.search_handling = handling
    hospital.save()
    others = others_known_to(hospital)
    institution = onboard(live_server, hospital)

    source, run = link_and_sync(patient, institution)

    truth = mock.ground_truth(known_patient)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert {t for t, _ in truth} & NOT_PATIENT_SEARCHABLE == {"Organization"}
    assert stored(source) == truth  # its Organization read by _id, the others' never
    assert list(
        Record.objects.filter(resource_type="Patient").values_list("resource_id", flat=True)
    ) == [known_patient.patient_id]
    assert not Record.objects.filter(resource_id__in=[o.patient_id for o in others]).exists()
    assert (run.invalid, SyncIssue.objects.count()) == (0, 0)


@pytest.mark.parametrize("handling", ["lenient", "strict"])
def test_per_type_sync_asks_for_every_type_the_server_lists(
    live_server, hospital, patient, handling
):
    hospital.supports_everything = False
    hospital.search_handling = handling
    hospital.save()
    mine = mock.load_file(
        institution=hospital,
        data=OSSIE.read_bytes(),
        identifier=patient.profile.verified_identifier,
    )
    mock.load_file(institution=hospital, data=LUIGI.read_bytes())  # another patient's file
    others_known_to(hospital, count=1)
    institution = onboard(live_server, hospital)

    source, run = link_and_sync(patient, institution)

    truth = mock.ground_truth(mine)
    expected = {k: v for k, v in truth.items() if k[0] not in NOT_PATIENT_SEARCHABLE}
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == expected
    assert {"Claim", "ExplanationOfBenefit", "CarePlan", "AllergyIntolerance"} <= {
        t for t, _ in expected
    }
    assert run.fetched == len(expected)


REFERENCED_TYPES = {"Organization", "Practitioner", "PractitionerRole", "Location", "Medication"}


def references_of(resources) -> set[tuple[str, str]]:
    """Every relative reference to a type that belongs to no patient, by an independent walk."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            target = node.get("reference")
            if isinstance(target, str) and target.count("/") == 1:
                kind, _, rid = target.partition("/")
                if kind in REFERENCED_TYPES:
                    found.add((kind, rid))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(resources))
    return found


@pytest.mark.parametrize("handling", ["lenient", "strict"])
def test_per_type_sync_reads_the_resources_its_records_reference(
    live_server, hospital, patient, known_patient, handling, settings
):
    """Without $everything, the Organization, Practitioners and Location the patient's records
    point at are read by _id (two ids a request here), and only those: not the directory."""
    settings.PHR_SYNC_REFERENCE_BATCH = 2
    hospital.supports_everything = False
    hospital.search_handling = handling
    hospital.save()
    others_known_to(hospital, count=2)  # their rows hold the same Organization too
    mock.ensure_materialized(known_patient)
    encounter = {
        "resourceType": "Encounter",
        "id": "enc-with-staff",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{known_patient.patient_id}"},
        "participant": [
            {"individual": {"reference": "Practitioner/prac-1"}},
            {"individual": {"reference": "Practitioner/prac-2"}},
        ],
        "location": [{"location": {"reference": "Location/loc-1"}}],
    }
    MockResourceFactory(
        patient=known_patient,
        resource_type="Encounter",
        resource_id="enc-with-staff",
        body=json.dumps(encounter),
    )
    for kind, rid in [
        ("Practitioner", "prac-1"),
        ("Practitioner", "prac-2"),
        ("Location", "loc-1"),
        ("Practitioner", "prac-nobody-names"),
        ("Organization", "org-nobody-names"),
    ]:
        MockResourceFactory(patient=known_patient, resource_type=kind, resource_id=rid)
    institution = onboard(live_server, hospital)

    source, run = link_and_sync(patient, institution)

    assert run.status == RunStatus.SUCCEEDED, run.error
    truth = mock.ground_truth(known_patient)
    unnamed = {("Practitioner", "prac-nobody-names"), ("Organization", "org-nobody-names")}
    assert stored(source) == {k: v for k, v in truth.items() if k not in unnamed}
    held = stored(source)
    wanted = references_of(held.values())
    assert {("Practitioner", "prac-1"), ("Location", "loc-1")} < wanted
    assert any(kind == "Organization" for kind, _ in wanted)
    assert wanted <= set(held)
    assert (run.invalid, run.fetched) == (0, len(held))

    again, _created = sync.request_sync(source=source, trigger=RunTrigger.PATIENT)
    again = run_to_end(again)

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert again.created_count == 0
    assert stored(source) == held
    assert Record.objects.filter(source=source).count() == len(held)


def test_referenced_reads_are_the_capability_statements_no_patient_types_named_by_id():
    from institutions import checks

    statement = {
        "rest": [
            {
                "resource": [
                    {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]}
                    for t in mock_fhir.RESOURCE_TYPES
                ]
                + [{"type": "Endpoint", "interaction": [{"code": "read"}]}]  # not searchable
            }
        ]
    }
    assert checks.referenced_types(statement) == list(mock_fhir.NOT_PATIENT_TYPES)
    resource = {
        "a": {"reference": "https://h.example/fhir/Organization/o1/_history/2"},
        "b": [
            {"reference": "Organization?identifier=x|1"},  # conditional: nothing to read
            {"reference": "urn:uuid:abc"},
            {"reference": "https://other.example/fhir/Location/l1"},  # another server
            {"reference": "Location/l,2"},  # not an id: would split an _id list
            {"reference": "Location/l3"},
            {"reference": "Condition/c1"},  # a patient's: searched by patient
        ],
    }
    assert checks.references_to(
        [resource], {"Organization", "Location"}, "https://h.example/fhir"
    ) == {("Organization", "o1"), ("Location", "l3")}


def test_a_resumed_per_type_sync_neither_redoes_nor_loses_the_referenced_reads(
    live_server, hospital, patient, known_patient, settings, monkeypatch
):
    """The reads by _id are planned in the cursor: a run stopped after two of them continues
    with the others, and asks for none twice."""
    settings.PHR_SYNC_REFERENCE_BATCH = 1
    hospital.supports_everything = False
    hospital.save()
    mock.ensure_materialized(known_patient)
    for rid in ("prac-1", "prac-2", "prac-3"):
        MockResourceFactory(patient=known_patient, resource_type="Practitioner", resource_id=rid)
    encounter = {
        "resourceType": "Encounter",
        "id": "enc-with-staff",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{known_patient.patient_id}"},
        "participant": [{"individual": {"reference": f"Practitioner/prac-{n}"}} for n in (1, 2, 3)],
    }
    MockResourceFactory(
        patient=known_patient,
        resource_type="Encounter",
        resource_id="enc-with-staff",
        body=json.dumps(encounter),
    )
    institution = onboard(live_server, hospital)
    asked, stopped = [], []
    first_request, commit_page = sync_pull._search, sync_pull._commit_page

    def recording(run, index):
        path, params = first_request(run, index)
        if "_id" in params and path != "Patient":
            asked.append((path, params["_id"]))
        return path, params

    def stopping(run, resources, cursor, **kwargs):
        commit_page(run, resources, cursor, **kwargs)
        if len(asked) == 2 and not stopped:  # the second read by id is committed: stop
            stopped.append(True)
            raise sync.SoftTimeLimitExceeded

    monkeypatch.setattr(sync_pull, "_search", recording)
    monkeypatch.setattr(sync_pull, "_commit_page", stopping)
    monkeypatch.setattr(sync, "enqueue", lambda run: None)
    source = domain.link_institution(patient=patient, institution=institution)
    run = source.runs.get()

    assert sync.execute_run(run_id=run.pk) == RunStatus.QUEUED
    assert len(asked) == 2
    run = run_to_end(run)

    assert run.status == RunStatus.SUCCEEDED, run.error
    org = f"org-{hospital.hira_number}"
    assert sorted(asked) == sorted(
        [("Organization", org)] + [("Practitioner", f"prac-{n}") for n in (1, 2, 3)]
    )
    assert stored(source) == mock.ground_truth(known_patient)


def test_resources_naming_another_patient_are_refused_never_stored(live_server, hospital, patient):
    luigi = [e["resource"] for e in json.loads(LUIGI.read_text())["entry"]]
    ossie = [e["resource"] for e in json.loads(OSSIE.read_text())["entry"]]
    # A hospital whose file for this patient mixes in another person's records.
    stranger = next(r for r in ossie if r["resourceType"] == "Patient")
    claim = next(r for r in ossie if r["resourceType"] == "Claim")  # patient: urn:uuid:<ossie>
    observation = next(r for r in ossie if r["resourceType"] == "Observation")  # subject
    coverage = {
        "resourceType": "Coverage",
        "id": "coverage-of-someone-else",
        "status": "active",
        "beneficiary": {"reference": "Patient/someone-else"},
        "payor": [{"display": "국민건강보험공단"}],
    }
    typed = {
        **next(r for r in luigi if r["resourceType"] == "Immunization"),
        "id": "immunization-of-someone-else",
        "patient": {"reference": "https://other.example/fhir/Patient/someone-else/_history/2"},
    }
    foreign = [stranger, claim, observation, coverage, typed]
    mine = mock.load_file(
        institution=hospital,
        data=json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in luigi + foreign],
            }
        ).encode(),
        identifier=patient.profile.verified_identifier,
    )
    institution = onboard(live_server, hospital)  # with $everything

    source, run = link_and_sync(patient, institution)

    refused = {(r["resourceType"], r["id"]) for r in foreign}
    truth = mock.ground_truth(mine)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mine.patient_id == next(r["id"] for r in luigi if r["resourceType"] == "Patient")
    assert stored(source) == {k: v for k, v in truth.items() if k not in refused}
    assert {(i.resource_type, i.resource_id): i.code for i in run.issues.all()} == dict.fromkeys(
        refused, "other_patient"
    )
    assert run.invalid == len(refused) == 5


def test_patient_not_found_is_a_clear_outcome(patient, institution):
    with pytest.raises(domain.PatientNotFound, match="has no records under your verified identity"):
        domain.link_institution(patient=patient, institution=institution)
    assert not Source.objects.exists()


def test_resync_without_changes_changes_nothing(patient, institution, known_patient):
    source, first = link_and_sync(patient, institution)
    second = run_to_end(domain.trigger_sync(source=source)[0])
    assert second.status == RunStatus.SUCCEEDED
    assert (second.created_count, second.updated, second.invalid) == (0, 0, 0)
    assert second.since == first.server_time


def test_incremental_sync_fetches_only_what_changed(patient, institution, hospital, known_patient):
    source, _ = link_and_sync(patient, institution)
    result = mock.advance_clock(institution=hospital, days=120)

    second = run_to_end(domain.trigger_sync(source=source)[0])

    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.fetched == result["created"] + result["amended"]
    assert (second.created_count, second.updated) == (result["created"], result["amended"])
    assert stored(source) == mock.ground_truth(known_patient)


def test_two_triggers_at_once_make_one_run(patient, institution, known_patient):
    source, _ = link_and_sync(patient, institution)
    results, barrier = [], threading.Barrier(8)

    def trigger():
        barrier.wait()
        try:
            results.append(domain.trigger_sync(source=source))
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(created for _, created in results) == 1
    assert len({run.pk for run, _ in results}) == 1
    assert source.runs.filter(status__in=["queued", "running"]).count() == 1


def test_a_claimed_run_is_not_run_twice(patient, institution, known_patient):
    source, _ = link_and_sync(patient, institution)
    run, _ = domain.trigger_sync(source=source)
    assert sync.claim(run.pk).status == RunStatus.RUNNING
    with pytest.raises(sync.Busy):
        sync.execute_run(run_id=run.pk)  # a second delivery while the first holds the lease


def test_institution_cap_defers_extra_runs(patient, other_patient, institution, hospital):
    for user in (patient, other_patient):
        mock.register_patient(institution=hospital, identifier=user.profile.verified_identifier)
    institution.max_concurrent_syncs = 1
    institution.save()
    first = domain.link_institution(patient=patient, institution=institution).runs.get()
    second = domain.link_institution(patient=other_patient, institution=institution).runs.get()
    sync.claim(first.pk)
    with pytest.raises(sync.Busy):
        sync.claim(second.pk)


def test_a_dead_workers_run_resumes_from_its_cursor(patient, institution, known_patient, settings):
    settings.PHR_SYNC_PAGE_SIZE = 20
    source = domain.link_institution(patient=patient, institution=institution)
    run = source.runs.get()
    claimed = sync.claim(run.pk)
    with fhir_client.FHIRClient(institution) as client:  # a worker gets three pages, then dies
        claimed.cursor = {"mode": "everything", "index": 0, "url": None, "received": 0}
        claimed.since = None
        claimed.save()
        original = sync_pull._commit_page
        pages = []

        def die_after_three(*args, **kwargs):
            if len(pages) == 3:
                raise SystemExit("killed")
            pages.append(1)
            return original(*args, **kwargs)

        sync_pull._commit_page = die_after_three
        try:
            with pytest.raises(SystemExit):
                sync_pull._pull_pages(claimed, client)
        finally:
            sync_pull._commit_page = original
    SyncRun.objects.filter(pk=run.pk).update(lease_until=None)  # the lease lapses

    finished = run_to_end(run)

    assert finished.status == RunStatus.SUCCEEDED, finished.error
    assert Record.objects.filter(source=source).count() == len(mock.ground_truth(known_patient))
    assert stored(source) == mock.ground_truth(known_patient)


def _luigi_file(resources) -> bytes:
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
    ).encode()


def test_resync_of_a_changed_resource_updates_every_projected_column(
    live_server, hospital, patient
):
    resources = [e["resource"] for e in json.loads(LUIGI.read_text())["entry"]]
    bp = next(r for r in resources if r["resourceType"] == "Observation" and r.get("component"))
    lab = next(r for r in resources if "laboratory" in json.dumps(r.get("category")))
    # A Synthea prescription (another Synthea patient's, made Luigi's): its facts change too.
    micah = json.loads(
        (SYNTHEA / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json").read_text()
    )
    med = next(
        e["resource"]
        for e in micah["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    )
    med = {k: v for k, v in med.items() if k not in ("encounter", "requester", "reasonReference")}
    med["subject"] = bp["subject"]
    resources.append(med)
    # First sent with the hospital's local code only; the correction adds the LOINC code.
    loinc = lab["code"]["coding"][0]
    lab["code"] = {"coding": [{"system": "urn:oid:1.2.410.100.1", "code": "L-WBC"}]}
    mine = mock.load_file(
        institution=hospital,
        data=_luigi_file(resources),
        identifier=patient.profile.verified_identifier,
    )
    institution = onboard(live_server, hospital)
    source, first = link_and_sync(patient, institution)
    assert first.status == RunStatus.SUCCEEDED, first.error
    before = {
        key: {f: getattr(r, f) for f in PROJECTED_FIELDS}
        for key, r in (
            (k, Record.objects.get(source=source, resource_type=k[0], resource_id=k[1]))
            for k in (
                ("Observation", bp["id"]),
                ("Observation", lab["id"]),
                ("MedicationRequest", med["id"]),
            )
        )
    }
    # The hospital corrects both: every projected column of one or the other changes.
    hospital.clock += dt.timedelta(days=1)
    hospital.save()
    corrected = hospital.clock.isoformat()
    bp["status"], bp["effectiveDateTime"] = "amended", "2020-10-21T08:00:00+09:00"
    bp["meta"] = {"lastUpdated": corrected}
    bp["code"]["text"] = "혈압 (정정)"
    bp["code"]["coding"].append({"system": "http://snomed.info/sct", "code": "75367002"})
    for component in bp["component"]:
        component["valueQuantity"]["value"] += 2  # a corrected systolic and diastolic
    lab["code"] = {"coding": [lab["code"]["coding"][0], loinc], "text": "백혈구 수"}
    lab["category"] = [{"coding": [{"code": "hematology"}]}]  # other test, no longer lab
    lab["valueQuantity"] = {**lab["valueQuantity"], "unit": "10*9/L", "value": 7.1}
    lab["meta"] = {"lastUpdated": corrected}
    med["authoredOn"], med["meta"] = "2018-01-02T09:00:00+09:00", {"lastUpdated": corrected}
    med["dosageInstruction"] = [{"text": "하루 1회"}]
    mock.load_file(institution=hospital, data=_luigi_file(resources), identifier=mine.identifier)

    second = run_to_end(domain.trigger_sync(source=source)[0])

    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.updated == 3
    changed = set()
    for resource in (bp, lab, med):
        record = Record.objects.get(
            source=source, resource_type=resource["resourceType"], resource_id=resource["id"]
        )
        columns = project(resource).columns()
        assert set(columns) == set(PROJECTED_FIELDS)
        assert {f: getattr(record, f) for f in columns} == columns
        assert record.content_hash == content_hash(resource)
        was = before[(resource["resourceType"], resource["id"])]
        changed |= {f for f in columns if columns[f] != was[f]}
    assert changed == set(PROJECTED_FIELDS)


# --- Faults ----------------------------------------------------------------------------------

FAULTS = {
    "timeout": {"timeout_rate": 0.25, "timeout_seconds": 0.8},
    "expired_token": {"expired_token_rate": 0.3},
    "rate_limit": {"rate_limit_rate": 0.3, "retry_after": 0},
    "rate_limit_http_date": {
        "rate_limit_rate": 0.2,
        "retry_after": 0,
        "retry_after_format": "http-date",
    },
    "error": {"error_rate": 0.3},
    "next_404": {"truncate_rate": 0.1, "truncate_mode": "next_404"},
    "short_page": {"truncate_rate": 0.1, "truncate_mode": "short_page"},
    "duplicate": {"duplicate_rate": 0.5},
    "malformed": {"malformed_rate": 0.3},
    "reset": {"reset_rate": 0.3},
    "latency": {"latency_ms": 20},
}


@pytest.mark.parametrize("fault", FAULTS)
def test_sync_under_each_fault_matches_the_ground_truth(
    patient, institution, hospital, known_patient, fault, settings
):
    settings.PHR_SYNC_RESTARTS = 10
    settings.PHR_SYNC_PAGE_SIZE = 25  # ~10 pages: room for every fault to strike
    settings.PHR_FHIR_TIMEOUT = 0.5
    truth = mock.ground_truth(known_patient)
    # Seed 1: every fault type strikes within the first pages of this patient's sync.
    mock.set_faults(institution=hospital, settings=FAULTS[fault], seed=1)

    source, run = link_and_sync(patient, institution)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == truth
    assert not SyncIssue.objects.exists()
    # The fault really struck: requests were retried, the search restarted, or resources repeated.
    requests = cache.get(f"mockhospital:requests:{hospital.pk}:{hospital.fault_seed}") or 0
    pages = -(-len(truth) // 25) + 1  # + the patient lookup
    if fault in ("next_404", "short_page"):
        assert run.restarts > 0
    elif fault == "duplicate":
        assert run.fetched > len(truth)
    elif fault != "latency":
        assert requests > pages


def test_invalid_resources_become_issues_not_records(patient, institution, hospital, known_patient):
    mock.set_faults(institution=hospital, settings={"invalid_rate": 0.1}, seed=5)
    source, run = link_and_sync(patient, institution)

    invalid = mock.invalid_keys(known_patient)
    truth = {k: v for k, v in mock.ground_truth(known_patient).items() if k not in invalid}
    assert run.status == RunStatus.SUCCEEDED
    assert stored(source) == truth
    assert run.invalid == len(invalid) > 0
    issues = {(i.resource_type, i.resource_id): i for i in SyncIssue.objects.filter(run=run)}
    assert set(issues) == invalid
    # `status` became an object: the wrong form where R4 has a status, unknown where it has not.
    assert {
        (i.code, i.params["more"], *i.params["problems"][0].values()) for i in issues.values()
    } <= {
        ("invalid", 0, "status", "string_type"),
        ("invalid", 0, "status", "extra_forbidden"),
    }
    assert all(len(i.params["problems"]) == 1 for i in issues.values())
    assert {i.message for i in issues.values()} <= {
        "Not valid FHIR R4: status has the wrong form.",
        "Not valid FHIR R4: status is not an element of FHIR R4.",
    }


def test_permanent_failure_is_explained_and_leaves_no_half_page(
    patient, institution, hospital, known_patient
):
    source = domain.link_institution(patient=patient, institution=institution)
    hospital.client_secret = "rotated-by-the-hospital"
    hospital.save()

    run = run_to_end(source.runs.get())

    assert run.status == RunStatus.FAILED
    assert run.error == "The hospital refused the platform's credentials (HTTP 401)."
    assert not Record.objects.filter(source=source).exists()


def test_exhausted_retries_fail_with_a_reason(patient, institution, hospital, known_patient):
    source = domain.link_institution(patient=patient, institution=institution)
    mock.set_faults(institution=hospital, settings={"error_rate": 1})
    run = run_to_end(source.runs.get())
    assert run.status == RunStatus.FAILED
    assert run.error.startswith(
        "The hospital kept failing after several attempts: The hospital's server had an error"
    )


def test_a_failed_runs_reason_is_shown_in_the_readers_language(
    client, patient, institution, hospital, known_patient
):
    source = domain.link_institution(patient=patient, institution=institution)
    mock.set_faults(institution=hospital, settings={"error_rate": 1})
    with translation.override("ko"):  # the worker's language is nobody's in particular
        run = run_to_end(source.runs.get())
    client.force_login(patient)

    english = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    korean = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    api = client.get(f"/api/v1/sync-runs/{run.code}/", HTTP_ACCEPT_LANGUAGE="en").json()

    assert run.status == RunStatus.FAILED
    assert (
        run.error_message["msgid"] == "The hospital kept failing after several attempts: %(reason)s"
    )
    assert run.error_message["params"]["reason"]["msgid"].startswith("The hospital's server had")
    english_reason = (
        "The hospital kept failing after several attempts: The hospital's server had an error "
        f"(HTTP {run.error_message['params']['reason']['params']['status']})."
    )
    assert escape(english_reason) in english
    assert api["error"] == english_reason
    assert escape(english_reason) not in korean
    assert escape(run.error) in korean  # the words of the worker's language, Korean here
    assert run.error != english_reason


# --- Unlinking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("purge", [True, False])
def test_unlink_stops_syncing_and_optionally_deletes(patient, institution, known_patient, purge):
    source, _ = link_and_sync(patient, institution)
    count = Record.objects.filter(source=source).count()
    domain.unlink_source(source=source, purge=purge)
    assert Record.objects.filter(source=source).count() == (0 if purge else count)
    with pytest.raises(ValueError, match="unlinked"):
        domain.trigger_sync(source=source)


# --- Imports -----------------------------------------------------------------------------------


def expected_counts(path: Path) -> collections.Counter:
    data = json.loads(path.read_text())
    resources = (
        [e["resource"] for e in data["entry"]] if data["resourceType"] == "Bundle" else [data]
    )
    return collections.Counter(
        r["resourceType"] for r in {(r["resourceType"], r["id"]): r for r in resources}.values()
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "synthea").glob("*.json")))
def test_import_synthea_bundle_gives_exact_counts(patient, name):
    path = FIXTURES / "synthea" / name
    source = domain.import_file(
        patient=patient, filename=name, data=path.read_bytes(), identity_confirmed=True
    )
    run = run_to_end(source.runs.get())
    assert run.status == RunStatus.SUCCEEDED, run.error
    counts = collections.Counter(
        Record.objects.filter(source=source).values_list("resource_type", flat=True)
    )
    assert counts + _invalid_counts(run) == expected_counts(path)
    assert run.invalid == sum(_invalid_counts(run).values())


def _invalid_counts(run) -> collections.Counter:
    return collections.Counter(run.issues.values_list("resource_type", flat=True))


def test_import_hl7_examples_gives_exact_counts(patient):
    files = sorted((FIXTURES / "hl7-r4-examples").glob("*.json"))
    lines = []
    for path in files:
        document = json.loads(path.read_text())
        if document["resourceType"] != "Bundle":
            lines.append(json.dumps(document))
    source = domain.import_file(
        patient=patient,
        filename="examples.ndjson",
        data="\n".join(lines).encode(),
        identity_confirmed=True,
    )
    run = run_to_end(source.runs.get())

    assert run.status == RunStatus.SUCCEEDED, run.error
    expected = collections.Counter(json.loads(line)["resourceType"] for line in lines)
    stored_counts = collections.Counter(
        Record.objects.filter(source=source).values_list("resource_type", flat=True)
    )
    assert stored_counts + _invalid_counts(run) == expected
    assert run.fetched == len(lines)


def test_non_fhir_file_is_refused(patient):
    with pytest.raises(domain.NotFHIR, match="no resourceType"):
        domain.import_file(patient=patient, filename="x.json", data=b'{"hello": 1}')
    with pytest.raises(domain.NotFHIR, match="line 1 cannot be read"):
        domain.import_file(patient=patient, filename="x.csv", data=b"a,b\n1,2\n")
    assert not Source.objects.exists()


def test_oversized_file_is_refused_with_the_limit(patient, settings):
    settings.PHR_UPLOAD_MAX_BYTES = 1024
    with pytest.raises(domain.NotFHIR, match="the limit is 0 MB"):
        domain.import_file(patient=patient, filename="big.json", data=b" " * 2048)


# --- Resource types and FHIR versions ---------------------------------------------------------

R4_EXAMPLES = FIXTURES / "hl7-r4-examples"
OLDER = FIXTURES / "older-versions"


def upload(patient, name: str, resources: list[dict], **decisions) -> Source:
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in resources).encode()
    return domain.import_file(
        patient=patient, filename=name, data=data, identity_confirmed=True, **decisions
    )


def test_unknown_and_r4_only_types_are_judged_by_type(patient):
    luigi = [e["resource"] for e in json.loads(LUIGI.read_text())["entry"]]
    # R4 4.0.1 types that R4B dropped: valid FHIR R4, checked by the R4 schema.
    r4_only = [
        json.loads((R4_EXAMPLES / f"{name}-example.json").read_text())
        for name in ("EffectEvidenceSynthesis", "RiskEvidenceSynthesis")
    ]
    foo = {"resourceType": "Foo", "id": "foo-1"}
    stu3 = {  # STU3's name for what R4 calls ServiceRequest
        "resourceType": "ProcedureRequest",
        "id": "pr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "urn:uuid:1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06"},
    }
    source = upload(patient, "mixed.ndjson", [*luigi[:30], foo, stu3, *r4_only, *luigi[30:]])

    run = run_to_end(source.runs.get())

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert set(stored(source)) == {(r["resourceType"], r["id"]) for r in luigi + r4_only}
    assert (run.fetched, run.created_count, run.invalid) == (65, 63, 2)
    assert {(i.resource_type, i.resource_id, i.code, i.message) for i in run.issues.all()} == {
        ("Foo", "foo-1", "unknown_type", "“Foo” is not a type of record that FHIR R4 defines."),
        (
            "ProcedureRequest",
            "pr-1",
            "older_version",
            "“ProcedureRequest” is a type of record of an older FHIR version (DSTU2 or STU3); "
            "PHR reads FHIR R4.",
        ),
    }


def wait_for_end(run: SyncRun, seconds: float = 60) -> SyncRun:
    for _ in range(int(seconds * 10)):
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        threading.Event().wait(0.1)
    raise AssertionError(f"the run is still {run.status} after {seconds}s: {run.fetched} received")


OLDER_FILES = {
    # file: (resources, stored, {(type, the reason in words)})
    "dstu2-Considine_Douglas_0.json": (
        5,
        1,
        {
            ("Patient", "Not valid FHIR R4: name[0].family has the wrong form."),
            ("Organization", "Not valid FHIR R4: type should be a list of values."),
            (
                "Encounter",
                "Not valid FHIR R4: class has the wrong form; patient is not an element of "
                "FHIR R4.",
            ),
            ("Observation", "Not valid FHIR R4: category should be a list of values."),
        },
    ),
    "stu3-Considine_Douglas_0.json": (
        5,
        3,
        {
            ("Observation", "Not valid FHIR R4: context is not an element of FHIR R4."),
            ("DiagnosticReport", "Not valid FHIR R4: context is not an element of FHIR R4."),
        },
    ),
    "pre-final-r4-Charis952_Blanda868.json": (
        23,
        4,
        {
            ("Observation", "Not valid FHIR R4: context is not an element of FHIR R4."),
            ("DiagnosticReport", "Not valid FHIR R4: context is not an element of FHIR R4."),
            # Judged by R4's schema: Immunization.occurrence[x] is 1..1 in R4; problems named
            # in the order R4 defines the elements (Claim's type, use, created… first).
            (
                "Immunization",
                "Not valid FHIR R4: date is not an element of FHIR R4; occurrence[x] is "
                "required but missing.",
            ),
            (
                "Claim",
                "Not valid FHIR R4: type is required but missing; use has a value FHIR R4 "
                "does not allow; created is required but missing; priority is required but "
                "missing; insurance is required but missing; and 7 more.",
            ),
        },
    ),
}


@pytest.mark.worker
@pytest.mark.parametrize("name", OLDER_FILES)
def test_older_fhir_versions_end_with_a_readable_outcome(patient, worker, name):
    total, kept, reasons = OLDER_FILES[name]
    source = domain.import_file(
        patient=patient,
        filename=name,
        data=(OLDER / name).read_bytes(),
        identity_confirmed=True,
    )

    run = wait_for_end(source.runs.get())

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.fetched, run.created_count, run.invalid) == (total, kept, total - kept)
    assert Record.objects.filter(source=source).count() == kept
    assert {(i.resource_type, i.message) for i in run.issues.all()} == reasons


@pytest.mark.worker
def test_unknown_type_in_a_page_does_not_stall_the_run(patient, worker):
    luigi = [e["resource"] for e in json.loads(LUIGI.read_text())["entry"]]
    source = upload(patient, "foo.ndjson", [{"resourceType": "Foo", "id": "x"}, *luigi])

    run = wait_for_end(source.runs.get())

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert set(stored(source)) == {(r["resourceType"], r["id"]) for r in luigi}
    assert list(run.issues.values_list("resource_type", "code")) == [("Foo", "unknown_type")]


REFUSE_RECORDS = """
CREATE FUNCTION h1_refuse_records() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'records refused (test)'; END $$;
CREATE TRIGGER h1_refuse_records BEFORE INSERT ON records_record
FOR EACH ROW EXECUTE FUNCTION h1_refuse_records();
"""


@pytest.mark.worker
def test_an_unexpected_error_fails_the_run_after_bounded_attempts(patient, worker, settings):
    settings.PHR_SYNC_ATTEMPTS = 3
    settings.PHR_SYNC_RETRY_DELAY = 0
    # A fault no code path foresees: the database refuses every new record.
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_RECORDS)
    try:
        source = domain.import_file(
            patient=patient, filename=LUIGI.name, data=LUIGI.read_bytes(), identity_confirmed=True
        )
        run = wait_for_end(source.runs.get())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION h1_refuse_records() CASCADE")

    assert run.status == RunStatus.FAILED
    assert run.crashes == 3
    assert run.error == (
        "The sync stopped because of an unexpected error (RaiseException), 3 times in a row. "
        "It has been logged for the operators; try again later."
    )
    assert run.finished_at is not None
    assert not Record.objects.filter(source=source).exists()


def test_a_run_whose_workers_keep_dying_fails_after_bounded_attempts(patient, settings):
    settings.PHR_SYNC_ATTEMPTS = 2
    source = domain.import_file(
        patient=patient, filename=LUIGI.name, data=LUIGI.read_bytes(), identity_confirmed=True
    )
    run = source.runs.get()
    for _ in range(2):  # a worker claims it, then dies: the lease lapses
        sync.claim(run.pk)
        SyncRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())

    assert sync.execute_run(run_id=run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.crashes) == (RunStatus.FAILED, 2)
    assert run.error == (
        "The sync stopped because of an unexpected error (the worker stopped), 2 times in a "
        "row. It has been logged for the operators; try again later."
    )


# --- Rejected resources explained ------------------------------------------------------------


def prefinal_with_copies(copies: int) -> list[dict]:
    """The pre-final R4 Synthea file (19 of its 23 resources invalid as R4 4.0.1), its invalid
    Observations repeated under new ids: a file with many rejected resources."""
    resources = [e["resource"] for e in json.loads((OLDER / OLDER_PREFINAL).read_text())["entry"]]
    observations = [r for r in resources if r["resourceType"] == "Observation" and "context" in r]
    extra = [{**r, "id": f"{r['id']}-{n}"} for n in range(copies) for r in observations]
    return resources + extra


OLDER_PREFINAL = "pre-final-r4-Charis952_Blanda868.json"


def test_rejected_resources_are_all_listed_paged_and_named(client, patient):
    source = upload(patient, "old-export.ndjson", prefinal_with_copies(2))  # 19 + 32 rejected
    run = run_to_end(source.runs.get())
    assert (run.status, run.invalid) == (RunStatus.SUCCEEDED, 51)
    client.force_login(patient)

    first = client.get(f"/sources/{source.code}/").content.decode()
    second = client.get(f"/sources/{source.code}/?issues=2").content.decode()

    assert "51 records in your file do not follow FHIR R4" in first
    assert "the institution" not in first
    assert "1–50 of 51" in first
    assert "and 1 more" in first
    assert "51–51 of 51" in second
    assert "and 1 more" not in second
    rows = first.count("Not valid FHIR R4: ") + second.count("Not valid FHIR R4: ")
    assert rows == 51
    # Named by what it is and when.
    observation = run.issues.filter(resource_type="Observation").first()
    assert observation.display != ""
    assert observation.effective is not None
    when = date_filter(localtime(observation.effective), "SHORT_DATE_FORMAT")
    assert (
        f'<td>{observation.display} <span class="muted">(Observation)</span></td>'
        f'<td class="date">{when}</td>'
    ) in first


def test_source_page_queries_do_not_grow_with_its_issues(
    client, patient, django_assert_num_queries
):
    small = upload(patient, "small.ndjson", prefinal_with_copies(0))  # 19 rejected
    large = upload(patient, "large.ndjson", prefinal_with_copies(5), decision="import")  # 99
    assert [run_to_end(s.runs.get()).invalid for s in (small, large)] == [19, 99]
    client.force_login(patient)
    client.get(f"/sources/{small.code}/")  # the session's first request loads more

    for source in (small, large):
        # session, user, the source, its last runs, the record count, the page of issues
        # (no COUNT of issues: the run's invalid counter is their number)
        with django_assert_num_queries(6):
            assert client.get(f"/sources/{source.code}/").status_code == 200


def test_an_institutions_rejected_resources_say_the_institution_can_correct_them(
    client, patient, institution, hospital, known_patient
):
    mock.set_faults(institution=hospital, settings={"invalid_rate": 0.1}, seed=5)
    source, run = link_and_sync(patient, institution)
    client.force_login(patient)

    page = client.get(f"/sources/{source.code}/").content.decode()

    assert f"{run.invalid} records the institution sent do not follow the standard" in page
    assert "The institution can correct them" in page
    assert "your file" not in page


def test_resources_without_a_usable_type_or_id_are_issues(patient, institution, known_patient):
    truth = mock.ground_truth(known_patient)
    odd = [
        {"resourceType": ["Observation"], "id": "list-type"},
        {"resourceType": "Observation", "id": {"value": "x"}},
        {"resourceType": "", "id": "empty-type"},
        {"id": "no-type"},
        ["not", "a", "resource"],
    ]
    for n, body in enumerate(odd):  # served as the hospital holds them
        MockResourceFactory(patient=known_patient, resource_id=f"odd-{n}", body=json.dumps(body))

    source, run = link_and_sync(patient, institution)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == truth
    assert (run.fetched, run.invalid) == (len(truth) + 5, 5)
    assert set(run.issues.values_list("code", flat=True)) == {"no_type_or_id"}


def test_issue_text_is_rendered_in_the_readers_language(client, patient):
    source = upload(
        patient, "two.ndjson", [{"resourceType": "Observation"}, *prefinal_with_copies(0)]
    )
    run = run_to_end(source.runs.get())
    client.force_login(patient)

    english = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    korean = client.get(f"/sources/{source.code}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert run.issues.get(code="no_type_or_id").params == {}
    assert "A resource without a type or an id." in english
    assert "유형이나 ID가 없는 리소스." in korean
    assert "A resource without a type or an id." not in korean


def test_api_lists_a_runs_issues_paginated_in_the_readers_language(client, patient, password):
    source = upload(patient, "old-export.ndjson", prefinal_with_copies(2))
    run = run_to_end(source.runs.get())
    client.force_login(patient)
    url = f"/api/v1/sync-runs/{run.code}/issues/"

    first = client.get(url, {"page_size": 50}, HTTP_ACCEPT_LANGUAGE="en").json()
    rest = client.get(first["next"], HTTP_ACCEPT_LANGUAGE="en").json()

    listed = first["results"] + rest["results"]
    assert (len(first["results"]), len(rest["results"]), rest["next"]) == (50, 1, None)
    assert len(listed) == 51
    assert {(i["resource_type"], i["resource_id"]) for i in listed} == set(
        run.issues.values_list("resource_type", "resource_id")
    )
    claim = next(i for i in listed if i["resource_type"] == "Claim")
    assert claim["code"] == "invalid"
    assert claim["params"]["problems"][0] == {"path": "type", "error": "missing"}
    assert claim["message"].startswith("Not valid FHIR R4: type is required but missing; ")
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/sync-runs/{id}/issues/"]["get"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert reference == "#/components/schemas/PaginatedSyncIssueList"


def test_issue_messages_stored_as_text_are_read_back_into_codes():
    assert issue_codes.from_text(
        "올바른 FHIR R4가 아닙니다 (clinicalStatus: json_invalid; code: missing)."
    ) == (
        "invalid",
        {
            "problems": [
                {"path": "clinicalStatus", "error": "json_invalid"},
                {"path": "code", "error": "missing"},
            ]
        },
    )
    assert issue_codes.from_text("Unknown resource type Foo.") == ("unknown_type", {"type": "Foo"})
    assert issue_codes.from_text("유형이나 ID가 없는 리소스.") == ("no_type_or_id", {})
    assert issue_codes.from_text("Not valid FHIR R4 (ValueError).") == (
        "unreadable",
        {"error": "ValueError"},
    )
    assert issue_codes.from_text("뭔가 다른 문제") == ("legacy", {"text": "뭔가 다른 문제"})


# --- A real worker -----------------------------------------------------------------------------


@pytest.mark.worker
def test_real_worker_syncs_through_redis(patient, institution, known_patient):
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        source = domain.link_institution(patient=patient, institution=institution)
        run = source.runs.get()
        for _ in range(300):
            run.refresh_from_db()
            if run.status in ("succeeded", "failed"):
                break
            threading.Event().wait(0.1)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == mock.ground_truth(known_patient)

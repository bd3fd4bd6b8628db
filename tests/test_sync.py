import collections
import json
import threading
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.db import connection

from institutions import domain, fhir_client, sync
from institutions.models import Institution, RunStatus, RunTrigger, Source, SyncIssue, SyncRun
from mockhospital import domain as mock
from phr.celery import app
from records.models import Record
from tests.conftest import onboard, run_to_end
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
        "Connected. FHIR 4.0.1, 11 resource types, no $everything"
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
    assert stored(source) == mock.ground_truth(known_patient)


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
        original = sync._commit_page
        pages = []

        def die_after_three(*args, **kwargs):
            if len(pages) == 3:
                raise SystemExit("killed")
            pages.append(1)
            return original(*args, **kwargs)

        sync._commit_page = die_after_three
        try:
            with pytest.raises(SystemExit):
                sync._pull_pages(claimed, client)
        finally:
            sync._commit_page = original
    SyncRun.objects.filter(pk=run.pk).update(lease_until=None)  # the lease lapses

    finished = run_to_end(run)

    assert finished.status == RunStatus.SUCCEEDED, finished.error
    assert Record.objects.filter(source=source).count() == len(mock.ground_truth(known_patient))
    assert stored(source) == mock.ground_truth(known_patient)


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
    issues = {
        (i.resource_type, i.resource_id): i.message for i in SyncIssue.objects.filter(run=run)
    }
    assert set(issues) == invalid
    assert all(m.startswith("Not valid FHIR R4 (status") for m in issues.values())


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

"""A page fetched ahead is also validated and projected ahead (records.ingest.prepare_page, in
the client's thread, while the page before is stored): what is stored, refused and counted is
the same as when each page is worked out where it is stored, and nothing is validated for
nothing when a server sends everything again."""

import copy
import logging
import threading

import pytest

from institutions import domain, sync_pull
from institutions.models import RunStatus, SyncIssue
from mockhospital import domain as mock
from records import ingest
from records.models import Record
from records.projection import PROJECTED_FIELDS
from tests.conftest import run_to_end
from tests.factories import SourceFactory
from tests.records_data import stored

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pages_of_20(settings):
    settings.PHR_SYNC_PAGE_SIZE = 20  # the mock patient's 250 resources: 13 pages


@pytest.fixture
def prepared(monkeypatch):
    """Each page prepare_page worked out: (thread name, number of resources)."""
    calls = []
    original = ingest.prepare_page

    def spy(resources, **kwargs):
        calls.append((threading.current_thread().name, len(resources)))
        return original(resources, **kwargs)

    monkeypatch.setattr(sync_pull, "prepare_page", spy)
    return calls


@pytest.fixture
def validated_here(monkeypatch):
    """The resources ingest_page validated itself (not ahead), by thread."""
    calls = []
    original = ingest.validate

    def spy(resource):
        calls.append(threading.current_thread().name)
        return original(resource)

    monkeypatch.setattr(ingest, "validate", spy)
    return calls


def _columns(source) -> dict:
    return {
        (r["resource_type"], r["resource_id"]): r
        for r in Record.objects.filter(source=source).values(
            "resource_type", "resource_id", "content_hash", "resource", *PROJECTED_FIELDS
        )
    }


def _sync(patient, institution):
    source = domain.link_institution(patient=patient, institution=institution)
    return source, run_to_end(source.runs.get())


def test_pages_fetched_ahead_are_worked_out_in_the_fetching_thread(
    patient, institution, hospital, known_patient, pages_of_20, prepared, validated_here
):
    mock.set_faults(institution=hospital, settings={"invalid_rate": 0.1}, seed=5)

    source, run = _sync(patient, institution)

    invalid = mock.invalid_keys(known_patient)
    truth = {k: v for k, v in mock.ground_truth(known_patient).items() if k not in invalid}
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == truth
    issues = {(i.resource_type, i.resource_id) for i in SyncIssue.objects.filter(run=run)}
    assert issues == invalid
    assert run.invalid == len(invalid) > 0
    # Every page after the first was worked out ahead, in the thread that fetched it…
    pages = -(-len(mock.ground_truth(known_patient)) // 20)
    assert len(prepared) == pages - 1
    assert {name for name, _n in prepared} == {"fhir-page-ahead"}
    # …so that where pages are stored only the first page's resources were validated.
    assert validated_here.count("MainThread") <= 20


def test_what_is_stored_is_the_same_with_and_without_working_pages_out_ahead(
    patient, institution, hospital, known_patient, pages_of_20, monkeypatch
):
    mock.set_faults(institution=hospital, settings={"invalid_rate": 0.1}, seed=5)
    source, run = _sync(patient, institution)
    assert run.status == RunStatus.SUCCEEDED
    ahead = _columns(source), sorted(SyncIssue.objects.values_list("resource_id", "code", "params"))
    domain.unlink_source(source=source, purge=True)
    SyncIssue.objects.all().delete()
    monkeypatch.setattr(sync_pull, "prepare_page", lambda resources, **kwargs: None)

    source, run = _sync(patient, institution)

    assert run.status == RunStatus.SUCCEEDED
    here = _columns(source), sorted(SyncIssue.objects.values_list("resource_id", "code", "params"))
    assert len(here[0]) > 200
    assert here == ahead


def test_a_server_sending_everything_again_is_not_validated_ahead_for_nothing(
    patient, institution, hospital, known_patient, pages_of_20, prepared, validated_here
):
    source, run = _sync(patient, institution)
    assert run.status == RunStatus.SUCCEEDED
    prepared.clear()
    # The next sync asks for everything again (as after a lost high-water mark, or from a
    # server that ignores `_since`): every resource comes back unchanged.
    source.high_water_mark = None
    source.save(update_fields=["high_water_mark"])
    again, _created = domain.trigger_sync(source=source)

    again = run_to_end(again)

    assert again.status == RunStatus.SUCCEEDED
    assert again.unchanged == len(mock.ground_truth(known_patient))
    assert not again.created_count
    # The page fetched ahead of the first one stored may be worked out; none after it.
    assert len(prepared) <= 1


def test_a_failure_working_a_page_out_ahead_fails_nothing(
    patient, institution, hospital, known_patient, pages_of_20, monkeypatch, caplog
):
    def broken(resources, **kwargs):
        raise RuntimeError("broken")

    monkeypatch.setattr(sync_pull, "prepare_page", broken)
    with caplog.at_level(logging.ERROR, logger="institutions.fhir_client"):
        source, run = _sync(patient, institution)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert stored(source) == mock.ground_truth(known_patient)
    assert "preparing a page fetched ahead failed" in caplog.text


# --- ingest_page with what was worked out ahead ------------------------------------------------


@pytest.fixture
def source(patient):
    return SourceFactory(patient=patient)


def _ingest(source, resources, *, owners, ahead):
    return ingest.ingest_page(
        source_id=source.pk,
        patient_id=source.patient_id,
        resources=resources,
        owners=owners,
        ahead=ahead,
    )


def _observation(value=5.0, subject="Patient/p1"):
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-01-02",
        "valueQuantity": {"value": value, "unit": "mg/dL"},
    }


def test_ingest_uses_what_was_worked_out_ahead_only_for_the_same_resource(patient, source):
    valid = _observation()
    ahead = ingest.prepare_page([valid], owners=frozenset({"p1"}))
    # Another object under the same key (a page changed since): worked out again, and this
    # one is not valid R4.
    changed = copy.deepcopy(valid)
    changed["status"] = {"not": "a code"}

    result = _ingest(source, [changed], owners=frozenset({"p1"}), ahead=ahead)

    assert result.created == 0
    assert [r.code for r in result.refusals] == ["invalid"]
    assert not Record.objects.filter(source=source).exists()


def test_ingest_checks_the_owners_again_when_they_are_not_those_worked_out_ahead(patient, source):
    resource = _observation(subject="Patient/p1")
    ahead = ingest.prepare_page([resource], owners=frozenset({"p1"}))

    result = _ingest(source, [resource], owners=frozenset({"p2"}), ahead=ahead)

    assert [r.code for r in result.refusals] == [ingest.OTHER_PATIENT]
    assert not Record.objects.filter(source=source).exists()


def test_a_resource_worked_out_ahead_is_stored_as_it_would_be_otherwise(patient, source):
    resource = _observation(value=7.25)
    ahead = ingest.prepare_page([resource], owners=frozenset({"p1"}))
    assert ahead[("Observation", "o1")].checked

    result = _ingest(source, [resource], owners=frozenset({"p1"}), ahead=ahead)

    assert result.created == 1
    record = Record.objects.get(source=source)
    assert (record.value_num, record.code_value, record.resource) == (7.25, "2345-7", resource)


def test_prepare_page_never_raises_on_what_is_not_a_resource():
    hostile = [None, 1, "x", [], {"resourceType": ["Obs"]}, {"resourceType": "X", "id": True}]
    assert ingest.prepare_page(hostile) == {}

"""What a sync costs besides its pages: the access token reused across syncs (refetched after
it expires or is refused), no patient search when the source knows the patient's id (and
recovery when the hospital no longer knows that id), the per-institution cap exact under many
parallel syncs, and the queries of a sync that finds nothing new."""

import datetime as dt
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import domain as accounts_domain
from institutions import domain, fhir_client, sync
from institutions.models import RunStatus
from mockhospital import domain as mock
from mockhospital import views as mock_views
from records.models import Record
from tests.conftest import run_to_end
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _sync(source):
    run, created = domain.trigger_sync(source=source)
    assert created
    return run_to_end(run)


@pytest.fixture
def linked(patient, institution, known_patient):
    source = domain.link_institution(patient=patient, institution=institution)
    run = run_to_end(source.runs.get())
    assert run.status == RunStatus.SUCCEEDED
    return source


# --- The access token ------------------------------------------------------------------------


def test_a_token_is_reused_across_syncs_until_shortly_before_it_expires(
    linked, hospital, institution, monkeypatch
):
    assert mock_views.tokens_issued(hospital) == 1  # the link's lookup and the first sync
    for _ in range(3):
        assert _sync(linked).status == RunStatus.SUCCEEDED
    assert mock_views.tokens_issued(hospital) == 1

    # Within the margin before the token's end (expires_in = the hospital's token lifetime),
    # it is no longer used: a new one is fetched, and then reused.
    now = time.time()
    later = now + hospital.token_lifetime - fhir_client.TOKEN_MARGIN / 2
    monkeypatch.setattr(fhir_client, "_now", lambda: later)
    assert _sync(linked).status == RunStatus.SUCCEEDED
    assert mock_views.tokens_issued(hospital) == 2
    assert _sync(linked).status == RunStatus.SUCCEEDED
    assert mock_views.tokens_issued(hospital) == 2


def test_a_refused_token_is_dropped_and_a_new_one_fetched_once(linked, hospital, institution):
    key = fhir_client._token_key(institution)
    # The hospital revoked the token the platform holds (it answers 401 to it).
    fhir_client._cache_token(institution, "revoked-token", 3600)
    assert fhir_client._cached_token(institution) == "revoked-token"

    assert _sync(linked).status == RunStatus.SUCCEEDED
    assert mock_views.tokens_issued(hospital) == 2
    fresh = fhir_client._cached_token(institution)
    assert fresh not in (None, "revoked-token")
    assert cache.get(key) is not None
    assert _sync(linked).status == RunStatus.SUCCEEDED  # and the new one is reused
    assert mock_views.tokens_issued(hospital) == 2


def test_a_token_refused_again_after_refetching_fails_the_run(linked, hospital, institution):
    mock.set_faults(institution=hospital, settings={"expired_token_rate": 1.0})
    run = _sync(linked)
    assert run.status == RunStatus.FAILED
    assert "keeps rejecting" in run.error
    assert mock_views.tokens_issued(hospital) == 2  # one refetch, not one per attempt


def test_changed_credentials_never_reuse_the_old_token(linked, hospital, institution):
    institution.client_secret = "a-new-secret"  # pragma: allowlist secret
    institution.save()
    run = _sync(linked)
    assert run.status == RunStatus.FAILED  # the hospital refuses the new secret
    assert "refused the platform's credentials" in run.error
    assert mock_views.tokens_issued(hospital) == 1


def test_the_cached_token_is_encrypted_and_never_logged(
    patient, institution, known_patient, caplog
):
    caplog.set_level("DEBUG")
    source = domain.link_institution(patient=patient, institution=institution)
    run_to_end(source.runs.get())
    token = fhir_client._cached_token(institution)
    assert token
    stored = cache.get(fhir_client._token_key(institution))
    assert token not in repr(stored)
    assert token not in caplog.text
    assert institution.client_secret not in fhir_client._token_key(institution)


def test_without_a_cache_a_sync_still_works(linked, hospital, monkeypatch):
    class Down:
        def __getattr__(self, name):
            def down(*args, **kwargs):
                raise ConnectionError("cache down")

            return down

    monkeypatch.setattr(fhir_client, "cache", Down())  # the platform's; the mock keeps its own
    assert _sync(linked).status == RunStatus.SUCCEEDED
    assert mock_views.tokens_issued(hospital) == 2


# --- The patient's id --------------------------------------------------------------------------


@pytest.fixture
def searches(monkeypatch):
    """The mock hospital's lookups of a patient by identifier (Patient?identifier=)."""
    seen = []
    real = mock.find_patient

    def find_patient(**kwargs):
        seen.append(kwargs["identifier"])
        return real(**kwargs)

    monkeypatch.setattr(mock, "find_patient", find_patient)
    return seen


def test_a_sync_does_not_search_for_a_patient_whose_id_the_source_keeps(linked, searches):
    assert _sync(linked).status == RunStatus.SUCCEEDED
    assert searches == []


def test_a_patient_id_the_hospital_no_longer_knows_is_found_again_by_identity(
    linked, patient, known_patient, searches
):
    expected = Record.objects.filter(source=linked).count()
    Record.objects.filter(source=linked).delete()
    linked.patient_ref, linked.high_water_mark = "P-merged-away", None
    linked.save()

    run = _sync(linked)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert searches == [patient.profile.verified_identifier]
    linked.refresh_from_db()
    assert linked.patient_ref == known_patient.patient_id
    assert Record.objects.filter(source=linked).count() == expected


def test_a_patient_the_hospital_no_longer_knows_at_all_fails_with_a_reason(
    linked, known_patient, searches
):
    known_patient.delete()  # the hospital dropped the patient: no id, no identity
    run = _sync(linked)
    assert run.status == RunStatus.FAILED
    assert "no longer has records" in run.error, run.error
    assert len(searches) == 1


# --- The per-institution cap -------------------------------------------------------------------


def test_the_institution_cap_is_never_exceeded_by_forty_parallel_syncs(
    institution, hospital, monkeypatch
):
    cap, count = 3, 40
    institution.max_concurrent_syncs = cap
    institution.save()
    users = [UserFactory(email=f"cap{n}@example.org") for n in range(count)]
    runs = []
    for n, user in enumerate(users):
        domain_verified(user, n)
        mock.register_patient(
            institution=hospital, identifier=user.profile.verified_identifier, size=20
        )
        runs.append(domain.link_institution(patient=user, institution=institution).runs.get())

    # Watched at the hospital: how many syncs' page requests are being answered at once.
    lock, state = threading.Lock(), {"now": 0, "peak": 0}
    real_page = mock_views._page

    def page(*args, **kwargs):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.05)  # long enough for the other threads' syncs to overlap
            return real_page(*args, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(mock_views, "_page", page)
    outcomes, errors = {}, []

    def work(run):
        try:
            for _ in range(2000):
                try:
                    outcomes[run.pk] = sync.execute_run(run_id=run.pk)
                    return
                except sync.Busy:
                    time.sleep(0.01)
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert list(outcomes.values()) == [RunStatus.SUCCEEDED] * count
    assert state["peak"] <= cap
    assert state["peak"] >= 2  # the syncs did run side by side (the test means something)


def domain_verified(user, n):
    accounts_domain.verify_identity(
        user=user,
        full_name=f"병렬{n}",
        birth_date=dt.date(1970, 1, 1) + dt.timedelta(days=n),
        sex="female",
        phone=f"010-7000-{n:04d}",
    )


# --- Queries of a sync that finds nothing new --------------------------------------------------


def test_a_sync_that_finds_nothing_new_costs_a_fixed_number_of_queries(linked):
    run, _ = domain.trigger_sync(source=linked)
    with CaptureQueriesContext(connection) as queries:
        assert sync.execute_run(run_id=run.pk) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.fetched == 0
    assert len(queries) == NO_OP_SYNC_QUERIES, "\n".join(q["sql"][:120] for q in queries)


# Claim: BEGIN, the run locked, the institution locked, its running count (a statement of its
# own: see sync._running_elsewhere), the run running, COMMIT; the one (empty) page: BEGIN, the
# run's cursor if its source is still linked, COMMIT; success: BEGIN, the run, the source's
# marks, COMMIT. (15 before: the initial cursor was saved apart, and "still linked?" asked apart.)
NO_OP_SYNC_QUERIES = 13

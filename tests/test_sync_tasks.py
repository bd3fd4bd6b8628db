"""The sync's Celery side: bounded waiting while an institution is at its cap, and the one
enqueue path holding when the broker is unreachable (runs stay queued for recovery)."""

import datetime as dt

import pytest
from django.utils import timezone

from institutions import domain, sync, sync_schedule, tasks
from institutions.models import Institution, RunStatus, Source, SyncRun
from mockhospital import domain as mock
from phr.celery import app as celery_app
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    """The app's producers point at a port nothing listens on (the real client, a real refusal)."""
    previous = celery_app.conf.get("broker_write_url")
    celery_app.conf["broker_write_url"] = "redis://127.0.0.1:1/0"
    celery_app.amqp._producer_pool = None  # built again from the URL above
    yield
    celery_app.conf["broker_write_url"] = previous
    celery_app.amqp._producer_pool = None


@pytest.fixture
def sent(monkeypatch):
    """The run ids sent to the broker (instead of sending them)."""
    ids = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, kwargs, countdown: ids.append(kwargs["run_id"])
    )
    return ids


def test_a_run_at_the_institutions_cap_is_retried_a_bounded_number_of_times_then_recovered(
    patient, other_patient, institution, hospital, monkeypatch, sent
):
    for user in (patient, other_patient):
        mock.register_patient(institution=hospital, identifier=user.profile.verified_identifier)
    institution.max_concurrent_syncs = 1
    institution.save()
    first = domain.link_institution(patient=patient, institution=institution).runs.get()
    second = domain.link_institution(patient=other_patient, institution=institution).runs.get()
    sync.claim(first.pk)  # the institution's one slot is taken
    monkeypatch.setattr(tasks, "BUSY_RETRIES", 3)
    claims, claim = [], sync.claim
    monkeypatch.setattr(sync, "claim", lambda run_id: claims.append(run_id) or claim(run_id))

    # Eager: each retry runs at once (no countdown), so an unbounded retry would never return.
    result = tasks.sync_run.apply(kwargs={"run_id": second.pk})

    assert result.successful()
    assert result.get() is None
    assert claims == [second.pk] * 4  # the delivery and three retries, then it gave up
    second.refresh_from_db()
    assert second.status == RunStatus.QUEUED  # not lost: recovery sends it again
    SyncRun.objects.filter(pk=second.pk).update(created=timezone.now() - dt.timedelta(minutes=5))
    sent.clear()  # (linking sent both runs)
    assert sync_schedule.recover_runs() == 1
    assert sent == [second.pk]
    SyncRun.objects.filter(pk=first.pk).update(status=RunStatus.SUCCEEDED, lease_until=None)
    assert tasks.sync_run.apply(kwargs={"run_id": second.pk}).get() == RunStatus.SUCCEEDED


def test_the_schedule_with_the_broker_unreachable_leaves_runs_queued_for_recovery(
    patient, other_patient, broker_down, django_capture_on_commit_callbacks, caplog
):
    institution = Institution.objects.create(
        name="한빛", hira_number="1", type_code="11", status="active"
    )
    for user in (patient, other_patient):
        Source.objects.create(patient=user, kind="institution", institution=institution)

    with (
        caplog.at_level("WARNING", logger="institutions.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sync_schedule.schedule_due_sources() == 2  # no exception escapes

    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        f"enqueue deferred run={pk}"
        for pk in SyncRun.objects.order_by("pk").values_list("pk", flat=True)
    ]
    assert set(SyncRun.objects.values_list("status", flat=True)) == {RunStatus.QUEUED}
    assert SyncRun.objects.filter(trigger="schedule").count() == 2


def test_a_request_with_the_broker_unreachable_leaves_the_run_queued(
    patient, broker_down, django_capture_on_commit_callbacks, caplog
):
    institution = Institution.objects.create(
        name="한빛", hira_number="1", type_code="11", status="active"
    )
    source = Source.objects.create(patient=patient, kind="institution", institution=institution)

    with (
        caplog.at_level("WARNING", logger="institutions.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run, created = sync.request_sync(source=source, trigger="patient")

    assert created
    assert [r.getMessage() for r in caplog.records] == [
        f"enqueue deferred run={run.pk}: OperationalError"
    ]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_enqueue_sends_the_run_by_the_name_the_worker_registers(
    monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, kwargs, countdown: calls.append((name, countdown))
    )
    institution = Institution.objects.create(name="한빛", hira_number="1", type_code="11")
    run = SyncRun.objects.create(
        source=Source.objects.create(
            patient=UserFactory(), kind="institution", institution=institution
        ),
        trigger="patient",
    )

    with django_capture_on_commit_callbacks(execute=True):
        sync.enqueue(run, countdown=7)

    assert calls == [("institutions.tasks.sync_run", 7)]
    assert tasks.sync_run.name == sync.SYNC_RUN_TASK
    assert celery_app.tasks[sync.SYNC_RUN_TASK] is tasks.sync_run._get_current_object()

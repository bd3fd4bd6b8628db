"""Beat's work: recovering runs no worker holds, re-syncing due sources; query counts of lists."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from institutions import sync_schedule
from institutions.models import Institution, RunStatus, Source, SyncRun
from phr.celery import app as celery_app
from records.models import Record
from tests.conftest import login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_institution(db):
    return Institution.objects.create(name="한빛", hira_number="1", type_code="11", status="active")


def make_source(patient, institution, **fields):
    return Source.objects.create(
        patient=patient, kind="institution", institution=institution, **fields
    )


def test_recover_runs_resends_lost_and_abandoned_runs(
    patient, other_patient, active_institution, django_capture_on_commit_callbacks, monkeypatch
):
    old = timezone.now() - dt.timedelta(minutes=10)
    lost = SyncRun.objects.create(
        source=make_source(patient, active_institution), trigger="patient"
    )
    SyncRun.objects.filter(pk=lost.pk).update(created=old)
    abandoned = SyncRun.objects.create(
        source=make_source(other_patient, active_institution),
        trigger="patient",
        status=RunStatus.RUNNING,
        lease_until=timezone.now() - dt.timedelta(seconds=1),
    )
    third = UserFactory()
    SyncRun.objects.create(  # running and holding its lease: left alone
        source=make_source(third, active_institution),
        trigger="patient",
        status=RunStatus.RUNNING,
        lease_until=timezone.now() + dt.timedelta(minutes=5),
    )
    SyncRun.objects.create(
        source=make_source(UserFactory(), active_institution), trigger="patient"
    )  # fresh
    sent = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, kwargs, countdown: sent.append(kwargs["run_id"])
    )

    with django_capture_on_commit_callbacks(execute=True):
        count = sync_schedule.recover_runs()

    assert count == 2
    assert sorted(sent) == sorted([lost.pk, abandoned.pk])


def test_schedule_queues_due_sources_once_staggered(
    patient, other_patient, active_institution, django_capture_on_commit_callbacks, monkeypatch
):
    due = make_source(
        patient, active_institution, last_synced_at=timezone.now() - dt.timedelta(days=2)
    )
    make_source(other_patient, active_institution, last_synced_at=timezone.now())  # fresh
    never = make_source(UserFactory(), active_institution)
    busy = make_source(UserFactory(), active_institution)
    SyncRun.objects.create(source=busy, trigger="patient")  # already queued
    make_source(UserFactory(), active_institution, status="unlinked")
    calls = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, kwargs, countdown: calls.append((kwargs, countdown))
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_schedule.schedule_due_sources() == 2
        assert sync_schedule.schedule_due_sources() == 0  # they are queued now

    runs = SyncRun.objects.filter(trigger="schedule")
    assert {r.source_id for r in runs} == {due.pk, never.pk}
    assert sorted(c[0]["run_id"] for c in calls) == sorted(r.pk for r in runs)
    assert all(0 <= countdown <= 605 for _, countdown in calls)


def _records(source, count):
    Record.objects.bulk_create(
        Record(
            patient=source.patient,
            source=source,
            resource_type="Observation",
            resource_id=str(n),
            category="lab",
            content_hash="x",
            resource={},
        )
        for n in range(count)
    )


@pytest.mark.parametrize("count", [2, 40])
def test_dashboard_query_count_does_not_grow(client, patient, count):
    institutions = [
        Institution.objects.create(
            name=f"병원{n}", hira_number=str(n), type_code="11", status="active"
        )
        for n in range(count)
    ]
    for institution in institutions:
        source = make_source(patient, institution)
        SyncRun.objects.create(source=source, trigger="link", status="succeeded")
        _records(source, 3)
    login(client, patient.email)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.content.decode().count('class="source"') == count
    # session, user, sources (annotated), latest runs, the data version and the records per
    # source (computed: the data changed), profile, then the dashboard's read model computed:
    # the data version, category counts, current medications (3), the sources its records
    # name (one object per source), recent visits, active problems, allergies, latest vitals:
    # the same at 2 and 40 sources
    assert len(queries) == 16, [q["sql"][:80] for q in queries]


@pytest.mark.parametrize("count", [3, 60])
def test_directory_query_count_does_not_grow(client, patient, count):
    Institution.objects.bulk_create(
        Institution(name=f"병원{n}", hira_number=str(n), type_code="11", status="active")
        for n in range(count)
    )
    login(client, patient.email)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/institutions/")
    assert response.content.decode().count('class="institution"') == count
    # session, user, linked institutions, the directory page
    assert len(queries) == 4, [q["sql"][:80] for q in queries]


@pytest.mark.parametrize("count", [2, 30])
def test_api_sources_query_count_does_not_grow(client, patient, count):
    for n in range(count):
        make_source(
            patient, Institution.objects.create(name=f"병원{n}", hira_number=str(n), type_code="11")
        )
    client.force_login(patient)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/sources/")
    assert len(response.json()["results"]) == count
    # session, user, the page of sources with their institutions
    assert len(queries) == 3, [q["sql"][:80] for q in queries]

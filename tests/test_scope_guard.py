"""The runtime guard (core.scopes, django-scopes): a query of a patient's data that the access
layer did not scope fails loudly inside a request — ScopeError, a 500, never data — and a
scoped request sees its actor's patient's rows only, whatever a view forgets to filter."""

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from django_scopes import get_scope

from core import scopes
from core.access import Actor
from institutions.models import Source, SyncRun
from records.models import Record
from sharing.models import Share
from sharing.permissions import ActsForPatient
from tests.factories import RecordFactory, SourceFactory, SyncRunFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


# Views that forget the access layer: an unscoped query of a patient's records.
def unscoped_count(request):
    return HttpResponse(str(Record.objects.filter(category="lab").count()))


def other_patients_rows(request, patient_id):
    # A view filtering by an id it was handed, not through the scoped query.
    found = Record.objects.filter(patient_id=patient_id).values_list("display", flat=True)
    return HttpResponse(",".join(found))


def related_rows(request, source_id):
    # A related manager read through the model's default manager class (scoped too).
    source = Source.objects.with_scopes_disabled().get(pk=source_id)
    return HttpResponse(str(source.records.count()))


urlpatterns = [
    path("guard/unscoped/", unscoped_count),
    path("guard/rows/<int:patient_id>/", other_patients_rows),
    path("guard/related/<int:source_id>/", related_rows),
]


@pytest.fixture
def records(patient, other_patient):
    mine = RecordFactory(source=SourceFactory(patient=patient))
    theirs = RecordFactory(source=SourceFactory(patient=other_patient))
    return mine, theirs


@pytest.mark.urls(__name__)
def test_unscoped_query_in_an_anonymous_request_raises_scope_error(client, records):
    with pytest.raises(scopes.ScopeError):
        client.get("/guard/unscoped/")


@pytest.mark.urls(__name__)
def test_unscoped_query_answers_500_and_no_data_in_production(records, caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(f"/guard/rows/{records[0].patient_id}/")

    assert response.status_code == 500
    assert records[0].display not in response.content.decode()
    assert any("ScopeError" in r.getMessage() or r.exc_info for r in caplog.records)


@pytest.mark.urls(__name__)
def test_patient_request_sees_only_their_own_rows_whatever_the_view_filters(
    client, patient, records
):
    mine, theirs = records
    client.force_login(patient)

    assert client.get(f"/guard/rows/{patient.pk}/").content.decode() == mine.display
    assert client.get(f"/guard/rows/{theirs.patient_id}/").content.decode() == ""


@pytest.mark.urls(__name__)
def test_related_managers_are_scoped_in_a_request(client, patient, records):
    mine, theirs = records
    client.force_login(patient)

    assert client.get(f"/guard/related/{mine.source_id}/").content.decode() == "1"
    assert client.get(f"/guard/related/{theirs.source_id}/").content.decode() == "0"


def test_enter_patient_narrows_the_request_scope_until_it_ends(patient, other_patient, records):
    _mine, theirs = records
    with scopes.patient_scope(None):  # an anonymous request, before it has found the share
        with pytest.raises(scopes.ScopeError):
            list(Share.objects.all())
        scopes.enter_patient(other_patient.pk)  # the share view, once it has found the share
        assert list(Record.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert Record.objects.count() == 2  # outside the request: disabled again (the fixture)


@pytest.mark.parametrize(
    "query",
    [
        lambda: Record.objects.exists(),
        lambda: Record.objects.exclude(category="lab").exists(),
        lambda: Record.objects.select_related("source").in_bulk(),
        lambda: Share.objects.all(),
        lambda: list(Share.objects.order_by("pk")),
    ],
)
def test_every_way_of_reading_unscoped_raises(records, query):
    with scopes.patient_scope(None), pytest.raises(scopes.ScopeError):
        query()


def test_enter_patient_refuses_none_which_would_mean_every_patient():
    with scopes.patient_scope(None), pytest.raises(ValueError, match="needs a patient"):
        scopes.enter_patient(None)


def test_api_permission_enters_the_token_authenticated_patients_scope(patient, records):
    mine, _theirs = records
    request = RequestFactory().get("/api/v1/records/")
    request.user = patient  # as DRF sets it once the session token has authenticated
    request.actor = Actor.patient(patient)  # sharing.middleware's, resolved after that
    with scopes.patient_scope(None):  # what the middleware saw: an anonymous request
        assert ActsForPatient().has_permission(request, view=None)
        assert list(Record.objects.values_list("pk", flat=True)) == [mine.pk]


def test_celery_task_bodies_run_with_scopes_disabled(patient):
    run = SyncRunFactory(source=SourceFactory(patient=patient))
    with scopes.patient_scope(None):  # even a task run eagerly inside a request
        task_prerun.send(sender=None, task_id="t1", task=None)
        assert SyncRun.objects.get().pk == run.pk
        task_postrun.send(sender=None, task_id="t1", task=None)
        with pytest.raises(scopes.ScopeError):
            SyncRun.objects.get()


def test_a_new_thread_outside_requests_runs_with_scopes_disabled():
    seen = []

    def work():
        try:
            Record.objects.count()  # the thread's own connection: raises if scopes were on
            seen.append(dict(get_scope()))
        finally:
            connection.close()

    with scopes.patient_scope(None):  # the spawning code's scope is not the thread's
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert seen == [{"_enabled": False}]


@pytest.mark.slow
def test_code_outside_requests_starts_with_scopes_disabled():
    # Management commands, migrations, the shell, Celery's processes: django.setup() disables.
    code = (
        "import django; django.setup(); from django_scopes.state import get_scope; "
        "print(get_scope())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "{'_enabled': False}"

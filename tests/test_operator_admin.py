"""The operator's institution pages in the admin: sync health that tells the current state, and
a connection test on each institution's own page."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from audit.models import Action, AuditEvent
from institutions.models import Institution, RunStatus, Source, SyncRun

CHANGELIST = "/admin/institutions/institution/"


@pytest.fixture
def operator(client, admin_user, settings):
    settings.PHR_STAFF_MFA_REQUIRED = False
    client.force_login(admin_user)
    return client


def _run(source, status, *, minutes_ago, error=""):
    finished = timezone.now() - dt.timedelta(minutes=minutes_ago)
    run = SyncRun.objects.create(source=source, trigger="patient", status=status, error=error)
    SyncRun.objects.filter(pk=run.pk).update(created=finished, finished_at=finished)
    return run


def _row(page: str, name: str) -> str:
    start = page.index(f">{name}</a>")
    return page[start : page.index("</tr>", start)]


@pytest.fixture
def health(patient, other_patient):
    institution = Institution.objects.create(name="한빛", hira_number="11100001", type_code="11")
    failing = Source.objects.create(patient=patient, kind="institution", institution=institution)
    return institution, failing, other_patient


def test_last_error_shown_while_the_last_run_failed(operator, health):
    _institution, source, _ = health
    _run(source, RunStatus.SUCCEEDED, minutes_ago=60)
    _run(source, RunStatus.FAILED, minutes_ago=5, error="The hospital answered HTTP 503.")
    row = _row(operator.get(CHANGELIST).content.decode(), "한빛")
    assert "The hospital answered HTTP 503." in row


def test_last_error_gone_after_a_successful_retry(operator, health):
    # After a successful retry the old error was still shown, as if the hospital still failed.
    _institution, source, _ = health
    _run(source, RunStatus.FAILED, minutes_ago=60, error="The hospital answered HTTP 503.")
    _run(source, RunStatus.SUCCEEDED, minutes_ago=5)
    row = _row(operator.get(CHANGELIST).content.decode(), "한빛")
    assert "HTTP 503" not in row
    assert "1/2 (50%)" in row  # the failure still counts in the week's rate


def test_last_error_of_a_source_still_failing_beside_one_that_recovered(operator, health):
    institution, source, other_patient = health
    other = Source.objects.create(
        patient=other_patient, kind="institution", institution=institution
    )
    _run(source, RunStatus.FAILED, minutes_ago=60, error="The hospital answered HTTP 503.")
    _run(other, RunStatus.SUCCEEDED, minutes_ago=5)
    row = _row(operator.get(CHANGELIST).content.decode(), "한빛")
    assert "The hospital answered HTTP 503." in row


def test_change_page_tests_the_connection_and_shows_the_result(operator, admin_user, institution):
    Institution.objects.filter(pk=institution.pk).update(test_ok=None, test_message="")
    change = f"{CHANGELIST}{institution.pk}/change/"
    url = f"{CHANGELIST}{institution.pk}/test-connection/"
    page = operator.get(change).content.decode()
    assert f'<form method="post" action="{url}">' in page
    assert operator.get(url).status_code == 405  # a test changes the institution: POST only

    response = operator.post(url)
    assert response.status_code == 302
    assert response["Location"] == change
    institution.refresh_from_db()
    assert institution.test_ok is True
    assert institution.test_message.startswith("Connected. FHIR 4.0.1, ")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"{institution.name}: {institution.test_message}"
    ]
    assert institution.test_message in operator.get(change).content.decode()
    event = AuditEvent.objects.get(
        action=Action.INSTITUTION_CHANGED, extra__has_key="connection_test"
    )
    assert (event.actor_id, event.object_id, event.extra) == (
        admin_user.pk,
        str(institution.pk),
        {"connection_test": "ok"},
    )


def test_bulk_connection_test_is_audited_the_same_way(operator, admin_user, institution):
    operator.post(CHANGELIST, {"action": "test_connections", "_selected_action": [institution.pk]})
    event = AuditEvent.objects.get(
        action=Action.INSTITUTION_CHANGED, extra__has_key="connection_test"
    )
    assert (event.actor_id, event.extra) == (admin_user.pk, {"connection_test": "ok"})


def test_patients_cannot_test_a_connection(client, patient, institution):
    client.force_login(patient)
    response = client.post(f"{CHANGELIST}{institution.pk}/test-connection/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not AuditEvent.objects.filter(extra__has_key="connection_test").exists()

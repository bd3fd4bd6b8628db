"""The patient's rights and the protections around their sessions: "Who saw my data", the
audit-events API, retention, delete my account, download all my data, session timeouts, MFA
for patients, re-authentication, no account enumeration, nothing sensitive in logs."""

import datetime as dt
import io
import json
import logging
import zipfile

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from accounts import domain as accounts_domain
from audit import domain as audit
from audit.models import Action, ActorKind, AuditEvent
from records.models import Record
from sharing.models import Share
from tests.conftest import login
from tests.factories import PASSWORD, AuditEventFactory, UserFactory, make_share

pytestmark = pytest.mark.django_db


# --- Who saw my data ---------------------------------------------------------------------------


def test_activity_page_tells_the_patient_who_did_what(client, patient, other_patient, kr_sources):
    _share, token = make_share(patient)
    Client().post(f"/s/{token}/", {"name": "Dr. Kim"})
    AuditEventFactory(action=Action.LOGIN, patient_id=other_patient.pk)
    login(client, patient.email)
    page = client.get("/account/activity/").content.decode()
    assert "Shared records opened" in page
    assert "Share recipient: Dr. Kim" in page
    assert "Share created" in page
    assert page.count("<tr>") - 1 == AuditEvent.objects.filter(patient_id=patient.pk).count()

    only_recipients = client.get("/account/activity/", {"who": "recipient"}).content.decode()
    assert "Shared records opened" in only_recipients
    assert "<td>Share created</td>" in page
    assert "<td>Share created</td>" not in only_recipients
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert (
        "Nothing to show."
        in client.get("/account/activity/", {"date_from": tomorrow}).content.decode()
    )


def test_activity_filter_errors_are_explained_and_kept(client, patient):
    login(client, patient.email)
    page = client.get(
        "/account/activity/", {"date_from": "2026-05-01", "date_to": "2026-04-01"}
    ).content.decode()
    assert "The end date is before the start date." in page
    assert 'value="2026-05-01"' in page


def test_audit_events_api_returns_only_the_patients_own(client, patient, other_patient):
    AuditEventFactory.create_batch(3, action=Action.SHARE_VIEWED, patient_id=other_patient.pk)
    AuditEventFactory(
        action=Action.SHARE_VIEWED,
        actor_kind=ActorKind.RECIPIENT,
        actor_label="Dr. Kim",
        patient_id=patient.pk,
    )
    client.force_login(patient)
    data = client.get("/api/v1/audit-events/").json()
    ids = {event["id"] for event in data["results"]}
    assert ids == set(AuditEvent.objects.filter(patient_id=patient.pk).values_list("id", flat=True))
    viewed = client.get("/api/v1/audit-events/", {"action": "share.viewed"}).json()["results"]
    assert [(e["actor"], e["actor_label"], e["action_label"]) for e in viewed] == [
        ("Share recipient", "Dr. Kim", "Shared records viewed")
    ]
    bad = client.get("/api/v1/audit-events/", {"date_from": "not-a-date", "who": "martian"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"date_from", "who"}
    assert client.post("/api/v1/audit-events/", {}).status_code == 405


def test_audit_events_api_pages_with_a_cursor(client, patient):
    AuditEventFactory.create_batch(7, patient_id=patient.pk)
    client.force_login(patient)
    first = client.get("/api/v1/audit-events/", {"page_size": 5}).json()
    second = client.get(first["next"]).json()
    seen = [e["id"] for e in first["results"] + second["results"]]
    assert len(seen) == len(set(seen)) == AuditEvent.objects.filter(patient_id=patient.pk).count()


# --- Retention ---------------------------------------------------------------------------------


def test_purge_removes_only_events_past_retention(settings):
    now = timezone.now()
    old = AuditEventFactory(created=now - dt.timedelta(days=settings.PHR_AUDIT_RETENTION_DAYS + 1))
    kept = AuditEventFactory(created=now - dt.timedelta(days=settings.PHR_AUDIT_RETENTION_DAYS - 1))
    assert audit.purge_expired(now=now) == 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=kept.pk).exists()
    purge = AuditEvent.objects.get(action=Action.AUDIT_PURGED)
    assert (purge.actor_kind, purge.extra["deleted"]) == ("system", 1)
    assert audit.purge_expired(now=now) == 0  # nothing more to do, nothing more written


def test_outside_the_purge_nothing_can_delete_events():
    AuditEventFactory(created=timezone.now() - dt.timedelta(days=5 * 365))
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 1


def test_retention_is_scheduled_and_cannot_be_set_below_two_years(settings):
    from tests.helpers import PRODUCTION_ENV, manage, project_env

    schedule = settings.CELERY_BEAT_SCHEDULE["purge-audit-events"]
    assert schedule["task"] == "audit.tasks.purge_expired_events"
    assert settings.PHR_AUDIT_RETENTION_DAYS >= 730
    result = manage("check", env=project_env(**PRODUCTION_ENV, PHR_AUDIT_RETENTION_DAYS="30"))
    assert "PHR_AUDIT_RETENTION_DAYS=30 is below the minimum of 730" in result.stderr


# --- Delete my account ------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models()
        if model is not AuditEvent
    }


def test_delete_account_removes_every_row_of_the_patient(
    client, patient, other_patient, kr_sources
):
    """Everyone else's world (the cast, with records and a share) is counted first; then a
    patient who leaves gets everything one can own; after deletion the counts are back."""
    from tests.records_data import generated, import_resources

    make_share(other_patient)
    baseline = _row_counts()
    leaving = UserFactory(email="leaving@example.org")
    accounts_domain.verify_identity(
        user=leaving,
        full_name="박지훈",
        birth_date=dt.date(1975, 5, 5),
        sex="male",
        phone="010-5555-1212",
    )
    import_resources(leaving, "검진.json", generated(leaving, size=80))
    share, token = make_share(leaving, passcode="2468", allow_download=True)
    recipient = Client()
    recipient.post(f"/s/{token}/", {"passcode": "0000"})
    recipient.post(f"/s/{token}/", {"passcode": "2468"})
    recipient.post(f"/s/{token}/", {"name": "Dr. Kim"})
    other_browser = Client()
    login(other_browser, leaving.email)
    login(client, leaving.email)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    displays = set(Record.objects.filter(patient=leaving).values_list("display", flat=True)) - {""}
    before = _row_counts()
    grown = {label for label in before if before[label] > baseline[label]}
    assert {
        "records.Record",
        "institutions.Source",
        "institutions.SyncRun",
        "sharing.Share",
        "sharing.ShareAccess",
        "accounts.User",
        "accounts.PatientProfile",
        "account.EmailAddress",
        "usersessions.UserSession",
        "sessions.Session",
    } <= grown

    leaving_id = leaving.pk
    response = client.post("/account/delete/", {"confirm": "on"})
    assert response.status_code == 302

    after = _row_counts()
    changed = {
        label: (baseline[label], after[label]) for label in after if after[label] != baseline[label]
    }
    # The browser that deleted the account holds a fresh anonymous session (its goodbye message).
    new_sessions = [row.get_decoded() for row in Session.objects.all()]
    assert not [data for data in new_sessions if data.get("_auth_user_id") == str(leaving_id)]
    changed.pop("sessions.Session", None)
    assert not changed  # every row the patient had is gone, nobody else's is
    # The link stopped working, the other browser is logged out, and the patient too.
    assert recipient.get(f"/s/{token}/c/lab/").status_code == 404
    assert other_browser.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/").status_code == 302
    # The audit trail stays, with no clinical content in it.
    events = AuditEvent.objects.filter(patient_id=leaving_id)
    assert events.filter(action=Action.ACCOUNT_DELETED).count() == 1
    assert events.filter(action=Action.SHARE_REVOKED, object_id=str(share.pk)).exists()
    dump = json.dumps(list(events.values()), default=str, ensure_ascii=False)
    assert displays
    assert not [display for display in displays if display in dump]
    assert "박지훈" not in dump


def test_delete_account_needs_a_fresh_password_and_a_yes(client, patient):
    login(client, patient.email)
    with time_machine.travel(dt.timedelta(minutes=10)):
        response = client.post("/account/delete/", {"confirm": "on"})
        assert response["Location"].startswith("/accounts/reauthenticate/")
        client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        page = client.post("/account/delete/", {})
        assert "This field is required." in page.content.decode()
    patient.refresh_from_db()  # still there


# --- Download all my data ----------------------------------------------------------------------


def test_download_all_my_data(client, patient, other_patient, kr_sources):
    make_share(patient)
    login(client, patient.email)
    response = client.post("/account/download/")
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["account.json", "activity.json", "records.fhir.json"]
    bundle = json.loads(archive.read("records.fhir.json"))
    assert bundle["resourceType"] == "Bundle"
    # The patient (as verified), then every record.
    assert bundle["entry"][0]["fullUrl"] == f"urn:uuid:{patient.code}"
    assert len(bundle["entry"]) - 1 == Record.objects.filter(patient=patient).count()
    account = json.loads(archive.read("account.json"))
    assert account["email"] == patient.email
    assert account["profile"]["full_name"] == patient.profile.full_name
    assert [s["recipient"] for s in account["shares"]] == ["Dr. Kim, Seoul Clinic"]
    activity = json.loads(archive.read("activity.json"))
    assert {e["id"] for e in activity} == set(
        AuditEvent.objects.filter(patient_id=patient.pk).values_list("id", flat=True)
    )
    assert any(e["action"] == "account.data_downloaded" for e in activity)
    assert client.get("/account/download/").status_code == 405  # POST only


# --- Sessions ----------------------------------------------------------------------------------


def test_session_id_changes_at_login_and_logout_ends_it(client, patient):
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    login(client, patient.email)
    during = client.session.session_key
    assert during != before
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=during).exists()


def test_idle_timeout_with_a_frozen_clock(client, patient, settings):
    login(client, patient.email)
    with time_machine.travel(dt.timedelta(seconds=settings.PHR_SESSION_IDLE_TIMEOUT - 30)):
        assert client.get("/dashboard/").status_code == 200  # activity resets the idle clock
    with time_machine.travel(dt.timedelta(seconds=2 * settings.PHR_SESSION_IDLE_TIMEOUT - 60)):
        assert client.get("/dashboard/").status_code == 200
    with time_machine.travel(dt.timedelta(seconds=3 * settings.PHR_SESSION_IDLE_TIMEOUT)):
        response = client.get("/dashboard/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action=Action.SESSION_EXPIRED, patient_id=patient.pk).exists()


def test_absolute_timeout_even_when_active(client, patient, settings):
    login(client, patient.email)
    step = settings.PHR_SESSION_IDLE_TIMEOUT // 2
    elapsed = 0
    while elapsed + step < settings.PHR_SESSION_ABSOLUTE_TIMEOUT:
        elapsed += step
        with time_machine.travel(dt.timedelta(seconds=elapsed)):
            assert client.get("/dashboard/").status_code == 200
    with time_machine.travel(dt.timedelta(seconds=settings.PHR_SESSION_ABSOLUTE_TIMEOUT + 1)):
        assert client.get("/dashboard/").status_code == 302


def test_deactivation_ends_every_session(patient):
    browsers = [Client(), Client()]
    for browser in browsers:
        login(browser, patient.email)
    assert UserSession.objects.filter(user=patient).count() == 2
    patient.is_active = False
    patient.save()
    assert not UserSession.objects.filter(user=patient).exists()
    assert all(browser.get("/dashboard/").status_code == 302 for browser in browsers)


def test_patient_can_end_their_other_sessions(client, patient):
    elsewhere = Client()
    login(elsewhere, patient.email)
    login(client, patient.email)
    page = client.get("/accounts/sessions/").content.decode()
    assert page.count("<tr") >= 3  # header + two sessions
    client.post("/accounts/sessions/", {})
    assert elsewhere.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_mfa_can_be_required_for_patients(client, patient, settings):
    settings.PHR_PATIENT_MFA_REQUIRED = True
    login(client, patient.email)
    response = client.get("/dashboard/")
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    assert client.get("/api/v1/records/").status_code == 403
    assert client.get("/accounts/2fa/totp/activate/").status_code in (200, 302)
    settings.PHR_PATIENT_MFA_REQUIRED = False
    assert client.get("/dashboard/").status_code == 200


# --- No account enumeration --------------------------------------------------------------------


def _strip(html: str) -> str:
    return html.replace("patient@example.org", "X").replace("nobody@example.org", "X")


def test_no_enumeration_through_login_signup_or_reset(client, patient, mailoutbox):
    wrong = client.post("/accounts/login/", {"login": patient.email, "password": "nope-nope"})
    unknown = client.post("/accounts/login/", {"login": "nobody@example.org", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    assert _strip(wrong.content.decode()).count("errorlist") == _strip(
        unknown.content.decode()
    ).count("errorlist")

    for address in (patient.email, "nobody@example.org"):
        client.cookies.clear()
        reset = client.post("/accounts/password/reset/", {"email": address})
        assert (reset.status_code, reset["Location"]) == (302, "/accounts/password/reset/done/")

    signups = []
    for address in (patient.email, "nobody@example.org"):
        client.cookies.clear()
        signups.append(
            client.post(
                "/accounts/signup/",
                {
                    "email": address,
                    "password1": "A-long-new-pass-99",
                    "password2": "A-long-new-pass-99",
                },
            )
        )
    assert [r.status_code for r in signups] == [302, 302]
    assert signups[0]["Location"] == signups[1]["Location"]


# --- Logs --------------------------------------------------------------------------------------


def test_main_flows_log_nothing_sensitive(client, patient, kr_sources, caplog, settings):
    """Log records at the configured levels, across login, records, export, a share with a
    passcode opened and downloaded by a recipient, and the data download."""
    login(client, patient.email)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    for url in ("/dashboard/", "/records/timeline/", "/records/labs/", "/account/activity/"):
        client.get(url)
    b"".join(client.get("/records/export/fhir/").streaming_content)
    b"".join(client.post("/account/download/").streaming_content)
    share, token = make_share(patient, passcode="8642", allow_download=True)
    recipient = Client()
    recipient.post(f"/s/{token}/", {"passcode": "0000"})
    recipient.post(f"/s/{token}/", {"passcode": "8642"})
    recipient.post(f"/s/{token}/", {"name": "Dr. Kim"})
    recipient.get(f"/s/{token}/c/lab/")
    b"".join(recipient.get(f"/s/{token}/download/").streaming_content)
    client.get("/s/not-a-real-token/")
    logging.getLogger("phr.test").warning("flows done")  # the capture works

    text = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    assert "flows done" in text
    secrets = [token, "8642", session_id, PASSWORD, patient.profile.full_name]
    secrets += list(Record.objects.filter(patient=patient).values_list("display", flat=True)[:300])
    leaked = [secret for secret in secrets if secret and secret in text]
    assert not leaked
    assert Share.objects.get(pk=share.pk).failed_attempts == 1

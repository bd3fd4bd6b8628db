"""Notifications (notifications.notify and its callers): the patient's choices kept, e-mails
queued after commit in the patient's language with no clinical detail, unread counts, the
sync's notices, and the daily reminders told once per due item."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils import timezone, translation

from core import mail as core_mail
from institutions import sync_notices, tasks
from institutions.models import RunStatus
from notifications import domain
from notifications.models import Kind, Notification, Preference
from pages import reminders
from sharing.models import Delegation, DelegationKind
from tests.conftest import login
from tests.factories import PatientProfileFactory, SourceFactory, SyncRunFactory, UserFactory
from tests.records_data import import_resources
from tests.test_vaccinations import PRESCHOOL, connect, shot

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)


def _notify(user, kind=Kind.NEW_RESULTS, **kwargs):
    return domain.notify(
        user=user, kind=kind, params={"institution": "한강종합병원"}, link="/dashboard/", **kwargs
    )


# --- Preferences -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_app", "email", "shown", "mailed"),
    [
        (True, True, True, True),  # the default
        (True, False, True, False),
        (False, True, False, True),
        (False, False, None, False),  # neither: nothing written
    ],
)
def test_the_patients_choice_for_each_kind_is_kept(patient, in_app, email, shown, mailed):
    domain.set_preferences(user=patient, choices={Kind.NEW_RESULTS: (in_app, email)})
    mail.outbox.clear()

    notification = _notify(patient)
    other_kind = _notify(patient, kind=Kind.CHECKUP_DUE)  # untouched: both channels

    assert (notification.in_app if notification else None) == shown
    subjects = [m.subject for m in mail.outbox]
    assert ("New results are available" in subjects) == mailed
    assert "A health check-up is due" in subjects
    assert other_kind.in_app


def test_the_settings_page_stores_the_choices(client, patient):
    login(client, patient.email)
    page = client.get("/notifications/settings/").content.decode()
    assert "A vaccination is due or overdue" in page

    data = {f"{kind}_in_app": "on" for kind in Kind.values}
    data |= {f"{kind}_email": "on" for kind in Kind.values if kind != Kind.VACCINATION_DUE}
    response = client.post("/notifications/settings/", data)

    assert response.status_code == 302
    stored = {p.kind: (p.in_app, p.email) for p in Preference.objects.filter(user=patient)}
    assert stored[Kind.VACCINATION_DUE] == (True, False)
    assert stored[Kind.SHARE_OPENED] == (True, True)


def test_a_share_opened_is_told_as_the_patient_chose(client, patient):
    from tests.test_sharing import make_share, open_as_recipient

    domain.set_preferences(user=patient, choices={Kind.SHARE_OPENED: (True, False)})
    _share, token = make_share(patient, notify_on_open=True)
    mail.outbox.clear()

    open_as_recipient(client.__class__(), token)

    assert mail.outbox == []  # the e-mail is off in the settings, whatever the share says
    (notification,) = Notification.objects.filter(user=patient, kind=Kind.SHARE_OPENED)
    assert set(notification.params) == {"name", "label"}


# --- The e-mail ----------------------------------------------------------------------------------


@override_settings(PHR_MAIL_ASYNC=True)
def test_the_email_is_queued_after_commit(patient, django_capture_on_commit_callbacks, monkeypatch):
    # The worker's task, run in this process when the commit sends it.
    sent = []
    monkeypatch.setattr(
        core_mail.send_email,
        "delay",
        lambda **payload: sent.append(core_mail.send_email.apply(kwargs=payload).get()),
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _notify(patient)
        assert mail.outbox == []  # nothing before the commit

    assert len(callbacks) == 1
    for callback in callbacks:
        callback()  # the commit: the mail task is sent
    assert sent == ["sent"]
    (message,) = mail.outbox
    assert message.to == [patient.email]


@pytest.mark.parametrize("language", ["ko", "en"])
def test_reminder_and_results_emails_carry_no_clinical_detail_in_the_patients_language(
    language,
):
    birth = dt.date(2019, 4, 10)
    child = UserFactory(email="parent-view@example.org", language=language)
    PatientProfileFactory(user=child, birth_date=birth, sex="female", full_name="김하은")
    import_resources(child, "질병관리청", [shot(i, c, d) for i, (c, d) in enumerate(PRESCHOOL)])
    connect(child, "kdca")
    source = SourceFactory(patient=child)
    run = SyncRunFactory(source=source, status=RunStatus.SUCCEEDED, created_count=12)
    mail.outbox.clear()

    reminders.send_due_reminders(today=TODAY)
    sync_notices.run_ended(run_id=run.pk, status=RunStatus.SUCCEEDED)

    assert mail.outbox
    with translation.override(language):
        expected = {str(domain.SUBJECTS[k]()) for k in (Kind.VACCINATION_DUE, Kind.NEW_RESULTS)}
    assert {m.subject for m in mail.outbox} == expected
    clinical = ["DTaP", "MMR", "IPV", "폴리오", "홍역", "디프테리아", "일본뇌염", "dose", "김하은"]
    for message in mail.outbox:
        assert message.extra_headers["Content-Language"] == language
        assert not [word for word in clinical if word in message.body + message.subject]
        assert "http://" in message.body  # the link
    links = {m.body.split("\n\n")[1] for m in mail.outbox}
    assert any(link.endswith("/records/vaccinations/") for link in links)
    assert any(link.endswith(f"/sources/{source.code}/") for link in links)


# --- Unread counts -------------------------------------------------------------------------------


def test_unread_count_in_the_bell_and_the_list_and_marking_read(client, patient, other_patient):
    for kind in (Kind.NEW_RESULTS, Kind.CHECKUP_DUE, Kind.SYNC_FAILED):
        _notify(patient, kind=kind)
    _notify(other_patient)  # someone else's: never counted or shown
    domain.set_preferences(user=patient, choices={Kind.SYNC_FAILED: (False, True)})
    _notify(patient, kind=Kind.SYNC_FAILED)  # e-mailed only: not in the list
    login(client, patient.email)

    bell = client.get("/notifications/bell/").content.decode()
    listing = client.get("/notifications/").content.decode()

    assert ">3</span>" in bell
    assert "3 unread" in listing
    assert listing.count('class="card unread"') == 3
    assert "New records arrived from 한강종합병원." in listing

    client.post("/notifications/read/")

    assert client.get("/notifications/bell/").content.decode().strip() == ""
    assert "0 unread" in client.get("/notifications/").content.decode()
    assert Notification.objects.filter(user=other_patient, read_at__isnull=True).count() == 1


def test_the_pages_need_a_login(client):
    for path in ("/notifications/", "/notifications/bell/", "/notifications/settings/"):
        assert client.get(path).status_code == 302


# --- The sync's end ------------------------------------------------------------------------------


def test_the_sync_task_tells_of_new_records_and_failures_once_per_run(patient, monkeypatch):
    linked = SourceFactory(patient=patient)
    upload = SourceFactory(patient=patient, upload=True)
    fresh = SyncRunFactory(source=linked, status=RunStatus.SUCCEEDED, created_count=3)
    nothing_new = SyncRunFactory(source=linked, status=RunStatus.SUCCEEDED, created_count=0)
    failed = SyncRunFactory(source=linked, status=RunStatus.FAILED)
    uploaded = SyncRunFactory(source=upload, status=RunStatus.SUCCEEDED, created_count=9)
    outcome = {fresh.pk: "succeeded", nothing_new.pk: "succeeded", failed.pk: "failed"}
    outcome[uploaded.pk] = "succeeded"
    monkeypatch.setattr(tasks.sync, "execute_run", lambda *, run_id: outcome[run_id])

    for run_id in [*outcome, fresh.pk]:  # the first delivered twice
        tasks.sync_run.apply(kwargs={"run_id": run_id})

    told = Notification.objects.filter(user=patient).order_by("id")
    assert [(n.kind, n.key) for n in told] == [
        (Kind.NEW_RESULTS, f"sync:{fresh.code}"),
        (Kind.SYNC_FAILED, f"sync:{failed.code}"),
    ]
    assert told[0].params == {"institution": linked.display_name, "count": 3}


# --- Reminders -----------------------------------------------------------------------------------


def test_reminders_are_idempotent_and_reach_the_childs_guardian():
    birth = dt.date(2019, 4, 10)
    child = UserFactory(email="haeun@example.org")
    PatientProfileFactory(user=child, birth_date=birth, sex="female", full_name="김하은")
    parent = UserFactory(email="seoyeon@example.org")
    Delegation.objects.create(
        kind=DelegationKind.GUARDIAN,
        patient=child,
        delegate=parent,
        accepted_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    import_resources(child, "질병관리청", [shot(i, c, d) for i, (c, d) in enumerate(PRESCHOOL)])
    connect(child, "kdca")

    first = reminders.send_due_reminders(today=TODAY)
    again = reminders.send_due_reminders(today=TODAY)
    next_week = reminders.send_due_reminders(today=TODAY + dt.timedelta(days=7))

    # Due on 2026-03-10: DTaP 5, IPV 4, MMR 2 (4-6 years), IJEV 4 (6 years) — to the child and
    # to her guardian.
    assert first == 8
    assert (again, next_week) == (0, 0)
    keys = sorted(Notification.objects.filter(user=parent).values_list("key", flat=True))
    assert keys == sorted(
        f"{child.pk}:vaccination:{v}:{d}:due"
        for v, d in [("DTaP", 5), ("IPV", 4), ("MMR", 2), ("IJEV", 4)]
    )
    guardian_notice = Notification.objects.filter(user=parent).first()
    assert guardian_notice.patient == child
    assert guardian_notice.params["whose"] == "김하은"
    assert guardian_notice.link == f"/for/{child.code}/records/vaccinations/"
    assert Notification.objects.filter(user=child).first().link == "/records/vaccinations/"
    # After her 7th birthday the unfinished doses are overdue: one new reminder each (DTaP is
    # then no longer given).
    later = reminders.send_due_reminders(today=dt.date(2026, 4, 20))
    assert later == 6
    assert reminders.send_due_reminders(today=dt.date(2026, 4, 21)) == 0


def test_a_checkup_reminder_once_a_year(patient):
    # 김민준, born 1962 (an even year): checked in even years; none recorded, so due in 2026.
    connect(patient, "nhis")
    with time_machine.travel(dt.datetime(2026, 3, 10, 3, tzinfo=dt.UTC), tick=False):
        assert reminders.send_due_reminders(today=TODAY) >= 1
        assert reminders.send_due_reminders(today=TODAY) == 0
    (checkup,) = Notification.objects.filter(user=patient, kind=Kind.CHECKUP_DUE)
    assert checkup.key == f"{patient.pk}:checkup:2026"
    assert checkup.params == {"year": 2026}


def _child_with_guardian(**child_fields):
    birth = dt.date(2019, 4, 10)
    child = UserFactory(**child_fields)
    PatientProfileFactory(
        user=child, birth_date=birth, sex="female", full_name="김하은", managed=True
    )
    parent = UserFactory(email="guardian@example.org")
    Delegation.objects.create(
        kind=DelegationKind.GUARDIAN,
        patient=child,
        delegate=parent,
        accepted_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    return child, parent


def test_no_reminders_without_kdca_or_nhis_nor_to_staff(patient):
    # A fresh account with a birth date and nothing linked, a staff member with a birth date
    # and KDCA linked: nobody is told of a dose or a check-up nobody fetched.
    fresh = UserFactory()
    PatientProfileFactory(user=fresh, birth_date=dt.date(2019, 4, 10), sex="female")
    staff = UserFactory(is_staff=True)
    PatientProfileFactory(user=staff, birth_date=dt.date(1980, 1, 1), sex="male")
    connect(staff, "kdca")
    connect(staff, "nhis")
    mail.outbox.clear()

    with time_machine.travel(dt.datetime(2026, 3, 10, 3, tzinfo=dt.UTC), tick=False):
        assert reminders.send_due_reminders(today=TODAY) == 0
    assert not Notification.objects.exists()
    assert not mail.outbox


def test_kdca_alone_gives_vaccination_reminders_but_no_checkup(patient):
    connect(patient, "kdca")  # 김민준, 63: adult recommendations; no NHIS linked

    with time_machine.travel(dt.datetime(2026, 3, 10, 3, tzinfo=dt.UTC), tick=False):
        reminders.send_due_reminders(today=TODAY)

    kinds = set(Notification.objects.filter(user=patient).values_list("kind", flat=True))
    assert kinds == {Kind.VACCINATION_DUE}


def test_a_managed_childs_reminders_go_to_the_guardian_only_in_one_email(
    django_capture_on_commit_callbacks,
):
    child, parent = _child_with_guardian(email="child-placeholder@example.org")
    import_resources(child, "질병관리청", [shot(i, c, d) for i, (c, d) in enumerate(PRESCHOOL)])
    connect(child, "kdca")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        written = reminders.send_due_reminders(today=TODAY)

    # DTaP 5, IPV 4, MMR 2, IJEV 4 due: four in-app notifications, to the guardian only.
    assert written == 4
    assert not Notification.objects.filter(user=child).exists()
    assert Notification.objects.filter(user=parent).count() == 4
    (message,) = mail.outbox
    assert message.to == [parent.email]
    assert "4" in message.body


@pytest.mark.parametrize(
    ("dose", "state", "expected"),
    [
        ("after-2010-10-17", "due", "Td is due again (last dose 2010-10-17)."),
        ("first", "due", "Td is due."),
        ("2025–2026", "due", "Td for the 2025–2026 season is due."),
        (2, "overdue", "Td, dose 2, is overdue."),
    ],
)
def test_a_vaccination_message_names_seasons_only_for_seasons(patient, dose, state, expected):
    from notifications.messages import message

    notice = Notification(
        user=patient,
        kind=Kind.VACCINATION_DUE,
        params={"vaccine": {"en": "Td", "ko": "Td"}, "dose": dose, "state": state},
    )
    with translation.override("en"):
        assert message(notice) == expected


def test_the_adult_td_row_labels_its_date_as_the_last_dose(client, patient):
    # 김민준 (63): Td in 2020 — done; the row says the day is the last dose's.
    import_resources(patient, "질병관리청", [shot(0, "23", "2020-05-04")])
    connect(patient, "kdca")
    login(client, patient.email)

    with time_machine.travel(dt.datetime(2026, 3, 10, 3, tzinfo=dt.UTC), tick=False):
        page = client.get("/records/vaccinations/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "last dose May 4, 2020 · next from May 4, 2030" in page


def test_a_managed_childs_sync_notices_go_to_its_guardians(django_capture_on_commit_callbacks):
    child, parent = _child_with_guardian(email="child-placeholder@example.org")
    source = SourceFactory(patient=child)
    run = SyncRunFactory(source=source, status=RunStatus.SUCCEEDED, created_count=5)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        sync_notices.run_ended(run_id=run.pk, status=RunStatus.SUCCEEDED)

    assert not Notification.objects.filter(user=child).exists()
    (notice,) = Notification.objects.filter(user=parent)
    assert notice.patient == child
    assert notice.link == f"/for/{child.code}/sources/{source.code}/"
    assert notice.params["whose"] == "김하은"
    assert [m.to for m in mail.outbox] == [[parent.email]]

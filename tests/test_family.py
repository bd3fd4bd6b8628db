"""Children (the Family issue): the family registry, adding a child, the age-out, the claim.

The cast: `other_patient` is 이서연 (born 1990-07-02), registered in the demo household with her
daughter 김하은 (born 2019-04-10); `patient` (김민준) is in no household. The age-out runs
with a frozen clock (time-machine) around 김하은's 14th birthday, 2033-04-10.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts import domain as accounts_domain
from accounts import family_registry
from accounts.family_registry import Reason
from accounts.models import PatientProfile, User
from audit.models import Action, ActorKind, AuditEvent
from core.access import Actor
from records.models import Record
from records.queries import records_for
from sharing import family
from sharing.grants import actor_for_delegation
from sharing.models import Delegation, DelegationKind
from sharing.tasks import end_guardian_grants
from tests.conftest import login
from tests.factories import PASSWORD, RecordFactory, ShareFactory, SourceFactory, UserFactory

KST = ZoneInfo("Asia/Seoul")
HAEUN = {"full_name": "김하은", "birth_date": "2019-04-10", "sex": "female"}
FOURTEENTH = dt.datetime(2033, 4, 10, tzinfo=KST)


def _add(client, **fields):
    return client.post("/family/children/", {**HAEUN, "confirm": "on", **fields})


def _guardian_client(user) -> Client:
    client = Client()
    login(client, user.email)
    return client


def _add_haeun(guardian) -> Delegation:
    return family.add_child(
        guardian=guardian, full_name="김하은", birth_date=dt.date(2019, 4, 10), sex="female"
    )


# --- The registry ---------------------------------------------------------------------------


def test_registry_confirms_the_demo_child_of_her_mother():
    answer = family_registry.lookup(
        parent_name="이서연",
        parent_birth_date=dt.date(1990, 7, 2),
        child_name="김 하은",  # written with a space: names compare as identity does
        child_birth_date=dt.date(2019, 4, 10),
        child_sex="female",
    )
    assert answer == family_registry.Answer(True, Reason.CONFIRMED)


@pytest.mark.parametrize(
    ("parent", "child", "reason"),
    [
        # Someone in no household.
        (("김민준", dt.date(1962, 3, 15)), ("김하은", dt.date(2019, 4, 10), "female"),
         Reason.PARENT_NOT_REGISTERED),
        # The right parent, a child not registered at her address: wrong day, sex or name.
        (("이서연", dt.date(1990, 7, 2)), ("김하은", dt.date(2019, 4, 11), "female"),
         Reason.NOT_AT_ADDRESS),
        (("이서연", dt.date(1990, 7, 2)), ("김하은", dt.date(2019, 4, 10), "male"),
         Reason.NOT_AT_ADDRESS),
        (("이서연", dt.date(1990, 7, 2)), ("김하늘", dt.date(2019, 4, 10), "female"),
         Reason.NOT_AT_ADDRESS),
        # A namesake parent born on another day is another person.
        (("이서연", dt.date(1991, 7, 2)), ("김하은", dt.date(2019, 4, 10), "female"),
         Reason.PARENT_NOT_REGISTERED),
    ],
)  # fmt: skip
def test_registry_refuses_what_is_not_registered(parent, child, reason):
    answer = family_registry.lookup(
        parent_name=parent[0],
        parent_birth_date=parent[1],
        child_name=child[0],
        child_birth_date=child[1],
        child_sex=child[2],
    )
    assert answer == family_registry.Answer(False, reason)


def test_registry_reads_households_from_settings(settings):
    settings.PHR_FAMILY_REGISTRY = [
        {
            "address": "부산광역시 해운대구 1",
            "parents": [{"name": "박지훈", "birth_date": "1988-11-20"}],
            "children": [{"name": "박서준", "birth_date": "2020-01-05", "sex": "male"}],
        }
    ]
    found = family_registry.lookup(
        parent_name="박지훈",
        parent_birth_date=dt.date(1988, 11, 20),
        child_name="박서준",
        child_birth_date=dt.date(2020, 1, 5),
        child_sex="male",
    )
    demo = family_registry.lookup(
        parent_name="이서연",
        parent_birth_date=dt.date(1990, 7, 2),
        child_name="김하은",
        child_birth_date=dt.date(2019, 4, 10),
        child_sex="female",
    )
    assert (found.confirmed, demo.confirmed) == (True, False)


# --- Adding a child ------------------------------------------------------------------------


def test_child_added_when_the_registry_confirms(other_patient):
    client = _guardian_client(other_patient)

    response = _add(client)

    assert response.status_code == 302
    assert response["Location"] == "/family/children/"
    grant = Delegation.objects.get(delegate=other_patient)
    child = grant.patient
    profile = PatientProfile.objects.get(user=child)
    assert (profile.full_name, profile.birth_date, profile.sex) == (
        "김하은",
        dt.date(2019, 4, 10),
        "female",
    )
    assert profile.is_verified
    assert profile.managed
    assert profile.claimed_at is None
    assert profile.verified_identifier == accounts_domain.child_identifier(
        full_name="김하은", birth_date=dt.date(2019, 4, 10)
    )
    # No login of her own: an unusable password at an address no mail reaches.
    assert not child.has_usable_password()
    assert child.email.endswith("@children.phr.invalid")
    assert (grant.kind, grant.may_share, grant.may_manage) == (DelegationKind.GUARDIAN, True, True)
    assert grant.expires_at == FOURTEENTH  # 00:00 Asia/Seoul on the 14th birthday
    assert grant.is_active
    assert grant.accepted_at is not None
    event = AuditEvent.objects.get(action=Action.CHILD_ADDED)
    assert (event.actor_id, event.actor_kind, event.patient_id) == (
        other_patient.pk,
        ActorKind.DELEGATE,
        child.pk,
    )
    page = client.get("/family/children/").content.decode()
    assert "김하은" in page


def test_child_refused_clearly_when_the_registry_does_not_confirm(patient):
    client = _guardian_client(patient)

    response = _add(client)

    assert response.status_code == 200
    assert "The family registry has no household with you as a parent." in (
        response.content.decode()
    )
    assert Delegation.objects.count() == 0
    assert PatientProfile.objects.filter(managed=True).count() == 0


def test_child_refused_clearly_when_not_registered_at_the_address(other_patient):
    client = _guardian_client(other_patient)

    response = _add(client, birth_date="2019-04-11")

    assert response.status_code == 200
    assert "does not list this child as yours at your address" in response.content.decode()
    assert Delegation.objects.count() == 0


def test_child_of_14_or_older_refused(other_patient, settings):
    settings.PHR_FAMILY_REGISTRY = [
        {
            "parents": [{"name": "이서연", "birth_date": "1990-07-02"}],
            "children": [{"name": "김하람", "birth_date": "2010-01-01", "sex": "male"}],
        }
    ]
    client = _guardian_client(other_patient)

    response = _add(client, full_name="김하람", birth_date="2010-01-01", sex="male")

    assert response.status_code == 200
    assert "until the child&#x27;s 14th birthday. 김하람 is 14 or older" in (
        response.content.decode()
    )
    assert Delegation.objects.count() == 0


def test_child_already_added_refused(other_patient):
    client = _guardian_client(other_patient)
    _add(client)

    response = _add(client)

    assert response.status_code == 200
    assert "You have already added 김하은." in response.content.decode()
    assert Delegation.objects.count() == 1


def test_unverified_user_cannot_add_a_child(db):
    user = UserFactory()
    client = _guardian_client(user)

    response = _add(client)

    assert response.status_code == 200
    assert "Verify your own identity first" in response.content.decode()
    assert Delegation.objects.count() == 0


def test_bad_form_input_is_a_clear_error_not_a_500(other_patient):
    client = _guardian_client(other_patient)

    response = client.post(
        "/family/children/", {"full_name": "", "birth_date": "2999-01-01", "sex": "x"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "The birth date cannot be in the future." in body
    assert Delegation.objects.count() == 0


def test_second_parent_added_by_the_same_check_to_the_same_child(other_patient, delegate, settings):
    settings.PHR_FAMILY_REGISTRY = [
        {
            "parents": [
                {"name": "이서연", "birth_date": "1990-07-02"},
                {"name": "박지훈", "birth_date": "1988-11-20"},
            ],
            "children": [{"name": "김하은", "birth_date": "2019-04-10", "sex": "female"}],
        }
    ]
    first = _add_haeun(other_patient)

    second = _add_haeun(delegate)

    assert second.patient_id == first.patient_id
    assert PatientProfile.objects.filter(managed=True).count() == 1
    assert second.expires_at == FOURTEENTH
    assert second.may_manage
    assert AuditEvent.objects.filter(action=Action.DELEGATION_CREATED).count() == 1


def test_guardian_reads_the_childs_records_and_only_hers(other_patient, patient):
    grant = _add_haeun(other_patient)
    childs = RecordFactory(source=SourceFactory(patient=grant.patient))
    RecordFactory(source=SourceFactory(patient=other_patient))  # the mother's own
    RecordFactory(source=SourceFactory(patient=patient))

    actor = actor_for_delegation(grant, user=other_patient)

    assert actor.may_manage
    assert actor.may_share
    assert list(records_for(actor).values_list("pk", flat=True)) == [childs.pk]


# --- Age-out, with a frozen clock ----------------------------------------------------------


def _mails_to(user):
    return [m for m in mail.outbox if m.to == [user.email]]


def test_age_out_tells_ahead_ends_on_the_day_and_revokes_the_shares(other_patient):
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=KST), tick=False):
        grant = _add_haeun(other_patient)
        child = grant.patient

    # 31 days before: nothing yet. (The mother shares her daughter's records, past the day.)
    with time_machine.travel(dt.datetime(2033, 3, 10, 12, tzinfo=KST), tick=False):
        share = ShareFactory(patient=child, expires_at=FOURTEENTH + dt.timedelta(days=30))
        own_share = ShareFactory(patient=other_patient, expires_at=FOURTEENTH + dt.timedelta(1))
        assert end_guardian_grants() == {"notices": 0, "ended": 0, "shares": 0}
    assert mail.outbox == []

    # 30 days before: the advance notice, once however often the task runs.
    with time_machine.travel(dt.datetime(2033, 3, 11, 1, tzinfo=KST), tick=False):
        assert end_guardian_grants() == {"notices": 1, "ended": 0, "shares": 0}
        assert end_guardian_grants() == {"notices": 0, "ended": 0, "shares": 0}
    (notice,) = _mails_to(other_patient)
    assert notice.subject == "Your guardian access for 김하은 ends on April 10, 2033"
    assert "turns 14 on April 10, 2033" in notice.body
    grant.refresh_from_db()
    assert grant.is_active

    # The day before: still hers.
    with time_machine.travel(dt.datetime(2033, 4, 9, 23, 59, tzinfo=KST), tick=False):
        assert end_guardian_grants() == {"notices": 0, "ended": 0, "shares": 0}
        grant.refresh_from_db()
        assert grant.is_active

    # The 14th birthday: the grant ends, the shares of the child's records end, one mail.
    with time_machine.travel(dt.datetime(2033, 4, 10, 0, 30, tzinfo=KST), tick=False):
        assert end_guardian_grants() == {"notices": 0, "ended": 1, "shares": 1}
        assert end_guardian_grants() == {"notices": 0, "ended": 0, "shares": 0}
        grant.refresh_from_db()
        share.refresh_from_db()
        own_share.refresh_from_db()
        assert grant.revoked_at is not None
        assert grant.ended_reason == "age_out"
        assert not grant.is_active
        assert share.state == "revoked"
        assert own_share.state == "active"  # the mother's own shares are hers
        with pytest.raises(ValueError, match="no longer active"):
            actor_for_delegation(grant, user=other_patient)
    notice, ended = _mails_to(other_patient)
    assert ended.subject == "Your guardian access for 김하은 has ended"
    for message in (notice, ended):
        # No clinical details: the name and the date only, nothing from the records.
        assert "HbA1c" not in message.body
        assert "record" not in message.subject.lower()
    ended_events = AuditEvent.objects.filter(action=Action.DELEGATION_ENDED)
    assert [(e.patient_id, e.actor_kind, e.extra) for e in ended_events] == [
        (child.pk, ActorKind.SYSTEM, {"reason": "age_out"})
    ]
    assert PatientProfile.objects.get(user=child).aged_out_at is not None


def test_age_out_on_the_day_without_the_notice_having_run(other_patient):
    # A platform down for the whole notice month still ends the grant, and sends no late notice.
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=KST), tick=False):
        grant = _add_haeun(other_patient)
    with time_machine.travel(dt.datetime(2033, 4, 12, tzinfo=KST), tick=False):
        assert end_guardian_grants() == {"notices": 0, "ended": 1, "shares": 0}
    grant.refresh_from_db()
    assert grant.ended_reason == "age_out"
    assert [m.subject for m in _mails_to(other_patient)] == [
        "Your guardian access for 김하은 has ended"
    ]


def test_age_out_mail_in_the_guardians_language(other_patient):
    other_patient.language = "ko"
    other_patient.save(update_fields=["language"])
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=KST), tick=False):
        _add_haeun(other_patient)
    with time_machine.travel(dt.datetime(2033, 4, 10, 1, tzinfo=KST), tick=False):
        end_guardian_grants()
    (message,) = _mails_to(other_patient)
    # The date in Korean format (the catalogue's text is merged by the lead).
    assert "2033년 4월 10일" in message.body


def test_the_age_out_runs_hourly_on_beat(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["end-guardian-grants"]
    assert schedule == {"task": "sharing.tasks.end_guardian_grants", "schedule": 3600.0}


# --- The claim ------------------------------------------------------------------------------


def _verify(client, **fields):
    data = {**HAEUN, "phone": "010-3333-4444", "confirm": "on", **fields}
    return client.post("/account/identity/", data)


def test_claim_after_14_keeps_everything_synced_so_far(other_patient):
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=KST), tick=False):
        grant = _add_haeun(other_patient)
        child = grant.patient
        source = SourceFactory(patient=child)
        records = {RecordFactory(source=source).pk for _ in range(3)}
    with time_machine.travel(dt.datetime(2033, 4, 10, 1, tzinfo=KST), tick=False):
        end_guardian_grants()
    with time_machine.travel(dt.datetime(2033, 5, 1, 10, tzinfo=KST), tick=False):
        haeun = UserFactory(email="haeun@example.org")
        client = _guardian_client(haeun)

        response = _verify(client)

        assert response.status_code == 302
        assert response["Location"] == "/dashboard/"
        # The new login now opens the child's record: the same patient, everything kept.
        assert not User.objects.filter(pk=haeun.pk).exists()
        child.refresh_from_db()
        assert child.email == "haeun@example.org"
        assert child.check_password(PASSWORD)
        assert EmailAddress.objects.get(email="haeun@example.org").user_id == child.pk
        profile = PatientProfile.objects.get(user=child)
        assert (profile.managed, profile.phone) == (False, "01033334444")
        assert profile.claimed_at is not None
        assert set(Record.objects.filter(patient=child).values_list("pk", flat=True)) == records
        assert client.get("/account/").context["user"].pk == child.pk
        mine = records_for(Actor.patient(child)).values_list("pk", flat=True)
        assert set(mine) == records
        assert AuditEvent.objects.filter(
            action=Action.RECORD_CLAIMED, patient_id=child.pk, actor_id=child.pk
        ).exists()
        # And she logs in with her own password from now on.
        assert Client().login(email="haeun@example.org", password=PASSWORD)


def test_no_claim_before_the_age_out(other_patient):
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=KST), tick=False):
        grant = _add_haeun(other_patient)
        haeun = UserFactory(email="haeun@example.org")
        client = _guardian_client(haeun)

        _verify(client)

    # Under 14 her own verification is an identity of her own; the kept record stays the
    # parents' to manage.
    assert User.objects.filter(pk=haeun.pk).exists()
    assert PatientProfile.objects.get(user=grant.patient).managed
    grant.refresh_from_db()
    assert grant.is_active


def test_claim_refused_for_an_account_that_already_holds_data(other_patient):
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=KST), tick=False):
        grant = _add_haeun(other_patient)
    with time_machine.travel(dt.datetime(2033, 4, 10, 1, tzinfo=KST), tick=False):
        end_guardian_grants()
    with time_machine.travel(dt.datetime(2033, 5, 1, tzinfo=KST), tick=False):
        haeun = UserFactory(email="haeun@example.org")
        RecordFactory(source=SourceFactory(patient=haeun))
        client = _guardian_client(haeun)

        response = _verify(client)

    assert response.status_code == 200
    assert "already holds records of its own" in response.content.decode()
    assert PatientProfile.objects.get(user=grant.patient).claimed_at is None


def test_a_managed_child_cannot_log_in(other_patient):
    child = _add_haeun(other_patient).patient

    assert not Client().login(email=child.email, password="")
    response = Client().post("/accounts/login/", {"login": child.email, "password": "x"})
    assert response.status_code == 200


# --- The demo --------------------------------------------------------------------------------


def test_demo_adds_the_child_known_at_two_hospitals_and_the_agencies(db, settings):
    import io

    from django.core.management import call_command

    from mockhospital.models import MockPatient

    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo", stdout=out)
    call_command("demo", stdout=io.StringIO())  # idempotent: still one child, one grant

    mother = User.objects.get(email="other@example.com")
    (grant,) = family.children_of(mother)
    profile = grant.patient.profile
    assert (profile.full_name, profile.birth_date, profile.managed) == (
        "김하은",
        dt.date(2019, 4, 10),
        True,
    )
    assert grant.expires_at == FOURTEENTH
    known = set(
        MockPatient.objects.filter(identifier=profile.verified_identifier).values_list(
            "institution__slug", flat=True
        )
    )
    assert known == {"hangang-general", "mapo-health", "nhis", "hira", "kdca"}
    assert "other@example.com is also the guardian of 김하은 (born 2019-04-10" in out.getvalue()


def test_a_share_made_by_a_guardian_links_to_nobodys_record(other_patient):
    # Under /for/<the child's code>/ the script prefix names the child's record; the link a
    # clinician opens must not (they have no grant, and /for/ asks them to log in).
    import re

    grant = _add_haeun(other_patient)
    client = _guardian_client(other_patient)
    prefix = f"/for/{grant.patient.code}"

    created = client.post(
        f"{prefix}/shares/new/", {"label": "Dr. Park", "categories": ["condition"], "expires": "1d"}
    )
    page = client.get(created["Location"]).content.decode()

    links = set(re.findall(r"http://testserver[^\"<\s]*/s/[^\"<\s]+", page))
    assert len(links) == 1
    (link,) = links
    assert link.startswith("http://testserver/s/")
    opened = Client().post(link.removeprefix("http://testserver"), {"name": "Dr. Park"})
    assert opened.status_code == 302


def test_guardian_imports_and_exports_the_childs_records_as_her_own(other_patient, settings):
    # A real Synthea file about a child (Luigi Wiegand, born 2020-10-20), registered as
    # 이서연's child for the test: his mother imports it into his record and exports it.
    import json
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    from institutions.models import RunStatus, Source
    from tests.conftest import run_to_end

    settings.PHR_FAMILY_REGISTRY = [
        {
            "parents": [{"name": "이서연", "birth_date": "1990-07-02"}],
            "children": [{"name": "Luigi Wiegand", "birth_date": "2020-10-20", "sex": "male"}],
        }
    ]
    synthea = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
    luigi_file = synthea / "Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json"
    grant = family.add_child(
        guardian=other_patient,
        full_name="Luigi Wiegand",
        birth_date=dt.date(2020, 10, 20),
        sex="male",
    )
    child = grant.patient
    client = _guardian_client(other_patient)
    prefix = f"/for/{child.code}"

    response = client.post(
        f"{prefix}/sources/import/",
        {"file": SimpleUploadedFile(luigi_file.name, luigi_file.read_bytes())},
    )

    # His own file (no confirmation asked: it is about the child's verified identity).
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith(f"{prefix}/sources/")
    source = Source.objects.get(code=response["Location"].split("/")[4])
    assert source.patient_id == child.pk
    assert run_to_end(source.runs.get()).status == RunStatus.SUCCEEDED
    stored = Record.objects.filter(patient=child).count()
    assert stored > 0
    assert Record.objects.filter(patient=other_patient).count() == 0
    imported = AuditEvent.objects.get(action=Action.RECORDS_IMPORTED)
    assert (imported.actor_id, imported.actor_kind, imported.patient_id) == (
        other_patient.pk,
        ActorKind.DELEGATE,
        child.pk,
    )

    exported = client.get(f"{prefix}/records/export/fhir/")

    assert exported.status_code == 200
    bundle = json.loads(b"".join(exported.streaming_content))
    subject = bundle["entry"][0]["resource"]
    assert subject["resourceType"] == "Patient"
    assert subject["birthDate"] == "2020-10-20"
    # The child as verified first, then every one of his stored records.
    assert len(bundle["entry"]) == stored + 1


@pytest.mark.parametrize("children", [1, 3])
def test_my_children_page_query_count_does_not_grow(
    other_patient, settings, children, django_assert_num_queries
):
    settings.PHR_FAMILY_REGISTRY = [
        {
            "parents": [{"name": "이서연", "birth_date": "1990-07-02"}],
            "children": [
                {"name": f"김하{n}", "birth_date": f"201{n}-04-10", "sex": "female"}
                for n in range(5, 5 + children)
            ],
        }
    ]
    for n in range(5, 5 + children):
        family.add_child(
            guardian=other_patient,
            full_name=f"김하{n}",
            birth_date=dt.date(2010 + n, 4, 10),
            sex="female",
        )
    client = _guardian_client(other_patient)
    client.get("/family/children/")  # warm the session

    # 4: the session, the user, the guardian's children with their profiles (one join), the
    # guardian's own profile (is she verified, for the form).
    with django_assert_num_queries(4):
        response = client.get("/family/children/")

    assert response.status_code == 200
    assert len(response.context["rows"]) == children


def test_a_leap_day_child_ages_out_on_1_march():
    assert accounts_domain.birthday(dt.date(2020, 2, 29), 14) == dt.date(2034, 3, 1)
    assert accounts_domain.age_out_at(dt.date(2020, 2, 29)) == dt.datetime(2034, 3, 1, tzinfo=KST)
    assert accounts_domain.age_out_at(dt.date(2024, 2, 29)) == dt.datetime(2038, 3, 1, tzinfo=KST)
    assert accounts_domain.age_out_at(dt.date(2020, 2, 28)) == dt.datetime(2034, 2, 28, tzinfo=KST)

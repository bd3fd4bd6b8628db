"""Caregivers: invite by e-mail → accept → a scoped read → expiry or revocation → 404.

The patient chooses what the caregiver sees (kinds of records, institutions), what they may
do (read; read and share; manage), until when (mandatory, renewable), and may end it at any
moment; they see every use. The invitation's token is one-time and only its SHA-256 is kept.
"""

import datetime as dt
import hashlib
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import Action, ActorKind, AuditEvent
from core.access import Actor
from core.log_masking import mask_secrets
from sharing import caregivers
from sharing.models import Delegation
from tests.conftest import for_path, logged_in, login
from tests.factories import (
    DelegationFactory,
    RecordFactory,
    UserFactory,
    hba1c,
)
from tests.records_data import import_resources
from tests.test_idor_matrix import CONDITION
from tests.test_read_models import condition

pytestmark = pytest.mark.django_db


def _token_of(message) -> str:
    return re.search(r"/family/invitations/([^/\s]+)/", message.body).group(1)


@pytest.fixture
def invitee(db):
    """Someone the patient invites (the cast's delegate already is their caregiver)."""
    return UserFactory(email="jiwoo@example.org")


@pytest.fixture
def records_at_two_hospitals(two_hospitals):
    """A lab at each of the patient's two hospitals, and a diagnosis at the first."""
    first, second = two_hospitals
    lab_first = RecordFactory(
        source=first, resource=hba1c("lab-a", 6.1, "2025-01-04T09:00:00+09:00")
    )
    lab_second = RecordFactory(
        source=second, resource=hba1c("lab-b", 7.2, "2025-02-04T09:00:00+09:00")
    )
    condition = RecordFactory(source=first, resource=CONDITION)
    return first, second, lab_first, lab_second, condition


def _invite(client, email=None, **fields):
    data = {
        "email": email,
        "label": "박지훈, my son",
        "purpose": "hospital visits",
        "rights": "read",
        "duration": "30d",
        **fields,
    }
    return client.post("/family/caregivers/invite/", data)


# --- The invitation ------------------------------------------------------------------------


def test_the_patient_invites_a_caregiver_by_email(patient, delegate):
    client = logged_in(patient)
    delegate.language = "en"
    delegate.save(update_fields=["language"])

    response = _invite(client, delegate.email, categories=["lab"])

    grant = Delegation.objects.get(invited_email__isnull=False, accepted_at=None)
    assert response.status_code == 302
    assert response["Location"] == f"/family/caregivers/{grant.code}/"
    assert (grant.kind, grant.patient, grant.delegate) == ("caregiver", patient, None)
    assert grant.categories == ["lab"]
    assert (grant.may_share, grant.may_manage) == (False, False)
    assert grant.invited_email == delegate.email
    assert not grant.is_active
    [message] = mail.outbox
    assert message.to == [delegate.email]
    token = _token_of(message)
    assert grant.invite_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Delegation.objects.filter(pk=grant.pk).values().get())
    assert "김민준" in message.body  # who invites, no clinical content
    assert message.extra_headers["Content-Language"] == "en"
    event = AuditEvent.objects.get(action=Action.DELEGATION_INVITED)
    assert (event.actor_id, event.patient_id, event.extra["rights"]) == (
        patient.pk,
        patient.pk,
        "read",
    )


def test_the_invitation_is_in_the_invitees_language(patient, delegate):
    delegate.language = "ko"
    delegate.save(update_fields=["language"])

    _invite(logged_in(patient), delegate.email)

    # Written in Korean (the catalogue's words are the lead's to merge): said by the header.
    assert mail.outbox[0].extra_headers["Content-Language"] == "ko"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"duration": ""}, "This field is required."),
        ({"duration": "forever"}, "Select a valid choice."),
        ({"rights": "everything"}, "Select a valid choice."),
        ({"email": "patient@example.org"}, "That is your own address."),
        ({"email": "not an address"}, "Enter a valid email address."),
    ],
)
def test_an_invitation_needs_an_expiry_rights_and_another_address(patient, fields, error):
    response = _invite(logged_in(patient), **{"email": "friend@example.org", **fields})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Delegation.objects.exists()
    assert mail.outbox == []


def test_only_a_verified_adult_invites(patient):
    unverified = UserFactory()

    page = logged_in(unverified).get("/family/caregivers/invite/")
    post = _invite(logged_in(unverified), "friend@example.org")

    assert "Verify your identity first" in page.content.decode()
    assert post.status_code == 200
    assert not Delegation.objects.exists()


def test_someone_acting_for_the_patient_cannot_invite_or_see_their_caregivers(patient, delegate):
    DelegationFactory(patient=patient, delegate=delegate, guardian=True)
    client = logged_in(delegate)

    for path in ("/family/caregivers/", "/family/caregivers/invite/"):
        assert client.get(for_path(patient, path)).status_code == 404
    assert _invite(client, "x@example.org").status_code == 302  # their own invitation
    assert Delegation.objects.filter(patient=patient).count() == 1


# --- Accepting -----------------------------------------------------------------------------


def test_invite_accept_scoped_read_expiry_404(patient, invitee, records_at_two_hospitals, password):
    first, _second, lab_first, lab_second, condition = records_at_two_hospitals
    patient_client = logged_in(patient)
    _invite(patient_client, invitee.email, categories=["lab"], sources=[str(first.code)])
    token = _token_of(mail.outbox[0])
    person = invitee
    invitee = Client()

    # Not logged in: the invitation sends them to log in, and back.
    anonymous = invitee.get(f"/family/invitations/{token}/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/family/invitations/")
    login(invitee, person.email, password)
    page = invitee.get(f"/family/invitations/{token}/")
    assert page.status_code == 200
    assert "김민준 invites you as caregiver" in page.content.decode()
    assert "한강병원" in page.content.decode()
    assert not Delegation.objects.get(delegate=None).is_active  # a GET accepts nothing

    accepted = invitee.post(f"/family/invitations/{token}/")

    assert accepted.status_code == 302
    assert accepted["Location"] == for_path(patient)
    grant = Delegation.objects.get(delegate=person)
    assert grant.invite_token_hash == ""
    # The scope: labs of the first hospital only.
    assert invitee.get(for_path(patient, f"/records/r/{lab_first.code}/")).status_code == 200
    assert invitee.get(for_path(patient, f"/records/r/{lab_second.code}/")).status_code == 404
    assert invitee.get(for_path(patient, f"/records/r/{condition.code}/")).status_code == 404
    labs = invitee.get(for_path(patient, "/records/labs/")).content.decode()
    assert "6.1" in labs
    assert "7.2" not in labs
    # The invitation is one-time.
    assert invitee.post(f"/family/invitations/{token}/").status_code == 404

    with time_machine.travel(grant.expires_at + dt.timedelta(seconds=1)):
        invitee.force_login(person)  # the old session has timed out by then
        urls = [for_path(patient), for_path(patient, f"/records/r/{lab_first.code}/")]
        assert [invitee.get(url).status_code for url in urls] == [404, 404]


def test_a_limited_caregiver_is_told_what_was_not_shared_never_none_recorded(
    patient, invitee, records_at_two_hospitals
):
    """A caregiver given labs and vital signs only: the patient's diagnoses are there, but not
    for them — "Not shared with you", and the pages of kinds outside the grant are not there
    (404, as for a share), never a page that reads "None recorded"."""
    _invite(logged_in(patient), invitee.email, categories=["lab", "vital"])
    token = _token_of(mail.outbox[0])
    caregiver = logged_in(invitee)
    assert caregiver.post(f"/family/invitations/{token}/").status_code == 302

    dashboard = caregiver.get(for_path(patient)).content.decode()
    summary = caregiver.get(for_path(patient, "/records/summary/")).content.decode()

    def section(page, title_id):
        return re.search(rf'aria-labelledby="{title_id}">.*?</section>', page, re.DOTALL)[0]

    for title in ("problems-title", "meds-title", "allergy-title", "visits-title"):
        assert "Not shared with you." in section(dashboard, title), title
    # Vital signs were shared, and the patient has none: that is what it says.
    assert "None recorded." in section(dashboard, "vitals-title")
    assert "Not shared with you." in summary  # the summary's problems, medications…
    assert "None recorded." not in summary
    for path in ("/records/c/condition/", "/records/c/allergy/", "/records/medications/"):
        assert caregiver.get(for_path(patient, path)).status_code == 404, path
    assert "7.2" in caregiver.get(for_path(patient, "/records/labs/")).content.decode()  # latest
    # The patient's own dashboard, the same data version, still says what they have.
    own = logged_in(patient).get("/dashboard/").content.decode()
    assert "Not shared with you." not in own


def test_an_invitation_is_accepted_only_by_the_invited_address(patient, delegate):
    _invite(logged_in(patient), "someone.else@example.org")
    token = _token_of(mail.outbox[0])

    response = logged_in(delegate).post(f"/family/invitations/{token}/", follow=True)

    assert "sent to another e-mail address" in response.content.decode()
    assert Delegation.objects.get(invited_email__isnull=False, accepted_at=None).delegate is None


def test_a_revoked_invitation_cannot_be_accepted(patient, delegate):
    _invite(logged_in(patient), delegate.email)
    token = _token_of(mail.outbox[0])
    grant = Delegation.objects.get(invited_email__isnull=False, accepted_at=None)
    caregivers.revoke(grant=grant, actor=Actor.patient(patient))

    response = logged_in(delegate).post(f"/family/invitations/{token}/")

    assert response.status_code == 404
    assert Delegation.objects.get(invited_email__isnull=False, accepted_at=None).delegate is None


@pytest.mark.django_db(transaction=True)
def test_one_invitation_accepted_30_times_at_once_is_accepted_once(patient, invitee):
    """30 acceptances at the same moment, each on its own database connection: one wins."""
    grant, token = caregivers.invite(
        actor=Actor.patient(patient),
        patient=patient,
        email=invitee.email,
        label="박지훈",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    attempts = 30
    barrier = threading.Barrier(attempts)
    outcomes = []
    lock = threading.Lock()

    def accept():
        try:
            barrier.wait()
            caregivers.accept(token=token, user=invitee)
            outcome = "accepted"
        except caregivers.NotAcceptable:
            outcome = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=accept) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["accepted"] + ["refused"] * (attempts - 1)
    assert Delegation.objects.get(pk=grant.pk).delegate_id == invitee.pk
    assert AuditEvent.objects.filter(action=Action.DELEGATION_ACCEPTED).count() == 1


# --- The patient's side: every use, renew, revoke ------------------------------------------


def test_the_patient_sees_every_use_of_the_grant(patient, delegate, records_at_two_hospitals):
    _first, _second, lab_first, _lab_second, _condition = records_at_two_hospitals
    grant = DelegationFactory(patient=patient, delegate=delegate, label="박지훈")
    logged_in(delegate).get(for_path(patient, f"/records/r/{lab_first.code}/"))

    page = logged_in(patient).get(f"/family/caregivers/{grant.code}/").content.decode()
    activity = logged_in(patient).get("/account/activity/").content.decode()

    assert "Records viewed" in page
    assert "A record" in page
    assert delegate.email in page
    assert "Someone acting for you" in activity
    assert delegate.email in activity


def test_the_delegates_own_activity_says_whom_they_acted_for(
    patient, delegate, records_at_two_hospitals
):
    _first, _second, lab_first, _lab_second, _condition = records_at_two_hospitals
    DelegationFactory(patient=patient, delegate=delegate)
    client = logged_in(delegate)
    client.get(for_path(patient, f"/records/r/{lab_first.code}/"))

    activity = client.get("/family/acting/").content.decode()

    assert "You, acting for 김민준" in activity
    assert "Records viewed" in activity


def test_revoking_ends_the_access_at_once(patient, delegate, records_at_two_hospitals):
    grant = DelegationFactory(patient=patient, delegate=delegate)
    caregiver = logged_in(delegate)
    assert caregiver.get(for_path(patient)).status_code == 200

    response = logged_in(patient).post(f"/family/caregivers/{grant.code}/revoke/")

    assert response.status_code == 302
    assert caregiver.get(for_path(patient)).status_code == 404
    assert Delegation.objects.get(pk=grant.pk).ended_reason == "revoked"
    event = AuditEvent.objects.get(action=Action.DELEGATION_REVOKED)
    assert (event.actor_kind, event.patient_id) == (ActorKind.PATIENT, patient.pk)


def test_renewing_an_expired_grant_opens_it_again(patient, delegate):
    grant = DelegationFactory(patient=patient, delegate=delegate)
    Delegation.objects.filter(pk=grant.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    caregiver = logged_in(delegate)
    assert caregiver.get(for_path(patient)).status_code == 404

    logged_in(patient).post(f"/family/caregivers/{grant.code}/renew/", {"duration": "90d"})

    grant.refresh_from_db()
    assert grant.expires_at > timezone.now() + dt.timedelta(days=89)
    assert caregiver.get(for_path(patient)).status_code == 200
    assert AuditEvent.objects.filter(action=Action.DELEGATION_RENEWED).count() == 1


def test_another_patients_caregiver_pages_are_404(patient, other_patient, delegate):
    grant = DelegationFactory(patient=patient, delegate=delegate)
    client = logged_in(other_patient)

    assert client.get(f"/family/caregivers/{grant.code}/").status_code == 404
    assert client.post(f"/family/caregivers/{grant.code}/revoke/").status_code == 404
    renew = client.post(f"/family/caregivers/{grant.code}/renew/", {"duration": "7d"})
    assert renew.status_code == 404
    assert logged_in(delegate).get(f"/family/caregivers/{grant.code}/").status_code == 404
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_an_invitations_token_never_reaches_a_log(patient, delegate):
    _invite(logged_in(patient), delegate.email)
    token = _token_of(mail.outbox[0])

    line = f'"GET /family/invitations/{token}/ HTTP/1.1" 404'
    assert token not in mask_secrets(line)
    assert mask_secrets(line) == '"GET /family/invitations/[masked]/ HTTP/1.1" 404'


def test_in_development_mail_lands_in_var_mail(tmp_path):
    """Under `make run` (DEBUG, no EMAIL_BACKEND) an invitee's mail, with its link, is a file
    under var/mail/: the console's output is masked by the log filter."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    env.update(DEBUG="1", PHR_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="phr.settings")
    script = (
        "import django; django.setup(); from django.core.mail import send_mail; "
        "send_mail('Invitation', 'http://testserver/family/invitation/abc/', "
        "'phr@example.org', ['caregiver@example.org'])"
    )

    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)

    files = list((tmp_path / "mail").iterdir())
    assert len(files) == 1
    assert "http://testserver/family/invitation/abc/" in files[0].read_text()


def test_a_read_only_caregivers_dashboard_offers_only_what_they_may_open(patient, delegate):
    """Every link of the dashboard a read-only caregiver sees opens for them: no "Getting
    started" asking them to link the patient's hospitals, no list of sources to manage, and no
    "No records yet" over the patient's records."""
    import_resources(patient, "A의원", [condition("c1", "제2형 당뇨병", "2024-04-10")])
    client = logged_in(delegate)
    page = client.get(for_path(patient), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "제2형 당뇨병" in page
    assert "Getting started" not in page
    assert "Link another hospital" not in page
    assert "No records yet" not in page
    links = set(re.findall(r'href="(/for/[^"#?]+)', page))
    assert links
    assert {link: client.get(link).status_code for link in links} == dict.fromkeys(links, 200)


def test_a_caregiver_who_may_manage_still_sees_the_sources(patient):
    manager = UserFactory(email="manager@example.org")
    DelegationFactory(patient=patient, delegate=manager, may_manage=True, may_share=True)
    import_resources(patient, "A의원", [condition("c1", "제2형 당뇨병", "2024-04-10")])
    page = logged_in(manager).get(for_path(patient), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Your hospitals and files" in page
    assert "A의원" in page


def test_a_caregiver_limited_to_some_kinds_is_offered_only_their_pages(patient):
    """A grant to medications and lab results: every link of the dashboard and its menu opens
    (the kinds outside the grant are neither linked nor offered); a grant to a kind the patient
    has none of says so, never "No records yet"."""
    import_resources(patient, "A의원", [condition("c1", "제2형 당뇨병", "2024-04-10")])
    limited = UserFactory(email="limited@example.org")
    DelegationFactory(patient=patient, delegate=limited, categories=["medication", "lab"])
    client = logged_in(limited)
    page = client.get(for_path(patient), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    links = set(re.findall(r'href="(/for/[^"#?]+)', page))
    assert {link: client.get(link).status_code for link in links} == dict.fromkeys(links, 200)
    assert for_path(patient, "/records/c/condition/") not in links

    allergies_only = UserFactory(email="allergies@example.org")
    DelegationFactory(patient=patient, delegate=allergies_only, categories=["allergy"])
    page = logged_in(allergies_only).get(for_path(patient), HTTP_ACCEPT_LANGUAGE="en")
    assert "No records yet" not in page.content.decode()
    assert "None in the shared records." in page.content.decode()


def test_the_national_page_offers_a_read_only_caregiver_no_link_to_the_directory(patient, delegate):
    client = logged_in(delegate)
    page = client.get(for_path(patient, "/national/"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    links = set(re.findall(r'href="(/for/[^"#?]+)', page.content.decode()))
    assert for_path(patient, "/institutions/") not in links
    assert {link: client.get(link).status_code for link in links} == dict.fromkeys(links, 200)

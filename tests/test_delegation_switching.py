"""Acting for someone else: the person is in the URL (/for/<their code>/…), the grant decides.

A delegate (a caregiver or a guardian) opens the record of the person they act for under
that person's prefix; every link on the page stays with that person; a band names them on
every page; the patient's account is never reachable; an expired or revoked grant is 404
at once; each read is audited as "X acting for Y".
"""

import datetime as dt
import re
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import Action, ActorKind, AuditEvent
from sharing.models import Delegation
from tests.conftest import for_path, logged_in, login
from tests.factories import (
    DelegationFactory,
    RecordFactory,
    SourceFactory,
    UserFactory,
    hba1c,
)
from tests.test_idor_matrix import CONDITION

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(patient):
    source = SourceFactory(patient=patient)
    lab = RecordFactory(source=source, resource=hba1c("lab-1", 6.4, "2025-03-04T09:00:00+09:00"))
    condition = RecordFactory(source=source, resource=CONDITION)
    return source, lab, condition


@pytest.fixture
def caregiver(patient, delegate):
    return DelegationFactory(patient=patient, delegate=delegate)


def test_a_caregiver_reads_the_patients_dashboard_under_their_prefix(
    patient, delegate, caregiver, records
):
    client = logged_in(delegate)

    response = client.get(for_path(patient))

    assert response.status_code == 200
    body = response.content.decode()
    assert "김민준" in body  # the band names whose record it is
    assert f'data-acting-for="{patient.code}"' in body
    # Every link of the record's pages stays with the patient...
    assert f'href="/for/{patient.code}/records/timeline/"' in body
    # ...the account and logging out are the delegate's own.
    assert 'href="/account/"' in body
    assert 'action="/accounts/logout/"' in body


def test_the_patients_own_pages_have_no_band_without_grants(patient, records):
    response = logged_in(patient).get("/dashboard/")

    assert response.status_code == 200
    assert "data-acting-for" not in response.content.decode()


def test_a_delegate_switches_between_me_and_the_people_they_act_for(
    patient, delegate, caregiver, password
):
    client = Client()
    login(client, delegate.email, password)

    own = client.get("/dashboard/").content.decode()

    assert 'data-acting-for="me"' in own
    assert f'href="/for/{patient.code}/dashboard/"' in own
    assert "김민준" in own


def test_a_record_in_the_grants_scope_opens_and_one_outside_is_404(patient, delegate, records):
    _source, lab, condition = records
    DelegationFactory(patient=patient, delegate=delegate, categories=["lab"])
    client = logged_in(delegate)

    assert client.get(for_path(patient, f"/records/r/{lab.code}/")).status_code == 200
    assert client.get(for_path(patient, f"/records/r/{condition.code}/")).status_code == 404
    assert client.get(for_path(patient, "/records/c/condition/")).status_code in (200, 404)
    timeline = client.get(for_path(patient, "/records/timeline/")).content.decode()
    assert "비밀진단" not in timeline


def test_the_delegates_own_pages_show_their_own_record(patient, delegate, caregiver, records):
    _source, lab, _condition = records

    response = logged_in(delegate).get(f"/records/r/{lab.code}/")

    assert response.status_code == 404


def test_without_a_grant_the_prefix_is_404_like_nobody(patient, other_patient, records):
    _source, lab, _condition = records
    client = logged_in(other_patient)

    theirs = client.get(for_path(patient, f"/records/r/{lab.code}/"))
    nobody = client.get(f"/for/{uuid.uuid4()}/records/r/{lab.code}/")

    assert theirs.status_code == nobody.status_code == 404
    assert theirs.content.replace(str(patient.code).encode(), b"") == nobody.content.replace(
        nobody.wsgi_request.path.split("/")[2].encode(), b""
    )


@pytest.mark.parametrize("ending", ["expired", "revoked", "not accepted"])
def test_an_ended_grant_is_404_at_once(ending, patient, delegate, caregiver, records):
    _source, lab, _condition = records
    client = logged_in(delegate)
    urls = [
        for_path(patient),
        for_path(patient, f"/records/r/{lab.code}/"),
        for_path(patient, "/records/labs/"),
    ]
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]

    if ending == "expired":
        Delegation.objects.filter(pk=caregiver.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    elif ending == "revoked":
        Delegation.objects.filter(pk=caregiver.pk).update(revoked_at=timezone.now())
    else:
        Delegation.objects.filter(pk=caregiver.pk).update(delegate=None, accepted_at=None)

    assert [client.get(url).status_code for url in urls] == [404, 404, 404]


@pytest.mark.parametrize(
    "path",
    [
        "/account/",
        "/account/identity/",
        "/account/delete/",
        "/account/activity/",
        "/accounts/password/change/",
        "/accounts/email/",
        "/accounts/2fa/",
        "/admin/",
        "/api/v1/records/",
    ],
)
def test_the_patients_account_is_never_reachable_for_a_delegate(path, patient, delegate):
    DelegationFactory(patient=patient, delegate=delegate, guardian=True)

    response = logged_in(delegate).get(for_path(patient, path))

    assert response.status_code == 404


def test_anonymous_is_sent_to_log_in_and_back_to_the_same_person(patient):
    url = for_path(patient, "/records/labs/")

    response = Client().get(url)

    assert response.status_code == 302
    assert (
        response["Location"] == f"/accounts/login/?next={url.replace('/', '%2F')}"
        or response["Location"] == f"/accounts/login/?next={url}"
    )


def test_a_read_only_caregiver_manages_nothing(patient, delegate, caregiver, records):
    source, _lab, _condition = records
    client = logged_in(delegate)

    assert client.get(for_path(patient, f"/sources/{source.code}/")).status_code == 404
    assert client.post(for_path(patient, f"/sources/{source.code}/sync/")).status_code == 404
    assert client.get(for_path(patient, "/institutions/")).status_code in (403, 404)
    assert client.get(for_path(patient, "/sources/import/")).status_code in (403, 404)
    assert client.get(for_path(patient, "/shares/new/")).status_code in (403, 404)
    assert client.post(for_path(patient, "/account/download/")).status_code in (403, 404)
    assert client.get(for_path(patient, "/records/export/fhir/")).status_code in (403, 404)
    assert source.runs.count() == 0


def test_a_guardian_manages_the_childs_sources(patient, delegate, records):
    source, _lab, _condition = records
    DelegationFactory(patient=patient, delegate=delegate, guardian=True)
    client = logged_in(delegate)

    page = client.get(for_path(patient, f"/sources/{source.code}/"))
    sync = client.post(for_path(patient, f"/sources/{source.code}/sync/"))

    assert page.status_code == 200
    assert sync.status_code == 302
    assert sync["Location"].startswith(f"/for/{patient.code}/")
    assert source.runs.count() == 1
    event = AuditEvent.objects.filter(action=Action.SYNC_REQUESTED).get()
    assert (event.actor_kind, event.actor_id, event.patient_id) == (
        ActorKind.DELEGATE,
        delegate.pk,
        patient.pk,
    )


def test_each_read_by_a_delegate_is_audited_as_acting_for(patient, delegate, caregiver, records):
    _source, lab, _condition = records
    client = logged_in(delegate)

    client.get(for_path(patient, f"/records/r/{lab.code}/"))

    event = AuditEvent.objects.filter(action=Action.DELEGATE_VIEWED).get()
    assert event.actor_kind == ActorKind.DELEGATE
    assert event.actor_id == delegate.pk
    assert event.patient_id == patient.pk
    assert event.actor_label == delegate.email
    assert event.extra == {"page": "record_detail", "grant": caregiver.pk}
    assert str(lab.code) not in str(event.extra)


def test_a_page_reached_under_one_person_links_only_to_that_person(
    patient, delegate, caregiver, records
):
    body = logged_in(delegate).get(for_path(patient, "/records/timeline/")).content.decode()

    record_links = re.findall(r'href="(/records/[^"]*)"', body)
    assert record_links == []


def test_a_second_person_is_a_second_prefix(patient, other_patient, delegate, records):
    DelegationFactory(patient=patient, delegate=delegate)
    DelegationFactory(patient=other_patient, delegate=delegate)
    stranger = UserFactory()
    client = logged_in(delegate)

    assert client.get(for_path(patient)).status_code == 200
    assert client.get(for_path(other_patient)).status_code == 200
    assert client.get(for_path(stranger)).status_code == 404
    assert "이서연" in client.get(for_path(other_patient)).content.decode()

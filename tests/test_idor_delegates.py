"""The IDOR matrix for guardians and caregivers: the grant opens one person's record, within
its scope and rights, and nothing else — on the web (/for/<code>/…) and in the API
(?patient=<code>).

- a guardian of child A gets 404 for child B and for the other parent's own record;
- an expired or revoked caregiver gets 404 on every object URL of the patient's;
- a caregiver without "share" cannot create shares; one with it shares within their scope;
- the API acts for a patient only under an active grant, with the grant's scope and rights.
"""

import datetime as dt
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import Action, ActorKind, AuditEvent
from institutions.models import Source, SourceStatus
from sharing.models import Delegation, Share
from tests.conftest import for_path, logged_in
from tests.factories import (
    DelegationFactory,
    PatientProfileFactory,
    RecordFactory,
    SourceFactory,
    UserFactory,
    hba1c,
)
from tests.test_idor_matrix import CONDITION, OBJECT_URLS, world  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def _child(name: str, birth_date: dt.date):
    child = UserFactory(verified_email=False)
    PatientProfileFactory(user=child, full_name=name, birth_date=birth_date, sex="female")
    source = SourceFactory(patient=child)
    record = RecordFactory(
        source=source, resource=hba1c(f"lab-{name}", 5.2, "2025-05-01T09:00:00+09:00")
    )
    return child, source, record


# --- Guardians ------------------------------------------------------------------------------


@pytest.fixture
def family(patient, other_patient):
    """Child A, of both parents (patient, other_patient); child B, of the other parent only."""
    child_a, source_a, record_a = _child("김하은", dt.date(2019, 4, 10))
    child_b, source_b, record_b = _child("김도윤", dt.date(2021, 8, 1))
    DelegationFactory(patient=child_a, delegate=patient, guardian=True)
    DelegationFactory(patient=child_a, delegate=other_patient, guardian=True)
    DelegationFactory(patient=child_b, delegate=other_patient, guardian=True)
    own_source = SourceFactory(patient=other_patient)
    own_record = RecordFactory(source=own_source, resource=CONDITION)
    return {
        "a": (child_a, source_a, record_a),
        "b": (child_b, source_b, record_b),
        "other parent": (other_patient, own_source, own_record),
    }


@pytest.mark.parametrize("whose", ["b", "other parent"])
def test_a_guardian_of_child_a_gets_404_for_child_b_and_the_other_parent(whose, family, patient):
    child_a, _source_a, _record_a = family["a"]
    person, source, record = family[whose]
    client = logged_in(patient)
    assert client.get(for_path(child_a)).status_code == 200

    urls = [
        # Under their own prefix: no grant.
        for_path(person),
        for_path(person, f"/records/r/{record.code}/"),
        for_path(person, f"/sources/{source.code}/"),
        # Under child A's prefix: not child A's.
        for_path(child_a, f"/records/r/{record.code}/"),
        for_path(child_a, f"/sources/{source.code}/"),
        # In the API.
        f"/api/v1/records/?patient={person.code}",
        f"/api/v1/records/{record.code}/?patient={child_a.code}",
        f"/api/v1/sources/{source.code}/?patient={child_a.code}",
    ]

    assert [client.get(url).status_code for url in urls] == [404] * len(urls)
    assert client.post(for_path(child_a, f"/sources/{source.code}/sync/")).status_code == 404
    assert source.runs.count() == 0


def test_both_parents_manage_child_a(family, patient, other_patient):
    child_a, source_a, record_a = family["a"]

    for parent in (patient, other_patient):
        client = logged_in(parent)
        assert client.get(for_path(child_a, f"/records/r/{record_a.code}/")).status_code == 200
        assert client.get(for_path(child_a, f"/sources/{source_a.code}/")).status_code == 200
    assert "김하은" in logged_in(patient).get(for_path(child_a)).content.decode()


# --- An ended caregiver grant: 404 on every object URL ------------------------------------


def _as_delegate(url: str, patient) -> str:
    return f"{url}?patient={patient.code}" if url.startswith("/api/") else for_path(patient, url)


@pytest.mark.parametrize("ending", ["expired", "revoked"])
@pytest.mark.parametrize("route", OBJECT_URLS)
def test_an_ended_caregiver_gets_404_everywhere(ending, route, world, patient, delegate):  # noqa: F811
    grant = DelegationFactory(patient=patient, delegate=delegate, guardian=True)
    if ending == "expired":
        Delegation.objects.filter(pk=grant.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    else:
        Delegation.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    method, url_of, _owner_status = OBJECT_URLS[route]

    response = getattr(logged_in(delegate), method)(
        _as_delegate(url_of(world.mine), patient), content_type="application/json"
    )

    assert response.status_code == 404
    assert "김민준" not in response.content.decode()
    world.mine.share.refresh_from_db()
    assert world.mine.share.revoked_at is None
    assert Source.objects.get(pk=world.mine.source.pk).status == SourceStatus.ACTIVE
    assert world.mine.source.runs.count() == 1


PATIENTS_OWN = {"caregiver_detail", "caregiver_revoke", "caregiver_renew"}
# The patient's own shares: a delegate manages only the shares made under their own grant.
SHARES = {route for route in OBJECT_URLS if route.startswith(("share_", "api-share-"))}


@pytest.mark.parametrize("route", OBJECT_URLS)
def test_an_active_guardian_reaches_every_object_url(route, world, patient, delegate):  # noqa: F811
    """The matrix's other half: with an active managing grant every route answers as it
    does the patient (so the 404s above are the grant's ending, not a broken route)."""
    DelegationFactory(patient=patient, delegate=delegate, guardian=True)
    method, url_of, owner_status = OBJECT_URLS[route]
    if route in PATIENTS_OWN | SHARES:
        owner_status = 404  # the grants the patient gave, their shares: theirs alone

    response = getattr(logged_in(delegate), method)(
        _as_delegate(url_of(world.mine), patient), content_type="application/json"
    )

    assert response.status_code == owner_status, response.content[:300]


# --- The API acting for someone ------------------------------------------------------------


@pytest.fixture
def scoped(patient, delegate):
    source = SourceFactory(patient=patient)
    lab = RecordFactory(source=source, resource=hba1c("lab-1", 6.4, "2025-03-04T09:00:00+09:00"))
    condition = RecordFactory(source=source, resource=CONDITION)
    grant = DelegationFactory(patient=patient, delegate=delegate, categories=["lab"])
    return grant, source, lab, condition


def test_the_api_lists_the_grants_scope_only(scoped, patient, delegate):
    grant, _source, lab, condition = scoped

    response = logged_in(delegate).get(f"/api/v1/records/?patient={patient.code}")

    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(lab.code)}
    assert str(condition.code) not in response.content.decode()
    event = AuditEvent.objects.get(action=Action.DELEGATE_VIEWED)
    assert (event.actor_kind, event.actor_id, event.patient_id, event.extra["grant"]) == (
        ActorKind.DELEGATE,
        delegate.pk,
        patient.pk,
        grant.pk,
    )


def test_without_the_parameter_the_api_is_the_callers_own(scoped, delegate):
    response = logged_in(delegate).get("/api/v1/records/")

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("value", ["not-a-uuid", str(uuid.uuid4()), "", "%00"])
def test_the_api_answers_404_for_a_patient_without_a_grant(value, scoped, delegate):
    response = logged_in(delegate).get("/api/v1/records/", {"patient": value})

    assert response.status_code == 404


def test_the_api_refuses_a_read_only_caregiver_the_managing_routes(scoped, patient, delegate):
    _grant, source, _lab, _condition = scoped
    client = logged_in(delegate)
    query = f"?patient={patient.code}"

    assert client.get(f"/api/v1/sources/{query}").status_code == 404
    assert client.post(f"/api/v1/sources/{source.code}/sync/{query}").status_code == 404
    assert client.get(f"/api/v1/export/fhir/{query}").status_code == 404
    assert client.get(f"/api/v1/shares/{query}").status_code == 404
    assert source.runs.count() == 0


def test_the_api_ends_with_the_grant(scoped, patient, delegate):
    grant, _source, _lab, _condition = scoped
    client = logged_in(delegate)
    assert client.get(f"/api/v1/records/?patient={patient.code}").status_code == 200

    Delegation.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())

    assert client.get(f"/api/v1/records/?patient={patient.code}").status_code == 404


def test_the_schema_documents_the_patient_parameter(client):
    schema = client.get("/api/schema/?format=json").json()

    records = schema["paths"]["/api/v1/records/"]["get"]["parameters"]
    me = schema["paths"]["/api/v1/me/"]["get"].get("parameters", [])
    assert [p["in"] for p in records if p["name"] == "patient"] == ["query"]
    assert [p for p in me if p["name"] == "patient"] == []


# --- Shares by a caregiver -----------------------------------------------------------------


def _share_post(**fields):
    return {"label": "Dr. Han", "categories": ["lab"], "expires": "1d", **fields}


def test_a_caregiver_without_share_cannot_create_shares(patient, delegate, two_hospitals):
    DelegationFactory(patient=patient, delegate=delegate)
    client = logged_in(delegate)

    page = client.get(for_path(patient, "/shares/new/"))
    post = client.post(for_path(patient, "/shares/new/"), _share_post())
    api = client.post(
        f"/api/v1/shares/?patient={patient.code}",
        {"label": "Dr. Han", "categories": ["lab"], "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )

    assert page.status_code == 404
    assert post.status_code == 404
    assert api.status_code in (403, 404)
    assert not Share.objects.exists()


def test_a_caregiver_with_share_shares_within_their_scope(patient, delegate, two_hospitals):
    first, _second = two_hospitals
    DelegationFactory(
        patient=patient, delegate=delegate, may_share=True, categories=["lab"], sources=[first]
    )
    client = logged_in(delegate)

    outside = client.post(for_path(patient, "/shares/new/"), _share_post(categories=["condition"]))
    inside = client.post(for_path(patient, "/shares/new/"), _share_post())

    assert outside.status_code == 200  # the form again: diagnoses are not theirs to share
    share = Share.objects.get()
    assert inside.status_code == 302
    assert inside["Location"] == for_path(patient, f"/shares/{share.code}/")
    assert share.patient == patient
    assert share.categories == ["lab"]
    assert list(share.sources.all()) == [first]  # "all institutions" is theirs: the first
    event = AuditEvent.objects.get(action=Action.SHARE_CREATED)
    assert (event.actor_kind, event.actor_id, event.patient_id) == (
        ActorKind.DELEGATE,
        delegate.pk,
        patient.pk,
    )


# --- A delegate's shares are their grant's (QA: caregivers reached the patient's own) -------


def _api_share(client, patient, **fields):
    """A share made through the API acting for `patient`; returns (share, its link's path)."""
    response = client.post(
        f"/api/v1/shares/?patient={patient.code}",
        {"label": "Dr. Han", "categories": ["lab"], **fields},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content.decode()[:500]
    body = response.json()
    share = Share.objects.get(code=body["id"])
    return share, "/s/" + body["url"].rstrip("/").rsplit("/", 1)[-1] + "/"


def _in_days(days):
    return (timezone.now() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def shares_of_three(patient, delegate, two_hospitals):
    """The patient's own share (all kinds), a share by another caregiver, and a caregiver with
    the share right over labs (`delegate`), with a share of their own."""
    from tests.factories import make_share

    grant = DelegationFactory(
        patient=patient, delegate=delegate, may_share=True, categories=["lab"]
    )
    own, own_token = make_share(patient, categories=[])
    other = UserFactory(email="other-caregiver@example.org")
    DelegationFactory(patient=patient, delegate=other, may_share=True)
    others, _path = _api_share(logged_in(other), patient, expires_at=_in_days(2))
    mine, _path = _api_share(logged_in(delegate), patient, expires_at=_in_days(2))
    return grant, own, own_token, others, mine


@pytest.mark.parametrize("whose", ["own", "others"])
def test_a_caregiver_gets_404_for_shares_not_made_under_their_grant(
    whose, shares_of_three, patient, delegate
):
    _grant, own, own_token, others, mine = shares_of_three
    share = own if whose == "own" else others
    client = logged_in(delegate)
    api = f"/api/v1/shares/{share.code}"
    query = f"?patient={patient.code}"

    listing = client.get(for_path(patient, "/shares/"))
    api_list = client.get(f"/api/v1/shares/{query}")
    answers = {
        "detail": client.get(for_path(patient, f"/shares/{share.code}/")).status_code,
        "preview": client.get(for_path(patient, f"/shares/{share.code}/preview/")).status_code,
        "reissue": client.post(for_path(patient, f"/shares/{share.code}/reissue/")).status_code,
        "revoke": client.post(for_path(patient, f"/shares/{share.code}/revoke/")).status_code,
        "api detail": client.get(f"{api}/{query}").status_code,
        "api accesses": client.get(f"{api}/accesses/{query}").status_code,
        "api reissue": client.post(f"{api}/reissue/{query}").status_code,
        "api revoke": client.post(f"{api}/revoke/{query}").status_code,
    }

    assert answers == dict.fromkeys(answers, 404)
    assert listing.status_code == 200
    assert str(share.code) not in listing.content.decode()
    assert str(mine.code) in listing.content.decode()
    assert {row["id"] for row in api_list.json()["results"]} == {str(mine.code)}
    share.refresh_from_db()
    assert share.revoked_at is None
    if whose == "own":  # the patient's link still works
        assert Client().get(f"/s/{own_token}/").status_code == 200


def test_a_caregiver_manages_the_shares_made_under_their_grant(shares_of_three, patient, delegate):
    grant, _own, _own_token, _others, mine = shares_of_three
    client = logged_in(delegate)

    assert mine.created_under_id == grant.pk
    assert client.get(for_path(patient, f"/shares/{mine.code}/")).status_code == 200
    assert client.get(for_path(patient, f"/shares/{mine.code}/preview/")).status_code == 200
    accesses = client.get(f"/api/v1/shares/{mine.code}/accesses/?patient={patient.code}")
    assert accesses.status_code == 200
    assert client.post(for_path(patient, f"/shares/{mine.code}/revoke/")).status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None


# --- A delegate's shares end with their grant -----------------------------------------------


def test_a_delegates_share_never_outlives_the_grant(patient, delegate, two_hospitals):
    grant = DelegationFactory(
        patient=patient,
        delegate=delegate,
        may_share=True,
        expires_at=timezone.now() + dt.timedelta(days=2),
    )

    share, _path = _api_share(logged_in(delegate), patient, expires_at=_in_days(7))

    assert share.expires_at == Delegation.objects.get(pk=grant.pk).expires_at


def test_revoking_the_grant_revokes_the_delegates_shares_at_once(patient, delegate, two_hospitals):
    from tests.factories import make_share

    grant = DelegationFactory(patient=patient, delegate=delegate, may_share=True)
    share, path = _api_share(logged_in(delegate), patient, expires_at=_in_days(2))
    _own, own_token = make_share(patient)
    assert Client().get(path).status_code == 200

    assert logged_in(patient).post(f"/family/caregivers/{grant.code}/revoke/").status_code == 302

    assert Client().get(path).status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is not None
    assert Client().get(f"/s/{own_token}/").status_code == 200  # the patient's own lives on


def test_renewing_the_grant_shorter_caps_the_delegates_shares(patient, delegate, two_hospitals):
    grant = DelegationFactory(
        patient=patient,
        delegate=delegate,
        may_share=True,
        expires_at=timezone.now() + dt.timedelta(days=60),
    )
    share, _path = _api_share(logged_in(delegate), patient, expires_at=_in_days(20))

    logged_in(patient).post(f"/family/caregivers/{grant.code}/renew/", {"duration": "7d"})

    grant.refresh_from_db()
    share.refresh_from_db()
    assert grant.expires_at < timezone.now() + dt.timedelta(days=8)
    assert share.expires_at == grant.expires_at


def test_an_expired_grants_shares_are_refused_when_opened(patient, delegate, two_hospitals):
    import time_machine

    grant = DelegationFactory(
        patient=patient,
        delegate=delegate,
        may_share=True,
        expires_at=timezone.now() + dt.timedelta(days=2),
    )
    share, path = _api_share(logged_in(delegate), patient, expires_at=_in_days(2))
    assert Client().get(path).status_code == 200

    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        assert Client().get(path).status_code == 404

    # And whatever the share's own end says: the grant's is the bound.
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() + dt.timedelta(days=5))
    Delegation.objects.filter(pk=grant.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert Client().get(path).status_code == 404


# --- A manager's scope bounds the sources too (QA: a caregiver of P reached H) --------------


@pytest.fixture
def manager_of_first(patient, delegate, two_hospitals):
    first, second = two_hospitals
    DelegationFactory(patient=patient, delegate=delegate, may_manage=True, sources=[first])
    return first, second


def test_a_managing_caregiver_reaches_only_the_sources_in_their_scope(
    manager_of_first, patient, delegate
):
    first, second = manager_of_first
    client = logged_in(delegate)
    query = f"?patient={patient.code}"

    outside = client.get(for_path(patient, f"/sources/{second.code}/"))
    sync = client.post(for_path(patient, f"/sources/{second.code}/sync/"))
    api_detail = client.get(f"/api/v1/sources/{second.code}/{query}")
    api_sync = client.post(f"/api/v1/sources/{second.code}/sync/{query}")
    api_list = client.get(f"/api/v1/sources/{query}")
    inside = client.get(for_path(patient, f"/sources/{first.code}/"))

    assert (outside.status_code, sync.status_code) == (404, 404)
    assert (api_detail.status_code, api_sync.status_code) == (404, 404)
    assert second.runs.count() == 0
    assert api_list.status_code == 200
    assert [row["id"] for row in api_list.json()["results"]] == [str(first.code)]
    assert inside.status_code == 200
    assert "마포의원" not in inside.content.decode()


def test_no_delegate_downloads_the_patients_whole_account(family, patient):
    child, _source, _record = family["a"]
    guardian = logged_in(patient)

    download = guardian.post(for_path(child, "/account/download/"))
    fhir = guardian.get(for_path(child, "/records/export/fhir/"))

    assert download.status_code == 404
    assert fhir.status_code == 200  # the records, within the grant: still theirs to export


# --- Pages that are the viewer's own, never someone else's ----------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/notifications/"),
        ("get", "/notifications/settings/"),
        ("post", "/notifications/read/"),
    ],
)
def test_notifications_are_not_opened_for_someone_else(method, path, patient, delegate):
    client = logged_in(delegate)

    assert getattr(client, method)(for_path(patient, path)).status_code == 404
    if method == "get":
        assert client.get(path).status_code == 200  # their own, at their own URL


def test_the_bell_under_for_links_to_the_viewers_own_notifications(patient, delegate):
    page = logged_in(delegate).get(for_path(patient)).content.decode()

    assert 'href="/notifications/"' in page
    assert f"/for/{patient.code}/notifications/" not in page


def test_me_is_always_the_caller(patient, delegate):
    response = logged_in(delegate).get(f"/api/v1/me/?patient={patient.code}")

    # /me/ is about the caller: with someone else's code it is 404, never a mix of the two.
    assert response.status_code == 404
    assert patient.email not in response.content.decode()
    own = logged_in(delegate).get("/api/v1/me/").json()
    assert (own["email"], own["full_name"]) == (delegate.email, "박지훈")


def test_a_code_in_upper_case_is_the_same_patient_on_the_web_and_in_the_api(patient, delegate):
    client = logged_in(delegate)
    upper = str(patient.code).upper()

    web = client.get(f"/for/{upper}/dashboard/")
    api = client.get(f"/api/v1/records/?patient={upper}")

    assert (web.status_code, api.status_code) == (200, 200)

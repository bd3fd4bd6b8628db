"""Every surface asks which records this actor may see, through the scoped query of each model
that takes the actor (`request.actor`), never `request.user`; and reading a page never writes
the patient's profile."""

import datetime as dt

import pytest
from django.test import Client

from accounts.models import PatientProfile
from accounts.queries import profile_for
from audit.models import Action
from audit.queries import events_for
from core.access import Actor, ActorKind, Scope
from records.queries import record_for, records_for
from sharing import middleware
from tests.conftest import login
from tests.factories import (
    AuditEventFactory,
    RecordFactory,
    SourceFactory,
    UserFactory,
    hba1c,
    make_share,
)

pytestmark = pytest.mark.django_db


def condition(resource_id: str, onset: str) -> dict:
    return {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "44054006"}],
            "text": "제2형 당뇨병",
        },
        "onsetDateTime": onset,
    }


@pytest.fixture
def spread(patient, other_patient):
    """The patient's records: a lab at each of two sources on two dates, and a condition;
    the other patient has a lab of their own (outside every actor of the patient)."""
    first, second = SourceFactory(patient=patient), SourceFactory(patient=patient)
    records = {
        "old lab": RecordFactory(source=first, resource=hba1c("a", 7.1, "2024-01-02T09:00:00Z")),
        "new lab": RecordFactory(source=second, resource=hba1c("b", 6.8, "2025-06-01T09:00:00Z")),
        "condition": RecordFactory(source=first, resource=condition("c", "2025-06-01")),
        "someone else's": RecordFactory(
            source=SourceFactory(patient=other_patient),
            resource=hba1c("d", 6.5, "2025-06-01T09:00:00Z"),
        ),
    }
    return first, second, records


SCOPES = {
    "whole": (lambda first, second: Scope(), {"old lab", "new lab", "condition"}),
    "categories": (lambda first, second: Scope(categories=frozenset({"condition"})), {"condition"}),
    "source_ids": (lambda first, second: Scope(source_ids=frozenset({second.pk})), {"new lab"}),
    "date_from": (
        lambda first, second: Scope(date_from=dt.date(2025, 1, 1)),
        {"new lab", "condition"},
    ),
    "date_to": (lambda first, second: Scope(date_to=dt.date(2024, 12, 31)), {"old lab"}),
}


def _delegate(patient, acting_user, scope) -> Actor:
    """Someone else (the other patient's account) acting for `patient` within `scope`: the
    kind of actor the Family issue builds; the pages below must serve exactly its scope."""
    return Actor(
        kind=ActorKind.DELEGATE, patient_id=patient.pk, scope=scope, user_id=acting_user.pk
    )


@pytest.mark.parametrize("field", SCOPES)
def test_records_for_returns_exactly_the_actors_scope(patient, other_patient, spread, field):
    first, second, records = spread
    make_scope, expected = SCOPES[field]
    actor = _delegate(patient, other_patient, make_scope(first, second))

    seen = set(records_for(actor))

    assert seen == {records[name] for name in expected}


@pytest.mark.parametrize("field", SCOPES)
def test_pages_serve_the_actors_scope_not_the_logged_in_user(
    client, monkeypatch, patient, other_patient, spread, field
):
    """IDOR: logged in as the other patient, acting for the patient within a scope, every
    surface shows the scope's records and 404s for the others, the user's own included."""
    first, second, records = spread
    make_scope, expected = SCOPES[field]
    actor = _delegate(patient, other_patient, make_scope(first, second))
    monkeypatch.setattr(middleware, "actor_for_request", lambda request: actor)
    login(client, other_patient.email)

    timeline = client.get("/records/timeline/").content.decode()
    api = client.get("/api/v1/records/").json()
    details = {
        name: (
            client.get(f"/records/r/{record.code}/").status_code,
            client.get(f"/api/v1/records/{record.code}/").status_code,
        )
        for name, record in records.items()
    }

    in_timeline = {name for name, r in records.items() if f"/records/r/{r.code}/" in timeline}
    assert in_timeline == expected
    assert {row["id"] for row in api["results"]} == {str(records[n].code) for n in expected}
    assert details == {name: (200, 200) if name in expected else (404, 404) for name in records}


def test_record_for_refuses_a_record_outside_the_scope(patient, other_patient, spread):
    from django.http import Http404

    first, _second, records = spread
    actor = _delegate(patient, other_patient, Scope(source_ids=frozenset({first.pk})))

    assert record_for(actor, records["old lab"].code) == records["old lab"]
    with pytest.raises(Http404):
        record_for(actor, records["new lab"].code)


def test_labs_and_summary_api_serve_only_the_scope(
    client, monkeypatch, patient, other_patient, spread
):
    _first, second, records = spread
    actor = _delegate(patient, other_patient, Scope(source_ids=frozenset({second.pk})))
    monkeypatch.setattr(middleware, "actor_for_request", lambda request: actor)
    login(client, other_patient.email)

    series = client.get("/api/v1/labs/4548-4/series/").json()
    summary = client.get("/api/v1/summary/").json()

    assert [row["id"] for row in series] == [str(records["new lab"].code)]
    assert summary["condition"] == []
    assert [row["id"] for row in summary["lab"]] == [str(records["new lab"].code)]


# --- Audit events: the patient's own, and nobody else's -------------------------------------


def test_events_for_the_patient_are_their_own_and_none_for_other_actors(patient, other_patient):
    mine = AuditEventFactory(action=Action.LOGIN, patient_id=patient.pk)
    AuditEventFactory(action=Action.LOGIN, patient_id=other_patient.pk)
    share_actor = Actor(kind=ActorKind.SHARE, patient_id=patient.pk, grant_id=1)
    delegate = _delegate(patient, other_patient, Scope())

    assert list(events_for(Actor.patient(patient)).filter(pk=mine.pk)) == [mine]
    assert set(events_for(Actor.patient(patient)).values_list("patient_id", flat=True)) == {
        patient.pk
    }
    assert list(events_for(share_actor)) == []
    assert list(events_for(delegate)) == []
    assert list(events_for(None)) == []


def test_activity_page_of_a_delegate_shows_none_of_the_patients_events(
    client, monkeypatch, patient, other_patient
):
    AuditEventFactory(action=Action.IDENTITY_VERIFIED, patient_id=patient.pk)
    actor = _delegate(patient, other_patient, Scope())
    monkeypatch.setattr(middleware, "actor_for_request", lambda request: actor)
    login(client, other_patient.email)

    api = client.get("/api/v1/audit-events/").json()

    assert api["results"] == []


# --- The profile: read without writing ------------------------------------------------------


def test_profile_for_reads_the_stored_profile_or_an_unsaved_empty_one(patient):
    newcomer = UserFactory()

    stored = profile_for(Actor.patient(patient))
    empty = profile_for(Actor.patient(newcomer))
    nobody = profile_for(None)

    assert (stored.pk, stored.full_name, stored.is_verified) == (
        patient.profile.pk,
        "김민준",
        True,
    )
    assert (empty.pk, empty.user_id, empty.full_name, empty.is_verified) == (
        None,
        newcomer.pk,
        "",
        False,
    )
    assert (nobody.pk, nobody.user_id) == (None, None)
    assert not PatientProfile.objects.filter(user=newcomer).exists()


def test_pages_read_by_a_user_without_a_profile_write_no_profile(client):
    newcomer = UserFactory()
    login(client, newcomer.email)

    statuses = {
        url: client.get(url).status_code
        for url in (
            "/dashboard/",
            "/records/summary/",
            "/records/summary/fhir/",
            "/account/",
            "/account/identity/",
            "/api/v1/me/",
        )
    }

    assert statuses == {
        "/dashboard/": 200,
        "/records/summary/": 200,
        "/records/summary/fhir/": 200,
        "/account/": 200,
        "/account/identity/": 200,
        "/api/v1/me/": 200,
    }
    assert PatientProfile.objects.count() == 0


def test_share_recipient_pages_write_no_profile_for_the_patient():
    """An anonymous recipient opening a share of a patient who has no profile row yet."""
    patient = UserFactory()
    _share, token = make_share(patient, categories=["lab"])
    recipient = Client()

    recipient.post(f"/s/{token}/", {"name": "Dr. Kim"})
    summary = recipient.get(f"/s/{token}/")
    labs = recipient.get(f"/s/{token}/c/lab/")

    assert (summary.status_code, labs.status_code) == (200, 200)
    assert PatientProfile.objects.count() == 0

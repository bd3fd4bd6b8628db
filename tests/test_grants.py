"""Access as a grant: a share is read through the actor it grants, and the scoped queries of
sources, runs and shares answer only an actor who may manage the patient's account."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from core.access import Actor, ActorKind, Scope
from institutions import queries as source_queries
from institutions.models import SourceStatus
from records.queries import records_for
from sharing import domain, grants
from sharing import queries as share_queries
from tests.factories import SourceFactory, SyncRunFactory, make_share

pytestmark = pytest.mark.django_db


def test_actor_for_share_carries_the_share_scope(patient):
    source = SourceFactory(patient=patient)
    share, _token = make_share(
        patient,
        categories=["lab"],
        sources=[source],
        date_from=dt.date(2025, 1, 1),
        date_to=dt.date(2025, 6, 30),
    )

    actor = grants.actor_for_share(share, recipient="Dr. Kim")

    assert actor == Actor(
        kind=ActorKind.SHARE,
        patient_id=patient.pk,
        scope=Scope(
            categories=frozenset({"lab"}),
            source_ids=frozenset({source.pk}),
            date_from=dt.date(2025, 1, 1),
            date_to=dt.date(2025, 6, 30),
        ),
        user_id=None,
        grant_id=share.pk,
    )
    assert actor.label == "Dr. Kim"
    assert actor.may_manage is False


def test_actor_for_share_as_a_smart_health_link(patient):
    share, _token = make_share(patient)

    actor = grants.actor_for_share(share, kind=ActorKind.SHL)

    assert (actor.kind, actor.grant_id, actor.may_manage) == (ActorKind.SHL, share.pk, False)


@pytest.mark.parametrize("kind", [ActorKind.PATIENT, ActorKind.DELEGATE, ActorKind.OPERATOR])
def test_actor_for_share_refuses_kinds_that_are_not_links(patient, kind):
    share, _token = make_share(patient)

    with pytest.raises(ValueError, match="through a link"):
        grants.actor_for_share(share, kind=kind)


def test_share_actor_reads_exactly_the_scope(patient, kr_sources):
    share, _token = make_share(patient, categories=["lab"], sources=[kr_sources["pureun"]])

    seen = set(
        records_for(grants.actor_for_share(share)).values_list("category", "source_id").distinct()
    )

    assert seen == {("lab", kr_sources["pureun"].pk)}


def test_patient_manages_their_sources_linked_or_not(patient, other_patient):
    linked = SourceFactory(patient=patient)
    unlinked = SourceFactory(patient=patient, status=SourceStatus.UNLINKED)
    SourceFactory(patient=other_patient)
    actor = Actor.patient(patient)

    assert set(source_queries.sources_for(actor)) == {linked, unlinked}
    assert source_queries.source_for(actor, unlinked.code) == unlinked
    assert [s.pk for s in source_queries.linked_sources(actor)] == [linked.pk]


def test_patient_sees_only_their_own_runs_and_shares(patient, other_patient):
    run = SyncRunFactory(source=SourceFactory(patient=patient))
    SyncRunFactory(source=SourceFactory(patient=other_patient))
    share, _token = make_share(patient)
    theirs, _token = make_share(other_patient)
    actor = Actor.patient(patient)

    assert list(source_queries.runs_for(actor)) == [run]
    assert list(share_queries.shares_for(actor)) == [share]
    assert share_queries.share_for(actor, share.code) == share
    with pytest.raises(Http404):
        share_queries.share_for(actor, theirs.code)


def test_share_recipient_manages_no_sources_runs_or_shares(patient):
    source = SourceFactory(patient=patient)
    SyncRunFactory(source=source)
    share, _token = make_share(patient)
    recipient = grants.actor_for_share(share, recipient="Dr. Kim")

    assert list(source_queries.sources_for(recipient)) == []
    assert list(source_queries.linked_sources(recipient)) == []
    assert list(source_queries.runs_for(recipient)) == []
    assert list(share_queries.shares_for(recipient)) == []
    assert list(share_queries.share_list(recipient)) == []
    with pytest.raises(Http404):
        source_queries.source_for(recipient, source.code)
    with pytest.raises(Http404):
        share_queries.share_for(recipient, share.code)


def test_no_actor_manages_nothing(patient):
    SourceFactory(patient=patient)
    make_share(patient)

    assert list(source_queries.sources_for(None)) == []
    assert list(source_queries.runs_for(None)) == []
    assert list(share_queries.shares_for(None)) == []


def test_share_recipient_cannot_create_a_share(patient):
    share, _token = make_share(patient)
    recipient = grants.actor_for_share(share)

    with pytest.raises(PermissionDenied):
        domain.create_share(
            actor=recipient,
            label="Someone else",
            purpose="",
            categories=["lab"],
            sources=[],
            date_from=None,
            date_to=None,
            expires_at=share.expires_at,
            passcode="",
            allow_download=False,
            notify_on_open=False,
        )
    assert list(share_queries.shares_for(Actor.patient(patient))) == [share]


def test_share_url_is_the_link_the_recipient_opens(client, patient, settings):
    settings.SITE_URL = "https://phr.example"
    _share, token = make_share(patient)

    assert domain.share_url(token) == f"https://phr.example/s/{token}/"
    assert client.get(f"/s/{token}/").status_code == 200


def test_patient_links_and_imports_for_themself(patient, django_assert_num_queries):
    actor = Actor.patient(patient)

    with django_assert_num_queries(0):  # the logged-in user is the patient: nothing to read
        assert source_queries.managing_patient(actor, user=patient) is patient


def test_share_recipient_links_and_imports_for_nobody(patient):
    share, _token = make_share(patient)

    with pytest.raises(PermissionDenied):
        source_queries.managing_patient(grants.actor_for_share(share))
    with pytest.raises(PermissionDenied):
        source_queries.managing_patient(None)

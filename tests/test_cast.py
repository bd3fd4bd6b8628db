"""The factories and the fixed cast build what the product itself would."""

import dataclasses

import pytest
from django.test import Client

from institutions.models import RunStatus, SourceKind
from records import projection
from records.models import Record
from sharing.models import Delegation, Share
from tests.factories import (
    InstitutionFactory,
    RecordFactory,
    ShareFactory,
    SourceFactory,
    SyncRunFactory,
    make_share,
)

pytestmark = pytest.mark.django_db


def _columns(resource) -> dict:
    columns = projection.project(resource)
    return dataclasses.asdict(columns) if dataclasses.is_dataclass(columns) else dict(columns)


def test_record_factory_columns_are_the_projection_of_its_resource(patient):
    record = RecordFactory(source=SourceFactory(patient=patient))

    stored = Record.objects.get(pk=record.pk)

    assert {name: getattr(stored, name) for name in _columns(stored.resource)} == _columns(
        stored.resource
    )
    assert (stored.category, stored.code_value, stored.unit) == ("lab", "4548-4", "%")
    assert stored.content_hash == projection.content_hash(stored.resource)
    assert stored.patient == patient


def test_source_factory_makes_a_consented_link_or_an_upload(patient):
    linked = SourceFactory(patient=patient)
    uploaded = SourceFactory(patient=patient, upload=True)

    assert (linked.kind, linked.consent_at is not None) == (SourceKind.INSTITUTION, True)
    assert linked.institution.is_active
    assert (uploaded.kind, uploaded.institution, uploaded.label != "") == (
        SourceKind.UPLOAD,
        None,
        True,
    )


def test_sync_runs_of_one_source_are_finished_so_several_can_exist(patient):
    source = SourceFactory(patient=patient)

    runs = SyncRunFactory.create_batch(3, source=source)

    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 3
    assert InstitutionFactory().hira_number != InstitutionFactory().hira_number


def test_share_factory_uses_the_products_create_share_with_an_optional_passcode(patient):
    plain = ShareFactory(patient=patient)
    locked, token = make_share(patient, passcode="482913")

    assert not plain.has_passcode
    assert locked.has_passcode
    assert Share.objects.get(pk=locked.pk).token_hash != ""
    client = Client()
    assert client.post(f"/s/{token}/", {"passcode": "000000"}).status_code == 200
    assert client.post(f"/s/{token}/", {"passcode": "482913"}).status_code == 302


def test_the_clinician_opens_the_patients_share_by_its_link(patient, clinician):
    client = clinician.open(Client())

    assert clinician.share.patient == patient
    assert clinician.share.categories == ["lab", "medication"]
    assert client.get(f"{clinician.link}c/lab/").status_code == 200
    assert client.get(f"{clinician.link}c/condition/").status_code == 404


def test_the_delegate_is_the_patients_caregiver_with_nothing_of_theirs_on_their_own_pages(
    patient, delegate
):
    RecordFactory(source=SourceFactory(patient=patient))
    client = Client()
    client.force_login(delegate)

    assert client.get("/api/v1/records/").json()["results"] == []
    assert len(client.get(f"/api/v1/records/?patient={patient.code}").json()["results"]) == 1
    assert delegate.profile.full_name != patient.profile.full_name
    grant = Delegation.objects.get()
    assert (grant.kind, grant.patient, grant.delegate, grant.is_active) == (
        "caregiver",
        patient,
        delegate,
        True,
    )
    assert (grant.may_share, grant.may_manage, grant.categories) == (False, False, [])

"""Literal query counts, at two data sizes, on every list page and API list.

Each page is asked for by the cast's patient (or, for the recipient's pages, by the clinician)
once to warm the session, then measured at size 1 and size 30 (records of every kind, sources,
runs, shares, accesses, audit events, institutions). The number is the same at both sizes and
is written down with the queries it stands for: a new query shows up as a changed number, an
N+1 as a number that differs between the sizes.
"""

import base64
import datetime as dt
import json
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import Action, ActorKind
from records.models import Record
from sharing.models import AccessAction, ShareAccess
from tests.factories import (
    AuditEventFactory,
    InstitutionFactory,
    RecordFactory,
    ShareFactory,
    SourceFactory,
    SyncRunFactory,
    hba1c,
)

pytestmark = pytest.mark.django_db

SIZES = [1, 30]
LAB_CODES = [
    ("4548-4", "HbA1c", "%"),
    ("2345-7", "Glucose", "mg/dL"),
    ("2160-0", "Creatinine", "mg/dL"),
]


def _when(i: int) -> str:
    return (
        dt.datetime(2025, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))
        + dt.timedelta(days=7 * i)
    ).isoformat()


def _lab(i: int) -> dict:
    code, display, unit = LAB_CODES[i % len(LAB_CODES)]
    resource = hba1c(f"lab-{i}", 5.0 + (i % 10) / 5, _when(i))
    resource["code"] = {
        "coding": [{"system": "http://loinc.org", "code": code, "display": display}],
        "text": display,
    }
    resource["valueQuantity"]["unit"] = resource["valueQuantity"]["code"] = unit
    return resource


def _blood_pressure(i: int) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"bp-{i}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "혈압"},
        "effectiveDateTime": _when(i),
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120 + i % 15, "unit": "mmHg"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 80 + i % 10, "unit": "mmHg"},
            },
        ],
    }


def _medication(i: int) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": f"med-{i}",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
                    "code": f"6430{i:05d}",
                    "display": f"메트포르민정 {i}",
                }
            ],
            "text": f"메트포르민정 {i}",
        },
        "subject": {"reference": "Patient/p1"},
        "authoredOn": _when(i),
        "dosageInstruction": [{"text": "1일 2회"}],
    }


def _condition(i: int) -> dict:
    return {
        "resourceType": "Condition",
        "id": f"cond-{i}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
                    "code": f"E11.{i}",
                    "display": f"제2형 당뇨병 {i}",
                }
            ],
            "text": f"제2형 당뇨병 {i}",
        },
        "subject": {"reference": "Patient/p1"},
        "recordedDate": _when(i),
    }


def _encounter(i: int) -> dict:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{i}",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
        },
        "type": [{"text": "외래 진료"}],
        "subject": {"reference": "Patient/p1"},
        "period": {"start": _when(i), "end": _when(i)},
    }


@dataclass
class Data:
    lab: object  # a lab Record
    source: object  # an institution Source with runs and records
    share: object  # a share of labs and medications, with accesses, downloads allowed
    manifest_id: str


def populate(patient, n: int) -> Data:
    """`n` of every kind of the patient's objects: records of five categories over two
    sources, `n` sources in all, sync runs, shares, share accesses, audit events, directory
    institutions."""
    # Synced: a source that has not completed a sync adds the query naming it on a page with
    # an empty section ("Not known yet": records/_none_recorded.html).
    synced = timezone.now()
    linked = SourceFactory(patient=patient, last_synced_at=synced)
    uploaded = SourceFactory(patient=patient, upload=True, last_synced_at=synced)
    for i in range(n):
        source = linked if i % 2 == 0 else uploaded
        for build in (_lab, _blood_pressure, _medication, _condition, _encounter):
            RecordFactory(source=source, resource=build(i))
        SyncRunFactory(source=linked)
        SyncRunFactory(source=uploaded)
        InstitutionFactory()
        AuditEventFactory(
            patient_id=patient.pk,
            actor_id=patient.pk,
            actor_kind=ActorKind.PATIENT,
            action=Action.LOGIN,
        )
    # More sources (each with a run and a record): the lists of sources grow with n too.
    for i in range(n - 1):
        more = SourceFactory(patient=patient, upload=True, last_synced_at=synced)
        SyncRunFactory(source=more)
        RecordFactory(source=more, resource=_lab(1000 + i))
    shares = [ShareFactory(patient=patient, allow_download=True, base_url="http://testserver")]
    shares += [
        ShareFactory(patient=patient, label=f"Dr. {i}", sources=[linked]) for i in range(n - 1)
    ]
    shares[0].sources.set(patient.sources.all())
    ShareAccess.objects.bulk_create(
        ShareAccess(
            share=shares[0], action=AccessAction.VIEWED, recipient_name=f"Dr. {i}", what="lab"
        )
        for i in range(n)
    )
    encoded = shares[0].shlink.removeprefix("shlink:/")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    manifest_id = payload["url"].rstrip("/").rsplit("/", 1)[1]
    lab = Record.objects.filter(patient=patient, category="lab", code_value="4548-4").first()
    return Data(lab=lab, source=linked, share=shares[0], manifest_id=manifest_id)


# Every page of a logged-in patient starts with the session and the user (2 queries, "auth"
# below); a recipient's page with the session and their share (2, "link" below).

# name → (the URL for the patient's data, the queries it runs at either size)
PATIENT_PAGES = {
    # auth, sources, their last runs, the data version (their record counts: a cache get),
    # profile, the data version (the summary of the records — counts, visits, problems,
    # medications, allergies, vitals — is one cache get: records.readmodels; 13 before)
    "dashboard": (lambda d: "/dashboard/", 7),
    # auth, sources, their last runs, the data version (their record counts: a cache get;
    # counted in the sources' query before, which joined every record)
    "dashboard sources": (lambda d: "/dashboard/sources/", 5),
    # auth, the data version (the first page: a cache get), the data version and the sources
    # for the filter by id (which sources hold records: a cache get; found from every record
    # before)
    "timeline": (lambda d: "/records/timeline/", 5),
    # auth, the data version and the sources for the filter (as the timeline's), a page of
    # matching records
    "search": (lambda d: "/records/search/?q=당뇨병", 4),
    # auth, a page of the category's records
    "category lab": (lambda d: "/records/c/lab/", 3),
    "category encounter": (lambda d: "/records/c/encounter/", 3),
    # auth, the data version (the overview is a cache get; 4 before)
    "labs": (lambda d: "/records/labs/", 3),
    # auth, the data version (the test's name: a cache get), the data version (its chart,
    # values and explanation: HTML, a cache get; 5 before)
    "lab detail": (lambda d: "/records/labs/4548-4/", 4),
    # auth, the data version (the charts are a cache get; 9 before)
    "vitals": (lambda d: "/records/vitals/", 3),
    # auth, the medication records
    "medications": (lambda d: "/records/medications/", 3),
    # auth, profile, the data version (the sections are a cache get; 11 before)
    "summary": (lambda d: "/records/summary/", 4),
    # auth, the source, its last runs, its record count
    "source detail": (lambda d: f"/sources/{d.source.code}/", 5),
    # auth, the patient's linked sources with record counts, the directory
    "institution directory": (lambda d: "/institutions/", 4),
    # auth, the shares, their sources (prefetch), the sources' institutions (prefetch)
    "shares list": (lambda d: "/shares/", 5),
    # auth, the share, its sources, the shared record count, the sources and their
    # institutions for the scope, the access log
    "share detail": (lambda d: f"/shares/{d.share.code}/", 8),
    # auth, the event count, a page of events
    "activity": (lambda d: "/account/activity/", 4),
    # auth, the data version (the sources a filter may name: a cache get), a page of records
    # (cursor: no COUNT)
    "api records": (lambda d: "/api/v1/records/", 4),
    # auth, series keys, latest per code (window)
    "api labs": (lambda d: "/api/v1/labs/", 4),
    # auth, series keys, the code's points
    "api lab series": (lambda d: "/api/v1/labs/4548-4/series/", 4),
    # as the summary page, without the profile (current medications: the records that can be
    # current today, the patient's sources and the records shown, whole)
    "api summary": (lambda d: "/api/v1/summary/", 10),
    # auth, a page of sources (institutions joined)
    "api sources": (lambda d: "/api/v1/sources/", 3),
    # auth, a page of runs (sources joined)
    "api sync-runs": (lambda d: "/api/v1/sync-runs/", 3),
    # auth, a page of shares, their sources (prefetch)
    "api shares": (lambda d: "/api/v1/shares/", 4),
    # auth, the share, a page of its accesses
    "api share accesses": (lambda d: f"/api/v1/shares/{d.share.code}/accesses/", 4),
    # auth, a page of events
    "api audit-events": (lambda d: "/api/v1/audit-events/", 3),
    # auth, a page of the directory
    "api institutions": (lambda d: "/api/v1/institutions/", 3),
}

# name → (the URL under the clinician's link, the queries it runs at either size)
RECIPIENT_PAGES = {
    # link, the access logged (ShareAccess, AuditEvent), the share's sources with their
    # institutions (once, for the scope and its notes), the data version (read once for the
    # counts and first page and the summary's sections, each a cache get), profile (10 before,
    # 18 before that)
    "recipient overview": (lambda d, t: f"/s/{t}/", 7),
    # link, access logged (2), the share's sources with their institutions, the data version
    # (the counts and page, the overview of tests), profile (10 before, 12 before that)
    "recipient category": (lambda d, t: f"/s/{t}/c/lab/", 7),
    # link, the share's sources, the record, access logged (2)
    "recipient record": (lambda d, t: f"/s/{t}/r/{d.lab.code}/", 6),
    # link, the share's sources, the data version (the series and chart a cache get), access
    # logged (2) (8 before)
    "recipient lab detail": (lambda d, t: f"/s/{t}/labs/4548-4/", 6),
}


def _consume(response):
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    return response


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", PATIENT_PAGES)
def test_patient_page_query_count(client, patient, django_assert_num_queries, name, size):
    data = populate(patient, size)
    url_for, expected = PATIENT_PAGES[name]
    url = url_for(data)
    client.force_login(patient)
    assert client.get(url).status_code == 200  # the session's first request loads more

    with django_assert_num_queries(expected):
        response = _consume(client.get(url))

    assert response.status_code == 200


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", RECIPIENT_PAGES)
def test_recipient_page_query_count(patient, clinician, django_assert_num_queries, name, size):
    data = populate(patient, size)
    clinician.share.sources.set(patient.sources.all())
    recipient = clinician.open(Client())
    url_for, expected = RECIPIENT_PAGES[name]
    url = url_for(data, clinician.token)
    assert recipient.get(url).status_code == 200

    with django_assert_num_queries(expected):
        response = recipient.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("size", SIZES)
def test_shl_manifest_query_count(patient, django_assert_num_queries, size):
    data = populate(patient, size)
    viewer = Client()
    body = json.dumps({"recipient": "Dr. Lee"})
    assert (
        viewer.post(f"/shl/{data.manifest_id}", body, content_type="application/json").status_code
        == 200
    )

    # the active link, the access logged (ShareAccess, AuditEvent), expired file locations
    # deleted, the new file location (no records are read: the file is encrypted at creation)
    with django_assert_num_queries(5):
        response = viewer.post(f"/shl/{data.manifest_id}", body, content_type="application/json")

    assert response.status_code == 200

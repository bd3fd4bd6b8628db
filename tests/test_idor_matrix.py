"""The IDOR matrix for every kind of actor, through real HTTP.

tests/test_security.py walks the whole URL map (every parameterised route must be probed or
explained) with three intruders at once. Here every object URL meets every actor of the cast,
one test each, with the exact answer expected:

- the owner (`patient`): allowed (200, or the redirect or status of the action);
- another patient, the delegate (the patient's caregiver, on their own pages: the grant is
  used only under /for/<patient's code>/, see tests/test_idor_delegates.py), the admin
  outside the admin: 404, never 403;
- the clinician (a share of the patient's labs and medications), an SHL viewer, anonymous:
  the login page (HTML) or 401 (API): they have no account session;
- on the clinician's own pages: 404 for anything outside the share's categories, sources and
  dates, and after revocation or expiry, with the same bytes as an unknown link;
- an SHL viewer: the manifest of an active link only;
- the admin: the admin's pages, each read audited for the patient.

And a 404 for another patient's object is byte-identical to a 404 for a code that does not exist.
"""

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from institutions.models import Source, SourceStatus
from sharing import domain as sharing_domain
from sharing.models import Delegation, Share
from tests.factories import (
    DelegationFactory,
    RecordFactory,
    ShareFactory,
    SourceFactory,
    SyncRunFactory,
    hba1c,
)
from tests.test_security import PROBES

pytestmark = pytest.mark.django_db

CONDITION = {
    "resourceType": "Condition",
    "id": "cond-1",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {
        "coding": [
            {
                "system": "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
                "code": "E11.9",
                "display": "제2형 당뇨병",
            }
        ],
        "text": "제2형 당뇨병(비밀진단)",
    },
    "recordedDate": "2025-02-01",
}


def _lab(resource_id: str, when: str, code: str, text: str) -> dict:
    resource = hba1c(resource_id, 1.3, when)
    resource["code"] = {
        "coding": [{"system": "http://loinc.org", "code": code, "display": text}],
        "text": text,
    }
    return resource


@dataclass
class Side:
    """One patient's objects of every kind."""

    record: object  # a lab result (HbA1c), in the linked source, in 2025
    lab_code: str
    source: object  # linked institution
    upload: object  # an uploaded file's source
    run: object
    share: object  # a share of labs with downloads (so an SHL too)
    manifest_id: str
    grant: object  # a caregiver invited (not yet accepted): the patient's own grant pages
    encounter: object = None  # a visit: its plain-language summary is patient data


def _manifest_id(shlink: str) -> str:
    encoded = shlink.removeprefix("shlink:/")
    data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return data["url"].rstrip("/").rsplit("/", 1)[1]


def _side(user, *, lab_code: str, prefix: str) -> Side:
    source = SourceFactory(patient=user)
    upload = SourceFactory(patient=user, upload=True)
    run = SyncRunFactory(source=source)
    SyncRunFactory(source=upload)
    resource = hba1c(f"{prefix}-lab", 6.4, "2025-03-04T09:00:00+09:00")
    resource["code"]["coding"][0]["code"] = lab_code
    record = RecordFactory(source=source, resource=resource)
    share = ShareFactory(
        patient=user,
        label=f"{prefix} Dr. Share",
        categories=["lab"],
        allow_download=True,
        base_url="http://testserver",
    )
    grant = DelegationFactory(
        patient=user, delegate=None, label=f"{prefix} caregiver", invited_email=f"{prefix}@x.org"
    )
    encounter = RecordFactory(
        source=source,
        resource={
            "resourceType": "Encounter",
            "id": f"{prefix}-visit",
            "status": "finished",
            "class": {"code": "AMB"},
            "period": {"start": "2025-03-04T09:00:00+09:00"},
        },
    )
    return Side(
        record, lab_code, source, upload, run, share, _manifest_id(share.shlink), grant, encounter
    )


@dataclass
class World:
    mine: Side
    theirs: Side
    condition: object  # the patient's diagnosis: outside the clinician's categories
    uploaded_lab: object  # a lab in the uploaded source, of 2025 (a code of its own)
    old_lab: object  # a lab of 2021, in the linked source (a code of its own)
    markers: list


@pytest.fixture
def world(patient, other_patient, clinician):
    mine = _side(patient, lab_code="4548-4", prefix="mine")
    # The other patient's lab has a code of its own: a lab page for it is theirs only.
    theirs = _side(other_patient, lab_code="2093-3", prefix="theirs")
    condition = RecordFactory(source=mine.source, resource=CONDITION)
    uploaded_lab = RecordFactory(
        source=mine.upload,
        resource=_lab("upl-1", "2025-04-01T08:00:00+09:00", "2345-7", "공복혈당(업로드)"),
    )
    old_lab = RecordFactory(
        source=mine.source,
        resource=_lab("old-1", "2021-06-01T08:00:00+09:00", "2160-0", "크레아티닌(2021)"),
    )
    return World(
        mine=mine,
        theirs=theirs,
        condition=condition,
        uploaded_lab=uploaded_lab,
        old_lab=old_lab,
        markers=[
            patient.profile.full_name,
            patient.email,
            "비밀진단",
            mine.share.label,
            clinician.share.label,
            mine.source.display_name,
            mine.grant.label,
        ],
    )


# --- The actors ---------------------------------------------------------------------------------

ACTORS = ["owner", "other patient", "delegate", "admin", "clinician", "shl viewer", "anonymous"]
NOT_FOUND = {"other patient", "delegate", "admin"}  # logged in: 404, as if nothing were there
NO_SESSION = {"clinician", "shl viewer", "anonymous"}  # no account: the login page, or 401


@pytest.fixture
def actor_client(request, patient, other_patient, delegate, admin_user, clinician, world):
    def build(actor: str) -> Client:
        client = Client()
        if actor in ("owner", "other patient", "delegate", "admin"):
            user = {
                "owner": patient,
                "other patient": other_patient,
                "delegate": delegate,
                "admin": admin_user,
            }[actor]
            client.force_login(user)
        elif actor == "clinician":
            clinician.open(client)
        elif actor == "shl viewer":
            body = json.dumps({"recipient": "Dr. Viewer"})
            response = client.post(
                f"/shl/{world.mine.manifest_id}", body, content_type="application/json"
            )
            assert response.status_code == 200
        return client

    return build


# --- The owner's object URLs --------------------------------------------------------------------


def _url(name, **kwargs):
    return reverse(name, kwargs=kwargs)


# route → (method, the URL of `side`'s object, what the owner gets)
OBJECT_URLS = {
    "record_detail": ("get", lambda s: _url("record_detail", code=s.record.code), 200),
    "lab_detail": ("get", lambda s: _url("lab_detail", code=s.lab_code), 200),
    "visit_summary": ("get", lambda s: _url("visit_summary", code=s.encounter.code), 200),
    "source_detail": ("get", lambda s: _url("source_detail", code=s.source.code), 200),
    "source_progress": ("get", lambda s: _url("source_progress", code=s.source.code), 200),
    "source_sync": ("post", lambda s: _url("source_sync", code=s.source.code), 302),
    # Without the confirmation the unlink form is shown again (the owner's page).
    "source_unlink": ("post", lambda s: _url("source_unlink", code=s.source.code), 200),
    "share_detail": ("get", lambda s: _url("share_detail", code=s.share.code), 200),
    "share_preview": ("get", lambda s: _url("share_preview", code=s.share.code), 200),
    "share_revoke": ("post", lambda s: _url("share_revoke", code=s.share.code), 302),
    "share_reissue": ("post", lambda s: _url("share_reissue", code=s.share.code), 302),
    "caregiver_detail": ("get", lambda s: _url("caregiver_detail", code=s.grant.code), 200),
    "caregiver_revoke": ("post", lambda s: _url("caregiver_revoke", code=s.grant.code), 302),
    # Without a duration the renewal is refused with a message, back on the grant's page.
    "caregiver_renew": ("post", lambda s: _url("caregiver_renew", code=s.grant.code), 302),
    "api-record": ("get", lambda s: _url("api-record", id=s.record.code), 200),
    "api-lab-series": ("get", lambda s: _url("api-lab-series", code=s.lab_code), 200),
    "api-source-detail": ("get", lambda s: _url("api-source-detail", id=s.source.code), 200),
    "api-source-delete": (
        "delete",
        lambda s: _url("api-source-detail", id=s.source.code),
        204,
    ),
    "api-source-sync": ("post", lambda s: _url("api-source-sync", id=s.source.code), 202),
    "api-sync-run-detail": ("get", lambda s: _url("api-sync-run-detail", id=s.run.code), 200),
    "api-sync-run-issues": ("get", lambda s: _url("api-sync-run-issues", id=s.run.code), 200),
    "api-share-detail": ("get", lambda s: _url("api-share-detail", id=s.share.code), 200),
    "api-share-accesses": ("get", lambda s: _url("api-share-accesses", id=s.share.code), 200),
    "api-share-revoke": ("post", lambda s: _url("api-share-revoke", id=s.share.code), 200),
    "api-share-reissue": ("post", lambda s: _url("api-share-reissue", id=s.share.code), 200),
}


def test_every_owner_object_route_of_the_security_matrix_is_here():
    """tests/test_security.py knows every parameterised route; each owner's object is here."""
    recipient_side = {"share_entry", "share_category", "share_download", "share_lab"}
    recipient_side |= {"share_record", "shl_manifest", "shl_file"}  # tested further down
    allauth = {"mfa_remove_webauthn", "mfa_edit_webauthn"}  # allauth's own views
    assert set(PROBES) - recipient_side - allauth - set(OBJECT_URLS) == set()


def _body(response) -> str:
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("route", OBJECT_URLS)
def test_object_url_answers_each_actor(route, actor, world, actor_client, patient):
    method, url_of, owner_status = OBJECT_URLS[route]
    url = url_of(world.mine)
    client = actor_client(actor)

    response = getattr(client, method)(url, content_type="application/json")

    if actor == "owner":
        assert response.status_code == owner_status, _body(response)[:500]
        return
    if actor in NOT_FOUND:
        assert response.status_code == 404
    elif url.startswith("/api/"):
        assert actor in NO_SESSION
        assert response.status_code == 401
    else:
        assert actor in NO_SESSION
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"
    body = _body(response)
    assert [marker for marker in world.markers if marker in body] == []
    # Nothing changed for anyone but the owner.
    world.mine.share.refresh_from_db()
    assert world.mine.share.revoked_at is None
    assert Share.objects.get(pk=world.mine.share.pk).token_hash == world.mine.share.token_hash
    assert Source.objects.get(pk=world.mine.source.pk).status == SourceStatus.ACTIVE
    assert world.mine.source.runs.count() == 1
    assert Delegation.objects.get(pk=world.mine.grant.pk).revoked_at is None


# --- Another patient's object and no object: the same bytes -------------------------------------


def _same(a, b) -> bool:
    headers_a = {k: v for k, v in a.items() if k != "Content-Length"}
    headers_b = {k: v for k, v in b.items() if k != "Content-Length"}
    return (a.status_code, a.content, headers_a) == (b.status_code, b.content, headers_b)


def _nonexistent(side: Side) -> Side:
    """The same objects under codes nobody has."""
    fake = type("Fake", (), {"code": uuid.uuid4()})
    return Side(
        record=fake,
        lab_code="00000-0",
        source=fake,
        upload=fake,
        run=fake,
        share=fake,
        manifest_id=sharing_domain.new_token(),
        grant=fake,
        encounter=fake,
    )


@pytest.mark.parametrize("route", OBJECT_URLS)
def test_another_patients_object_is_answered_as_nothing(route, world, actor_client):
    method, url_of, _owner_status = OBJECT_URLS[route]
    client = actor_client("owner")

    theirs = getattr(client, method)(url_of(world.theirs), content_type="application/json")
    nothing = getattr(client, method)(
        url_of(_nonexistent(world.theirs)), content_type="application/json"
    )

    assert theirs.status_code == 404
    assert _same(theirs, nothing), (theirs.content[:300], nothing.content[:300])
    world.theirs.share.refresh_from_db()
    assert world.theirs.share.revoked_at is None
    assert Source.objects.get(pk=world.theirs.source.pk).status == SourceStatus.ACTIVE


# --- The clinician's own pages: the share's scope, nothing around it ----------------------------


def unknown_link_answer(client):
    return client.get(f"/s/{sharing_domain.new_token()}/")


def _recipient(clinician, **scope):
    """The clinician, holding a share of `scope` (the cast's share when nothing is asked)."""
    if scope:
        share = ShareFactory(patient=clinician.share.patient, label="Dr. Jung, scoped", **scope)
        clinician = type(clinician)(share=share, token=share.token, name=clinician.name)
    return clinician, clinician.open(Client())


# what the clinician asks for → 200 inside the scope, else the unknown link's answer
SHARE_PAGES = {
    "a lab result of the share": (lambda w, t: f"/s/{t}/r/{w.mine.record.code}/", 200),
    "the lab's trend": (lambda w, t: f"/s/{t}/labs/{w.mine.lab_code}/", 200),
    "the labs": (lambda w, t: f"/s/{t}/c/lab/", 200),
    "a diagnosis (not shared)": (lambda w, t: f"/s/{t}/r/{w.condition.code}/", 404),
    "the diagnoses (not shared)": (lambda w, t: f"/s/{t}/c/condition/", 404),
    "another patient's record": (lambda w, t: f"/s/{t}/r/{w.theirs.record.code}/", 404),
    "another patient's lab": (lambda w, t: f"/s/{t}/labs/{w.theirs.lab_code}/", 404),
    "a record that does not exist": (lambda w, t: f"/s/{t}/r/{uuid.uuid4()}/", 404),
    "a category that does not exist": (lambda w, t: f"/s/{t}/c/secrets/", 404),
    "the download (not allowed)": (lambda w, t: f"/s/{t}/download/", 404),
}


@pytest.mark.parametrize("target", SHARE_PAGES)
def test_clinician_sees_the_share_and_nothing_else(target, world, clinician):
    url_of, status = SHARE_PAGES[target]
    clinician, client = _recipient(clinician)

    response = client.get(url_of(world, clinician.token))

    assert response.status_code == status
    body = _body(response)
    assert "비밀진단" not in body
    if status == 404:
        assert _same(response, unknown_link_answer(client))


@pytest.mark.parametrize(
    ("scope", "outside"),
    [
        ({"categories": ["lab"], "sources": "linked"}, "uploaded_lab"),
        ({"categories": ["lab"], "date_from": dt.date(2024, 1, 1)}, "old_lab"),
        ({"categories": ["lab"], "date_to": dt.date(2024, 12, 31)}, "uploaded_lab"),
    ],
    ids=["sources", "date_from", "date_to"],
)
def test_clinician_gets_nothing_outside_the_shares_sources_and_dates(
    scope, outside, world, clinician
):
    if scope.get("sources") == "linked":
        scope = {**scope, "sources": [world.mine.source]}
    clinician, client = _recipient(clinician, **scope)
    record = getattr(world, outside)

    page = client.get(f"/s/{clinician.token}/r/{record.code}/")
    trend = client.get(f"/s/{clinician.token}/labs/{record.code_value}/")
    listing = client.get(f"/s/{clinician.token}/c/lab/")

    assert page.status_code == 404
    assert _same(page, unknown_link_answer(client))
    assert trend.status_code == 404
    assert _same(trend, unknown_link_answer(client))
    assert listing.status_code == 200
    assert record.display not in _body(listing)


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_clinician_gets_nothing_after_the_share_ends(ending, world, clinician):
    clinician, client = _recipient(clinician)
    urls = [
        clinician.link,
        f"/s/{clinician.token}/c/lab/",
        f"/s/{clinician.token}/r/{world.mine.record.code}/",
        f"/s/{clinician.token}/labs/{world.mine.lab_code}/",
        f"/s/{clinician.token}/download/",
    ]
    assert [client.get(url).status_code for url in urls[1:4]] == [200, 200, 200]

    if ending == "revoked":
        sharing_domain.revoke_share(share=clinician.share)
    else:
        Share.objects.filter(pk=clinician.share.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    responses = [client.get(url) for url in urls]

    assert [r.status_code for r in responses] == [404] * len(urls)
    reference = unknown_link_answer(client)
    assert [_same(r, reference) for r in responses] == [True] * len(urls)


# --- An SHL viewer: the manifest of an active link, and only that ------------------------------


def _manifest(client, manifest_id):
    body = json.dumps({"recipient": "Dr. Viewer"})
    return client.post(f"/shl/{manifest_id}", body, content_type="application/json")


@pytest.mark.parametrize("ending", ["revoked", "expired", "another patient's, revoked"])
def test_shl_viewer_gets_no_manifest_once_the_link_ends(ending, world, actor_client):
    viewer = actor_client("shl viewer")
    side = world.theirs if ending.startswith("another") else world.mine
    files = _manifest(viewer, side.manifest_id).json()["files"]
    file_url = files[0]["location"].removeprefix("http://testserver")
    assert viewer.get(file_url).status_code == 200

    if ending == "expired":
        Share.objects.filter(pk=side.share.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    else:
        sharing_domain.revoke_share(share=side.share)
    manifest = _manifest(viewer, side.manifest_id)
    unknown = _manifest(viewer, sharing_domain.new_token())

    assert manifest.status_code == 404
    assert _same(manifest, unknown)
    assert viewer.get(file_url).status_code == 404


def test_shl_viewer_cannot_open_the_share_link_pages(world, actor_client, clinician):
    viewer = actor_client("shl viewer")

    pages = [
        viewer.get(f"/s/{clinician.token}/c/lab/"),
        viewer.get(f"/s/{clinician.token}/r/{world.mine.record.code}/"),
    ]

    # The manifest is not the share link: the viewer is asked for their name first.
    assert [(p.status_code, p["Location"]) for p in pages] == [(302, clinician.link)] * 2


# --- The delegate (on their own pages) and the admin: nothing of the patient's in their lists --

LISTS = [
    "/dashboard/",
    "/dashboard/sources/",
    "/records/timeline/",
    "/records/c/lab/",
    "/records/labs/",
    "/records/summary/",
    "/records/search/?q=당화혈색소",
    "/shares/",
    "/account/activity/",
    "/api/v1/records/",
    "/api/v1/labs/",
    "/api/v1/sources/",
    "/api/v1/sync-runs/",
    "/api/v1/shares/",
    "/api/v1/audit-events/",
]


@pytest.mark.parametrize("actor", ["delegate", "admin"])
@pytest.mark.parametrize("url", LISTS)
def test_lists_show_nothing_of_the_patients_to_others(url, actor, world, actor_client, patient):
    client = actor_client(actor)

    response = client.get(url)

    assert response.status_code == 200
    body = _body(response)
    markers = world.markers
    if actor == "delegate":
        # The header's switcher names the person they act for (their grant): only that.
        markers = [marker for marker in markers if marker != patient.profile.full_name]
    assert [marker for marker in markers if marker in body] == []
    codes = [str(world.mine.record.code), str(world.mine.source.code), str(world.mine.share.code)]
    assert [code for code in codes if code in body] == []
    # (The audit-event list holds the actor's own logins: their own.)
    if url.startswith("/api/v1/") and url != "/api/v1/audit-events/":
        data = response.json()
        assert (data["results"] if isinstance(data, dict) else data) == []


def test_admin_reads_the_patient_only_in_the_admin_and_each_read_is_audited(
    world, actor_client, admin_user, patient, settings
):
    settings.PHR_STAFF_MFA_REQUIRED = False  # MFA for staff is tested in test_admin
    admin = actor_client("admin")

    pages = [
        admin.get(f"/admin/accounts/user/{patient.pk}/change/"),
        admin.get(f"/admin/institutions/syncrun/{world.mine.run.pk}/change/"),
    ]
    outside = admin.get(f"/records/r/{world.mine.record.code}/")

    assert [p.status_code for p in pages] == [200, 200]
    assert outside.status_code == 404
    viewed = AuditEvent.objects.filter(action=Action.STAFF_VIEWED, patient_id=patient.pk)
    assert viewed.filter(actor_id=admin_user.pk, actor_kind="staff").count() == 2


def test_nobody_else_reaches_the_admin(world, actor_client, patient):
    url = f"/admin/accounts/user/{patient.pk}/change/"
    answers = {}
    for actor in ("owner", "other patient", "delegate", "clinician", "shl viewer", "anonymous"):
        response = actor_client(actor).get(url)
        answers[actor] = (response.status_code, response["Location"].split("?")[0])

    assert set(answers.values()) <= {(302, "/accounts/login/"), (302, "/admin/login/")}
    assert not AuditEvent.objects.filter(action=Action.STAFF_VIEWED).exists()

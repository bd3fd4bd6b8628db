"""Access control across the whole URL map: nobody reaches what is not theirs.

The IDOR matrix walks every URL pattern of the project. Each pattern that takes an id, code or
token must be listed in PROBES (how to aim it at the cast patient's objects) or in NOT_PATIENT_DATA
(with the reason it holds none); a new pattern in neither makes the test fail until it is.
"""

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from institutions.models import Source, SyncRun
from records.models import Category, Record
from sharing import domain as sharing_domain
from tests.conftest import login
from tests.factories import PASSWORD, DelegationFactory, make_share

pytestmark = pytest.mark.django_db

# Routes with a parameter that are not a patient's object, and why.
NOT_PATIENT_DATA = {
    "category": "a category name: lists the logged-in patient's own records only",
    "link_institution": "an institution of the public directory",
    "api-institution-detail": "an institution of the public directory",
    "account_confirm_email": "allauth: a one-time key mailed to the address owner",
    "account_reset_password_from_key": "allauth: a one-time key mailed to the address owner",
    "checkup_year": "a year: the logged-in patient's own check-ups of that year only (404 when "
    "they have none; tests/test_checkups*.py)",
    "checkup_trend": "a check-up item's code: the logged-in patient's own results only (404 "
    "when they have none)",
    "caregiver_accept": "a one-time invitation token mailed to, and bound to, the invited address "
    "(tests/test_caregivers.py)",
}
# The mock hospitals stand in for hospitals' own servers (tests and demo only, not the product).
EXEMPT_NAMESPACES = ("mockhospital:", "admin:")


def walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace + (pattern.name or ""), pattern


def parameterised_routes() -> dict[str, str]:
    return {
        name: route
        for route, name, pattern in walk(get_resolver().url_patterns)
        if ("<" in route or "(?P<" in route) and not name.startswith(EXEMPT_NAMESPACES)
    }


@dataclass
class World:
    """The cast patient's objects of every kind, and the strings that would betray a leak."""

    record: Record
    lab_code: str
    source: Source
    run: SyncRun
    share: object
    revoked: object
    revoked_token: str
    revoked_manifest: str
    revoked_file: str
    webauthn: Authenticator
    grant: object = None  # a caregiver the patient invited (sharing.Delegation)
    markers: list[str] = field(default_factory=list)


def _manifest_id(shlink: str) -> str:
    encoded = shlink.removeprefix("shlink:/")
    data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return data["url"].rstrip("/").rsplit("/", 1)[1]


def share_with_link(patient):
    """A share with downloads allowed, so that it has a SMART Health Link too."""
    return make_share(
        patient, label="Dr. Park, Busan", allow_download=True, base_url="http://testserver"
    )


@pytest.fixture
def world(patient, kr_sources):
    lab = Record.objects.filter(patient=patient, category=Category.LAB).first()
    other_codes = set(Record.objects.exclude(patient=patient).values_list("code_value", flat=True))
    lab_code = (
        Record.objects.filter(patient=patient, category=Category.LAB)
        .exclude(code_value__in=other_codes)
        .values_list("code_value", flat=True)
        .first()
    )
    share, _token = share_with_link(patient)
    revoked, revoked_token = share_with_link(patient)
    revoked_manifest = _manifest_id(revoked.shlink)
    revoked_file = sharing_domain.file_location(revoked, base_url="http://testserver/").rsplit(
        "/", 1
    )[1]
    sharing_domain.revoke_share(share=revoked)
    source = kr_sources["hanbit"]
    webauthn = Authenticator.objects.create(
        user=patient, type=Authenticator.Type.WEBAUTHN, data={"name": "김민준의 보안키"}
    )
    grant = DelegationFactory(
        patient=patient, delegate=None, label="김민준의 돌보미", invited_email="cg@example.org"
    )
    return World(
        record=lab,
        lab_code=lab_code,
        source=source,
        run=source.runs.first(),
        share=share,
        revoked=revoked,
        revoked_token=revoked_token,
        revoked_manifest=revoked_manifest,
        revoked_file=revoked_file,
        webauthn=webauthn,
        grant=grant,
        markers=[
            patient.profile.full_name,
            patient.email,
            lab.display,
            share.label,
            source.display_name,
            "보안키",
            grant.label,
        ],
    )


def _api(name, **kwargs):
    return reverse(name, kwargs=kwargs)


def _encounter(world) -> Record:
    """One of the cast patient's visits (its plain-language summary is patient data)."""
    return Record.objects.filter(
        patient_id=world.record.patient_id, category=Category.ENCOUNTER
    ).first()


# route name → the requests that aim it at the cast patient's objects: [(method, url), ...]
PROBES = {
    "lab_detail": lambda w: [("get", _api("lab_detail", code=w.lab_code))],
    "record_detail": lambda w: [("get", _api("record_detail", code=w.record.code))],
    "visit_summary": lambda w: [("get", _api("visit_summary", code=_encounter(w).code))],
    "source_detail": lambda w: [("get", _api("source_detail", code=w.source.code))],
    "source_progress": lambda w: [("get", _api("source_progress", code=w.source.code))],
    "source_sync": lambda w: [("post", _api("source_sync", code=w.source.code))],
    "source_unlink": lambda w: [("post", _api("source_unlink", code=w.source.code))],
    "share_detail": lambda w: [("get", _api("share_detail", code=w.share.code))],
    "share_revoke": lambda w: [("post", _api("share_revoke", code=w.share.code))],
    "share_reissue": lambda w: [("post", _api("share_reissue", code=w.share.code))],
    "share_preview": lambda w: [("get", _api("share_preview", code=w.share.code))],
    # Links are capabilities: a revoked link (with its data still there) must open nothing.
    "share_entry": lambda w: [
        ("get", _api("share_entry", token=w.revoked_token)),
        ("post", _api("share_entry", token=w.revoked_token)),
    ],
    "share_category": lambda w: [
        ("get", _api("share_category", token=w.revoked_token, category="lab"))
    ],
    "share_download": lambda w: [("get", _api("share_download", token=w.revoked_token))],
    "share_lab": lambda w: [("get", _api("share_lab", token=w.revoked_token, code=w.lab_code))],
    "share_record": lambda w: [
        ("get", _api("share_record", token=w.revoked_token, code=w.record.code))
    ],
    "shl_manifest": lambda w: [("post", _api("shl_manifest", manifest_id=w.revoked_manifest))],
    "shl_file": lambda w: [("get", _api("shl_file", location=w.revoked_file))],
    "mfa_remove_webauthn": lambda w: [
        ("get", _api("mfa_remove_webauthn", pk=w.webauthn.pk)),
        ("post", _api("mfa_remove_webauthn", pk=w.webauthn.pk)),
    ],
    "mfa_edit_webauthn": lambda w: [
        ("get", _api("mfa_edit_webauthn", pk=w.webauthn.pk)),
        ("post", _api("mfa_edit_webauthn", pk=w.webauthn.pk)),
    ],
    "api-record": lambda w: [("get", _api("api-record", id=w.record.code))],
    "api-lab-series": lambda w: [("get", _api("api-lab-series", code=w.lab_code))],
    "api-source-detail": lambda w: [
        ("get", _api("api-source-detail", id=w.source.code)),
        ("delete", _api("api-source-detail", id=w.source.code)),
    ],
    "api-source-sync": lambda w: [("post", _api("api-source-sync", id=w.source.code))],
    "api-sync-run-detail": lambda w: [("get", _api("api-sync-run-detail", id=w.run.code))],
    "api-sync-run-issues": lambda w: [("get", _api("api-sync-run-issues", id=w.run.code))],
    "api-share-detail": lambda w: [("get", _api("api-share-detail", id=w.share.code))],
    "api-share-accesses": lambda w: [("get", _api("api-share-accesses", id=w.share.code))],
    "api-share-reissue": lambda w: [("post", _api("api-share-reissue", id=w.share.code))],
    "caregiver_detail": lambda w: [("get", _api("caregiver_detail", code=w.grant.code))],
    "caregiver_revoke": lambda w: [("post", _api("caregiver_revoke", code=w.grant.code))],
    "caregiver_renew": lambda w: [("post", _api("caregiver_renew", code=w.grant.code))],
    "api-share-revoke": lambda w: [("post", _api("api-share-revoke", id=w.share.code))],
}


def test_every_parameterised_route_is_probed_or_explained():
    routes = parameterised_routes()
    unknown = sorted(set(routes) - set(PROBES) - set(NOT_PATIENT_DATA))
    assert not unknown, f"routes the IDOR matrix does not know how to probe: {unknown}"
    stale = sorted((set(PROBES) | set(NOT_PATIENT_DATA)) - set(routes))
    assert not stale, f"probes for routes that no longer exist: {stale}"


@pytest.fixture
def actors(other_patient, client, world):
    """Who tries: another patient, an anonymous visitor, and a clinician holding a valid share
    of the other patient's records (so a session with recipient state)."""
    other = Client()
    login(other, other_patient.email)
    # Freshly re-authenticated, so that views guarded by re-authentication reach their lookup.
    assert other.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    clinician = Client()
    _share, token = share_with_link(other_patient)
    response = clinician.post(f"/s/{token}/", {"name": "Dr. Choi"})
    assert response.status_code == 302
    return {"other patient": other, "anonymous": Client(), "clinician": clinician}


def _refused(actor: str, url: str, response) -> bool:
    if response.status_code == 404:
        return True
    if actor == "other patient":
        return False  # a logged-in patient must get 404: not even "forbidden" (it exists)
    if url.startswith("/api/"):
        return response.status_code in (401, 403)
    # Pages behind a login send anonymous visitors (and clinicians, who have no account) there.
    return response.status_code == 302 and "/accounts/" in response["Location"]


def test_idor_matrix(world, actors):
    probed = 0
    for name, probe in PROBES.items():
        for method, url in probe(world):
            for actor, client in actors.items():
                response = getattr(client, method)(url, content_type="application/json")
                assert _refused(actor, url, response), (
                    name,
                    method,
                    actor,
                    response.status_code,
                    response.get("Location"),
                )
                body = response.content.decode(errors="replace")
                for marker in world.markers:
                    assert marker not in body, (name, method, actor, marker)
                probed += 1
    # Nothing was changed by any of those requests.
    world.share.refresh_from_db()
    assert world.share.revoked_at is None
    assert Source.objects.filter(pk=world.source.pk).exists()
    assert Authenticator.objects.filter(pk=world.webauthn.pk).exists()
    world.grant.refresh_from_db()
    assert world.grant.revoked_at is None
    assert probed >= 3 * len(PROBES)
    print(f"IDOR matrix: {len(PROBES)} routes, {probed} requests refused")


def test_probes_do_reach_the_objects_for_their_owner(client, patient, world):
    """The matrix proves something only if the same URLs work for the owner."""
    client.force_login(patient)  # the world gave them a security key: no password-only login
    for name in (
        "record_detail",
        "lab_detail",
        "source_detail",
        "share_detail",
        "visit_summary",
        "caregiver_detail",
    ):
        (_method, url), *_ = PROBES[name](world)
        response = client.get(url)
        assert response.status_code == 200, (name, response.get("Location"))
    for name in (
        "api-record",
        "api-lab-series",
        "api-source-detail",
        "api-share-detail",
        "api-sync-run-issues",
    ):
        (_method, url), *_ = PROBES[name](world)
        assert client.get(url).status_code == 200, name


# --- Mass assignment ---------------------------------------------------------------------------


def test_api_writes_cannot_set_owner_or_status(client, patient, other_patient, world):
    client.force_login(patient)
    forged = {
        "patient": other_patient.pk,
        "patient_id": other_patient.pk,
        "owner": other_patient.pk,
        "is_staff": True,
        "state": "active",
        "revoked_at": None,
        "failed_attempts": 0,
        "token_hash": "0" * 64,
        "status": "linked",
        "institution": str(uuid.uuid4()),
        "id": str(uuid.uuid4()),
    }
    response = client.post(
        "/api/v1/shares/",
        {
            **forged,
            "label": "Dr. Mass",
            "categories": ["lab"],
            "expires_at": (timezone.now() + dt.timedelta(days=1)).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    share = patient.shares.get(label="Dr. Mass")
    assert share.patient == patient
    assert str(share.code) != forged["id"]
    assert share.token_hash != forged["token_hash"]
    assert not other_patient.shares.exists()

    # Sources are created by linking (consent) and removed by unlinking: never edited.
    response = client.patch(
        f"/api/v1/sources/{world.source.code}/",
        {"patient": other_patient.pk, "status": "revoked", "institution": None},
        content_type="application/json",
    )
    assert response.status_code == 405
    world.source.refresh_from_db()
    assert (world.source.patient, world.source.status) == (patient, "active")
    patient.refresh_from_db()
    assert not patient.is_staff


# --- Admin and operators ----------------------------------------------------------------------


def test_admin_refuses_patients_everywhere(client, patient, world):
    client.force_login(patient)
    checked = 0
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        some = model._default_manager.first()
        if some is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[some.pk]))
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/") or response[
                "Location"
            ].startswith("/admin/login/"), url
            checked += 1
    for url in ("/admin/", "/admin/institutions/institution/import/"):
        assert client.get(url).status_code == 302
    assert checked >= 2 * 5


def test_staff_reads_in_the_admin_are_audited_for_the_patient(
    client, admin_user, patient, world, settings
):
    settings.PHR_STAFF_MFA_REQUIRED = False  # tested in test_admin; here the reads matter
    client.force_login(admin_user)
    assert client.get(f"/admin/accounts/user/{patient.pk}/change/").status_code == 200
    assert client.get(f"/admin/institutions/syncrun/{world.run.pk}/change/").status_code == 200
    assert client.get("/admin/accounts/patientprofile/").status_code == 200
    viewed = AuditEvent.objects.filter(action=Action.STAFF_VIEWED)
    assert viewed.filter(patient_id=patient.pk, actor_id=admin_user.pk).count() == 2
    assert viewed.filter(patient_id=None, extra__list="accounts.patientprofile").count() == 1
    assert set(viewed.values_list("actor_kind", flat=True)) == {"staff"}
    # …and the patient reads it on "Who saw my data".
    patient_client = Client()
    patient_client.force_login(patient)
    page = patient_client.get("/account/activity/?who=staff").content.decode()
    assert "Account details viewed by an operator" in page

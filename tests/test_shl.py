"""SMART Health Links, checked with an independent implementation (kill-the-clipboard's
SHLViewer, run by Node) against the app over real HTTP."""

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from core.access import Actor
from records import fhirjson
from records.models import Record
from records.queries import records_for
from sharing import domain
from sharing.grants import actor_for_share
from sharing.models import ShareAccess
from tests.records_data import generated, import_resources

NODE_DIR = Path(__file__).parent / "node"
pytestmark = pytest.mark.django_db(transaction=True)


def resolve(shlink, recipient, passcode=""):
    if not shutil.which("node") or not (NODE_DIR / "node_modules" / "kill-the-clipboard").exists():
        pytest.fail(
            "Node and tests/node/node_modules are needed: cd tests/node && npm ci (see .ci/run)"
        )
    result = subprocess.run(
        ["node", "resolve_shl.mjs", shlink, recipient, passcode],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def payload(shlink):
    encoded = shlink.removeprefix("shlink:/")
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def _withhold_outside(node, shared_keys: set[str]) -> int:
    """What the share's Bundle should hold: `Type/id` references to anything outside
    `shared_keys` replaced by their display (or "Not included in this share"); returns how many."""
    count = 0
    if isinstance(node, list):
        return sum(_withhold_outside(item, shared_keys) for item in node)
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and "/" in reference and reference not in shared_keys:
            del node["reference"]
            node.setdefault("display", "Not included in this share")
            count += 1
        count += sum(_withhold_outside(value, shared_keys) for value in node.values())
    return count


@pytest.fixture
def shared(patient, live_server):
    import_resources(patient, "서울한빛대학교병원", generated(patient, size=200))
    share, _token = domain.create_share(
        actor=Actor.patient(patient),
        label="Dr. Kim",
        purpose="",
        categories=["lab", "medication"],
        sources=[],
        date_from=None,
        date_to=None,
        expires_at=timezone.now() + dt.timedelta(days=1),
        passcode="2468",
        allow_download=True,
        notify_on_open=False,
        base_url=live_server.url,
    )
    return share


def test_independent_viewer_decrypts_exactly_the_scope(shared):
    result = resolve(shared.shlink, "Dr. Kim, Seoul Clinic", "2468")

    assert result["ok"], result
    assert result["flag"] == "P"
    # As the viewer reads it (JavaScript numbers), the patient references pointing at the one
    # Patient entry; everything else as stored.
    expected = {
        r.resource_id: json.loads(fhirjson.dumps(r.resource))
        for r in records_for(actor_for_share(shared))
    }
    [bundle] = result["resources"]
    assert bundle["resourceType"] == "Bundle"
    patient_entry, *entries = bundle["entry"]
    assert patient_entry["resource"] == {
        "resourceType": "Patient",
        "id": str(shared.patient.code),
        "name": [{"text": shared.patient.profile.full_name}],
        "gender": shared.patient.profile.sex,
        "birthDate": shared.patient.profile.birth_date.isoformat(),
    }
    assert {e["resource"]["subject"]["reference"] for e in entries} == {patient_entry["fullUrl"]}
    for resource in [*expected.values(), *(e["resource"] for e in entries)]:
        resource.pop("subject")
    # A reference to a record outside the scope (the visit a result was taken at) is withheld,
    # keeping its words: it could not be followed in the Bundle.
    shared_keys = {
        f"{r.resource_type}/{r.resource_id}" for r in records_for(actor_for_share(shared))
    }
    withheld = _withhold_outside(list(expected.values()), shared_keys)
    assert withheld > 0
    assert {e["resource"]["id"]: e["resource"] for e in entries} == expected
    assert Record.objects.filter(patient=shared.patient).count() > len(expected)  # there was more
    assert list(
        ShareAccess.objects.filter(share=shared).values_list("action", "recipient_name")
    ) == [
        ("downloaded", "Dr. Kim, Seoul Clinic"),
        ("opened", "Dr. Kim, Seoul Clinic"),
    ]


def test_shlink_payload_and_key_stay_out_of_the_database(shared):
    data = payload(shared.shlink)
    assert set(data) == {"url", "key", "exp", "flag", "label", "v"}
    assert len(base64.urlsafe_b64decode(data["key"] + "=")) == 32
    manifest_id = data["url"].rsplit("/", 1)[1]
    assert len(base64.urlsafe_b64decode(manifest_id + "=")) == 32
    stored = repr(list(type(shared).objects.filter(pk=shared.pk).values()))
    assert data["key"] not in stored
    assert manifest_id not in stored
    assert shared.shl_file.count(".") == 4  # JWE compact
    header = json.loads(base64.urlsafe_b64decode(shared.shl_file.split(".")[0] + "=="))
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json"}


def test_wrong_passcode_returns_remaining_attempts_then_locks(shared, settings):
    url = payload(shared.shlink)["url"]
    for left in range(settings.PHR_SHARE_MAX_ATTEMPTS - 1, 0, -1):
        response = httpx.post(url, json={"recipient": "x", "passcode": "0000"})
        assert (response.status_code, response.json()) == (401, {"remainingAttempts": left})
    # At the cap: 401 with 0 left, as the SHL specification requires; then inactive (404).
    last = httpx.post(url, json={"recipient": "x", "passcode": "0000"})
    assert (last.status_code, last.json()) == (401, {"remainingAttempts": 0})
    assert httpx.post(url, json={"recipient": "x", "passcode": "0000"}).status_code == 404
    assert httpx.post(url, json={"recipient": "x", "passcode": "2468"}).status_code == 404
    assert resolve(shared.shlink, "x", "2468")["error"] == "SHLManifestNotFoundError"


def test_revoked_link_is_404_and_recipient_is_required(shared):
    url = payload(shared.shlink)["url"]
    assert httpx.post(url, json={"passcode": "2468"}).status_code == 400
    domain.revoke_share(share=shared)
    assert httpx.post(url, json={"recipient": "x", "passcode": "2468"}).status_code == 404


def test_file_locations_expire_within_an_hour(shared):
    manifest = httpx.post(
        payload(shared.shlink)["url"], json={"recipient": "x", "passcode": "2468"}
    ).json()
    location = manifest["files"][0]["location"]
    assert httpx.get(location).status_code == 200
    import time_machine

    with time_machine.travel(dt.timedelta(minutes=61)):
        assert httpx.get(location).status_code == 404


def test_no_shlink_without_download_permission(patient):
    share, _token = domain.create_share(
        actor=Actor.patient(patient),
        label="x",
        purpose="",
        categories=["lab"],
        sources=[],
        date_from=None,
        date_to=None,
        expires_at=timezone.now() + dt.timedelta(days=1),
        passcode="",
        allow_download=False,
        notify_on_open=False,
    )
    assert share.shlink is None
    assert share.shl_file == ""


def manifest_files(url, passcode="2468", recipient="x"):
    response = httpx.post(url, json={"recipient": recipient, "passcode": passcode})
    assert response.status_code == 200, response.text
    return [f["location"] for f in response.json()["files"]]


def test_file_location_is_opaque_random_and_stored_hashed(shared):
    url = payload(shared.shlink)["url"]
    first, second = manifest_files(url)[0], manifest_files(url)[0]
    tokens = [location.rsplit("/", 1)[1] for location in (first, second)]
    assert tokens[0] != tokens[1]
    for token in tokens:
        # 32 random bytes, base64url: nothing in it to decode (it used to be {"s": <share pk>}).
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
        # (Random bytes may hold the digits of the share's pk by chance: look for the old
        # structure, not for the number.)
        raw = base64.urlsafe_b64decode(token + "=")
        assert b'"s"' not in raw
        assert not raw.startswith(b"{")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sharing_shlfilelocation")
        stored = repr(cursor.fetchall())
    assert not any(token in stored for token in tokens)
    assert all(domain.hash_token(token) in stored for token in tokens)


def test_reissue_rotates_link_manifest_key_and_file_locations(shared, settings, live_server):
    old_shlink = shared.shlink
    old = payload(old_shlink)
    old_file = manifest_files(old["url"])[0]
    for _ in range(settings.PHR_SHARE_MAX_ATTEMPTS):  # an attacker locks it
        httpx.post(old["url"], json={"recipient": "x", "passcode": "0000"})
    assert httpx.post(old["url"], json={"recipient": "x", "passcode": "2468"}).status_code == 404

    token = domain.reissue_share(share=shared, base_url=live_server.url)
    new = payload(shared.shlink)

    assert token
    assert new["url"] != old["url"]
    assert new["key"] != old["key"]
    # The old link (whose passcode the attacker may know) stays dead, and so do its files.
    assert httpx.post(old["url"], json={"recipient": "x", "passcode": "2468"}).status_code == 404
    assert httpx.get(old_file).status_code == 404
    assert resolve(old_shlink, "x", "2468")["error"] == "SHLManifestNotFoundError"
    result = resolve(shared.shlink, "Dr. Lee", "2468")
    assert result["ok"], result
    [bundle] = result["resources"]
    assert {e["resource"]["id"] for e in bundle["entry"][1:]} == {  # [0]: the Patient
        r.resource_id for r in records_for(actor_for_share(shared))
    }

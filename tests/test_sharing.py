"""Shares: scope, expiry, revocation, passcode cap under parallel requests, indistinguishable
"not available" answers, no raw secrets stored, and the patient's access log."""

import base64
import collections
import datetime as dt
import json
import re
import threading
from pathlib import Path

import httpx
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import Action, AuditEvent
from institutions.models import Source
from records import charts
from records import queries as record_queries
from records.models import Record
from records.templatetags.records import reference_range
from sharing import domain
from sharing.models import Share, ShareAccess
from tests import factories
from tests.conftest import login
from tests.factories import make_share
from tests.hashers import CountingSlowHasher
from tests.records_data import generated, import_resources

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(kr_sources):
    return kr_sources


# A link shown once: the text of its read-only field (a textarea, which wraps on a phone).
SHOWN = r'(?:value="|class="share-link"[^>]*>){}(?:"|</textarea>)'


def open_as_recipient(client, token, *, passcode=None, name="Dr. Kim"):
    if passcode is not None:
        client.post(f"/s/{token}/", {"passcode": passcode})
    return client.post(f"/s/{token}/", {"name": name})


def shl_payload(shlink):
    encoded = shlink.removeprefix("shlink:/")
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def shown_codes(page: str, candidates) -> set:
    return {c for c in candidates if c in page}


# --- Scope -----------------------------------------------------------------------------------


def test_scope_is_enforced_everywhere_the_recipient_goes(client, patient, records):
    _share, token = make_share(
        patient,
        categories=["lab", "medication"],
        sources=[records["pureun"]],
        date_from=dt.date(2022, 1, 1),
        allow_download=True,
    )
    open_as_recipient(client, token)
    inside = Record.objects.filter(
        patient=patient,
        category__in=["lab", "medication"],
        source=records["pureun"],
        effective__date__gte=dt.date(2022, 1, 1),
    )
    outside = Record.objects.exclude(pk__in=inside)
    assert inside.exists()
    assert outside.filter(patient=patient).exists()

    bundle = client.get(f"/s/{token}/download/")

    downloaded = json.loads(b"".join(bundle.streaming_content))
    patient_entry, *entries = downloaded["entry"]  # whose records these are, then the scope
    assert patient_entry["fullUrl"] == f"urn:uuid:{patient.code}"
    assert {e["resource"]["id"] for e in entries} == set(
        inside.values_list("resource_id", flat=True)
    )
    displayed = set()
    for url in (
        f"/s/{token}/",
        f"/s/{token}/c/lab/",
        f"/s/{token}/c/medication/",
        f"/s/{token}/c/condition/",
    ):
        page = client.get(url).content.decode()
        while True:
            displayed |= {
                d
                for d in set(Record.objects.values_list("display", flat=True))
                if d and f">{d}<" in page
            }
            more = re.search(r'<li class="load-more" hx-get="\?after=([^"]+)"', page)
            if not more:
                break
            page = client.get(f"{url}?after={more.group(1)}").content.decode()
    assert displayed == set(inside.values_list("display", flat=True))


def test_download_refused_unless_allowed(client, patient, records):
    _share, token = make_share(patient)
    open_as_recipient(client, token)
    assert client.get(f"/s/{token}/download/").status_code == 404


# --- Not available -----------------------------------------------------------------------------


def test_expired_revoked_locked_and_unknown_look_the_same(client, patient, records, settings):
    _expired, expired_token = make_share(patient)
    revoked, revoked_token = make_share(patient)
    domain.revoke_share(share=revoked)
    locked, locked_token = make_share(patient, passcode="4321")
    Share.objects.filter(pk=locked.pk).update(failed_attempts=settings.PHR_SHARE_MAX_ATTEMPTS)
    unknown_token = domain.new_token()

    with time_machine.travel(dt.timedelta(days=1, seconds=1)):
        responses = [
            client.get(f"/s/{t}/")
            for t in (expired_token, revoked_token, locked_token, unknown_token)
        ]

    assert {r.status_code for r in responses} == {404}
    bodies = {
        re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())
        for r in responses
    }
    assert len(bodies) == 1
    assert "This link is not available" in bodies.pop()
    headers = [{k: v for k, v in r.items() if k not in ("Content-Length",)} for r in responses]
    assert all(h == headers[0] for h in headers)


def test_revoke_ends_access_at_once(client, patient, records):
    share, token = make_share(patient)
    open_as_recipient(client, token)
    assert client.get(f"/s/{token}/").status_code == 200
    domain.revoke_share(share=share)
    assert client.get(f"/s/{token}/").status_code == 404
    assert client.get(f"/s/{token}/c/lab/").status_code == 404


def test_expiry_with_a_frozen_clock(client, patient, records):
    _share, token = make_share(patient)
    open_as_recipient(client, token)
    with time_machine.travel(dt.timedelta(hours=23, minutes=59)):
        assert client.get(f"/s/{token}/").status_code == 200
    with time_machine.travel(dt.timedelta(days=1, seconds=1)):
        assert client.get(f"/s/{token}/").status_code == 404


# --- Passcodes ---------------------------------------------------------------------------------


def test_wrong_passcodes_lock_the_share(client, patient, records, settings):
    share, token = make_share(patient, passcode="2468")
    for left in range(settings.PHR_SHARE_MAX_ATTEMPTS - 1, 0, -1):
        response = client.post(f"/s/{token}/", {"passcode": "0000"})
        words = "1 attempt left" if left == 1 else f"{left} attempts left"
        assert words in response.content.decode()
    last = client.post(f"/s/{token}/", {"passcode": "0000"})
    assert last.status_code == 404
    assert client.post(f"/s/{token}/", {"passcode": "2468"}).status_code == 404  # locked for good
    assert (
        ShareAccess.objects.filter(share=share, action="wrong_passcode").count()
        == settings.PHR_SHARE_MAX_ATTEMPTS
    )
    assert (
        AuditEvent.objects.filter(action=Action.SHARE_WRONG_PASSCODE, patient_id=patient.pk).count()
        == 5
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passcodes_never_pass_the_cap(patient, settings):
    share, _token = make_share(patient, passcode="2468")
    barrier = threading.Barrier(30)
    results = []

    def attempt():
        barrier.wait()
        try:
            fresh = Share.objects.get(pk=share.pk)
            results.append(
                domain.check_passcode(share=fresh, passcode="0000", request=None).accepted
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    share.refresh_from_db()
    assert results == [False] * 30
    assert share.failed_attempts == settings.PHR_SHARE_MAX_ATTEMPTS
    assert share.state == "locked"


RIGHT = "864209"
BURST = 50


@pytest.fixture
def slow_hasher(settings):
    """Passcodes hashed by a hasher that records every verification and takes a realistic time."""
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingSlowHasher"]
    CountingSlowHasher.checked = []
    return CountingSlowHasher


def burst(send, *, right_at=BURST // 2):
    """BURST threads released together, each sending one passcode over its own connection; the
    right passcode is one of them. Returns [(passcode, result of send)] in thread order."""
    barrier = threading.Barrier(BURST)
    results = [None] * BURST

    def run(i):
        passcode = RIGHT if i == right_at else f"{i:06d}"
        barrier.wait()
        results[i] = (passcode, send(passcode))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_passcode_cap_holds_for_a_burst_on_the_web_form(
    patient, live_server, slow_hasher, settings
):
    cap = settings.PHR_SHARE_MAX_ATTEMPTS
    share, token = factories.make_share(patient, passcode=RIGHT)
    url = f"{live_server.url}/s/{token}/"

    def send(passcode):
        response = httpx.post(url, data={"passcode": passcode}, timeout=60)
        return response.status_code, response.text

    results = burst(send)

    wrong_checked = [p for p in slow_hasher.checked if p != RIGHT]
    assert len(wrong_checked) == cap  # the lifetime cap, not one check per request
    accepted = [p for p, (status, _body) in results if status == 302]
    assert accepted in ([], [RIGHT])
    # The right passcode got in only if it reached the hash before the cap was used up.
    assert bool(accepted) == (RIGHT in slow_hasher.checked[:cap])
    left = sorted(
        int(n) for _p, (_s, body) in results for n in re.findall(r"(\d+) attempts? left", body)
    )
    assert left == list(range(1, cap))  # each count shown once, never below zero
    statuses = sorted(status for _p, (status, _body) in results)
    assert statuses == sorted(
        [200] * (cap - 1) + [302] * len(accepted) + [404] * (BURST - cap + 1 - len(accepted))
    )
    share.refresh_from_db()
    assert (share.failed_attempts, share.state) == (cap, "locked")
    # Once locked, the right passcode is refused without even being checked.
    checked = len(slow_hasher.checked)
    assert httpx.post(url, data={"passcode": RIGHT}).status_code == 404
    assert len(slow_hasher.checked) == checked


@pytest.mark.django_db(transaction=True)
def test_passcode_cap_holds_for_a_burst_on_the_shl_manifest(
    patient, live_server, slow_hasher, settings
):
    cap = settings.PHR_SHARE_MAX_ATTEMPTS
    share, _token = factories.make_share(
        patient, passcode=RIGHT, allow_download=True, base_url=live_server.url
    )
    url = shl_payload(share.shlink)["url"]

    def send(passcode):
        response = httpx.post(url, json={"recipient": "Dr. Kim", "passcode": passcode}, timeout=60)
        return response.status_code, response.json()

    results = burst(send)

    wrong_checked = [p for p in slow_hasher.checked if p != RIGHT]
    assert len(wrong_checked) == cap
    accepted = [p for p, (status, _body) in results if status == 200]
    assert accepted in ([], [RIGHT])
    assert bool(accepted) == (RIGHT in slow_hasher.checked[:cap])
    remaining = sorted(body["remainingAttempts"] for _p, (s, body) in results if s == 401)
    assert remaining == list(range(cap))  # 0 exactly once (the SHL spec's 401), never negative
    not_found = [body for _p, (s, body) in results if s == 404]
    assert len(not_found) == BURST - cap - len(accepted)
    share.refresh_from_db()
    assert (share.failed_attempts, share.state) == (cap, "locked")
    checked = len(slow_hasher.checked)
    response = httpx.post(url, json={"recipient": "Dr. Kim", "passcode": RIGHT})
    assert response.status_code == 404
    assert len(slow_hasher.checked) == checked


def test_right_passcode_then_name_then_records(client, patient, records, mailoutbox):
    _share, token = make_share(patient, passcode="2468", notify_on_open=True)
    assert "Enter the passcode" in client.get(f"/s/{token}/").content.decode()
    assert (
        "Who is viewing?"
        in client.post(f"/s/{token}/", {"passcode": "2468"}, follow=True).content.decode()
    )
    page = client.post(f"/s/{token}/", {"name": "Dr. Kim"}, follow=True).content.decode()
    assert "김민준" in page
    assert "Shared with Dr. Kim, Seoul Clinic until" in page
    assert [m.subject for m in mailoutbox] == ["Your shared records were opened"]
    assert "Dr. Kim opened the records" in mailoutbox[0].body


# --- Secrets ---------------------------------------------------------------------------------


def test_no_raw_token_or_passcode_in_the_database(patient, records):
    share, token = make_share(patient, passcode="secret-passcode-1357")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sharing_share")
        stored = repr(cursor.fetchall())
    assert token not in stored
    assert "secret-passcode-1357" not in stored
    assert share.token_hash == domain.hash_token(token)


def test_token_has_256_bits():
    tokens = {domain.new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes, base64url


# --- The patient's side ------------------------------------------------------------------------


def test_create_share_shows_link_and_qr_once_and_the_log(client, patient, records):
    login(client, patient.email)
    response = client.post(
        "/shares/new/",
        {
            "label": "Dr. Kim",
            "categories": ["lab"],
            "sources": [str(records["hanbit"].code)],
            "expires": "1d",
            "passcode": "2468",
            "allow_download": "on",
        },
    )
    share = Share.objects.get()
    assert response["Location"] == f"/shares/{share.code}/"
    page = client.get(f"/shares/{share.code}/").content.decode()
    link = re.search(SHOWN.format(r"(http://testserver/s/[^\"<]+/)"), page).group(1)
    assert 'src="data:image/png;base64,' in page
    assert re.search(SHOWN.format(r"shlink:/[A-Za-z0-9_-]+"), page)
    assert (
        "http://testserver/s/" not in client.get(f"/shares/{share.code}/").content.decode()
    )  # once

    recipient = client.__class__()
    token = link.rstrip("/").rsplit("/", 1)[1]
    open_as_recipient(recipient, token, passcode="2468")
    log = client.get(f"/shares/{share.code}/").content.decode()
    assert "Dr. Kim" in log
    assert "Opened" in log
    assert list(share.sources.all()) == [records["hanbit"]]


def test_create_share_refuses_bad_input_and_keeps_it(client, patient, records):
    login(client, patient.email)
    response = client.post("/shares/new/", {"label": "Dr. Kim", "expires": "1d"})
    assert "Choose at least one kind of record to share." in response.content.decode()
    assert 'value="Dr. Kim"' in response.content.decode()
    assert not Share.objects.exists()


def test_locked_share_can_be_reissued(client, patient, records, settings):
    share, token = make_share(patient, passcode="2468")
    Share.objects.filter(pk=share.pk).update(failed_attempts=settings.PHR_SHARE_MAX_ATTEMPTS)
    login(client, patient.email)
    client.post(f"/shares/{share.code}/reissue/")
    page = client.get(f"/shares/{share.code}/").content.decode()
    new_token = re.search(SHOWN.format(r"http://testserver/s/([^\"/]+)/"), page).group(1)
    assert new_token != token
    recipient = client.__class__()
    assert recipient.get(f"/s/{token}/").status_code == 404
    assert recipient.get(f"/s/{new_token}/").status_code == 200


def test_reissue_rotates_both_links_and_shows_them_once(client, patient, records, settings):
    share, token = make_share(patient, passcode="2468", allow_download=True)
    old_manifest = shl_payload(share.shlink)["url"]
    old_hash = share.shl_id_hash
    Share.objects.filter(pk=share.pk).update(failed_attempts=settings.PHR_SHARE_MAX_ATTEMPTS)
    login(client, patient.email)

    response = client.post(f"/shares/{share.code}/reissue/")

    assert response["Location"] == f"/shares/{share.code}/"
    page = client.get(f"/shares/{share.code}/").content.decode()
    new_token = re.search(SHOWN.format(r"http://testserver/s/([^\"/]+)/"), page).group(1)
    shlink = re.search(SHOWN.format(r"(shlink:/[A-Za-z0-9_-]+)"), page).group(1)
    assert page.count('src="data:image/png;base64,') == 2  # a QR code for each link
    assert new_token != token
    assert shl_payload(shlink)["url"] != old_manifest
    share.refresh_from_db()
    assert share.shl_id_hash not in ("", old_hash)
    assert (share.failed_attempts, share.state) == (0, "active")
    again = client.get(f"/shares/{share.code}/").content.decode()
    assert "shlink:/" not in again  # both are shown once
    assert "http://testserver/s/" not in again
    recipient = client.__class__()
    assert recipient.get(f"/s/{token}/").status_code == 404
    assert recipient.get(f"/s/{new_token}/").status_code == 200
    gone = recipient.post(old_manifest, {"recipient": "x"}, content_type="application/json")
    assert gone.status_code == 404


def test_reissue_of_a_revoked_or_expired_share_is_refused(client, patient, records):
    revoked, revoked_token = make_share(patient)
    domain.revoke_share(share=revoked)
    expired, _token = make_share(patient)
    Share.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    login(client, patient.email)

    page = client.post(f"/shares/{revoked.code}/reissue/", follow=True).content.decode()
    expired_page = client.post(f"/shares/{expired.code}/reissue/", follow=True)
    api = client.post(f"/api/v1/shares/{revoked.code}/reissue/")
    api_expired = client.post(f"/api/v1/shares/{expired.code}/reissue/")

    refusal = "This share was revoked: it cannot get a new link. Create a new share instead."
    assert refusal in page
    assert "http://testserver/s/" not in page
    assert "This share has expired: it cannot get a new link. Create a new share instead." in (
        expired_page.content.decode()
    )
    assert (api.status_code, api.json()) == (409, {"detail": refusal})
    assert api_expired.status_code == 409
    revoked.refresh_from_db()
    assert revoked.token_hash == domain.hash_token(revoked_token)
    assert not AuditEvent.objects.filter(action=Action.SHARE_REISSUED).exists()


def test_api_reissue_returns_both_new_links(client, patient, records):
    share, token = make_share(patient, passcode="2468", allow_download=True)
    old_manifest = shl_payload(share.shlink)["url"]
    client.force_login(patient)

    body = client.post(f"/api/v1/shares/{share.code}/reissue/").json()

    assert body["url"].startswith("http://testserver/s/")
    assert body["url"] != f"http://testserver/s/{token}/"
    assert shl_payload(body["shlink"])["url"].startswith("http://testserver/shl/")
    assert shl_payload(body["shlink"])["url"] != old_manifest


@pytest.mark.parametrize("suffix", ["", "revoke/", "reissue/", "preview/"])
def test_other_patients_shares_are_404(client, patient, other_patient, records, suffix):
    share, _token = make_share(patient)
    login(client, other_patient.email)
    method = client.post if suffix in ("revoke/", "reissue/") else client.get
    assert method(f"/shares/{share.code}/{suffix}").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    assert "Dr. Kim" not in client.get("/shares/").content.decode()


def test_preview_shows_the_scope_without_logging(client, patient, records):
    share, _token = make_share(patient, categories=["immunization"])
    login(client, patient.email)
    page = client.get(f"/shares/{share.code}/preview/").content.decode()
    assert "Preview: this is what the recipient sees." in page
    assert not ShareAccess.objects.exists()


def test_recipient_pages_send_privacy_headers(client, patient, records):
    _share, token = make_share(patient)
    for response in (client.get(f"/s/{token}/"), client.get(f"/s/{domain.new_token()}/")):
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
        assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert Source.objects.filter(patient=patient).count() == 2


# --- The share's terms, kept by the domain ----------------------------------------------------


def test_create_share_refuses_an_expiry_in_the_past(patient):
    with pytest.raises(ValidationError) as refused:
        make_share(patient, expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert refused.value.message_dict == {"expires_at": ["The expiry must be in the future."]}
    assert not Share.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.SHARE_CREATED).exists()


def test_create_share_refuses_an_expiry_beyond_the_longest(patient, settings):
    settings.PHR_SHARE_MAX_DAYS = 7

    with pytest.raises(ValidationError) as refused:
        make_share(patient, expires_at=timezone.now() + dt.timedelta(days=7, minutes=1))

    assert refused.value.message_dict == {"expires_at": ["At most 7 days from now."]}
    assert not Share.objects.exists()


def test_create_share_accepts_an_expiry_within_the_longest(patient, settings):
    settings.PHR_SHARE_MAX_DAYS = 7

    share, _token = make_share(patient, expires_at=timezone.now() + dt.timedelta(days=7))

    assert Share.objects.get() == share


def test_create_share_refuses_dates_out_of_order(patient):
    with pytest.raises(ValidationError) as refused:
        make_share(patient, date_from=dt.date(2025, 5, 1), date_to=dt.date(2025, 1, 1))

    assert refused.value.message_dict == {"date_to": ["The end date is before the start date."]}
    assert not Share.objects.exists()


def test_api_shows_the_domain_refusals(client, patient, settings):
    settings.PHR_SHARE_MAX_DAYS = 7
    client.force_login(patient)
    share = {"label": "Dr. Kim", "categories": ["lab"]}

    too_far = client.post(
        "/api/v1/shares/",
        {**share, "expires_at": (timezone.now() + dt.timedelta(days=8)).isoformat()},
        content_type="application/json",
    )
    out_of_order = client.post(
        "/api/v1/shares/",
        {
            **share,
            "expires_at": (timezone.now() + dt.timedelta(days=1)).isoformat(),
            "date_from": "2025-05-01",
            "date_to": "2025-01-01",
        },
        content_type="application/json",
    )

    assert (too_far.status_code, too_far.json()) == (
        400,
        {"expires_at": ["At most 7 days from now."]},
    )
    assert (out_of_order.status_code, out_of_order.json()) == (
        400,
        {"date_to": ["The end date is before the start date."]},
    )
    assert not Share.objects.exists()


def test_share_form_shows_the_domain_refusal_of_dates(client, patient):
    login(client, patient.email)

    response = client.post(
        "/shares/new/",
        {
            "label": "Dr. Kim",
            "categories": ["lab"],
            "expires": "1d",
            "date_from": "2025-05-01",
            "date_to": "2025-01-01",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "date_to": ["The end date is before the start date."]
    }
    assert not Share.objects.exists()


# --- API -------------------------------------------------------------------------------------


def test_api_create_list_revoke_and_accesses(client, patient, records):
    client.force_login(patient)
    expires = (timezone.now() + dt.timedelta(days=1)).isoformat()
    created = client.post(
        "/api/v1/shares/",
        {
            "label": "Dr. Kim",
            "categories": ["lab"],
            "sources": [str(records["hanbit"].code)],
            "expires_at": expires,
            "passcode": "2468",
            "allow_download": True,
        },
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["url"].startswith("http://testserver/s/")
    assert "passcode" not in body
    assert body["has_passcode"] is True
    token = body["url"].rstrip("/").rsplit("/", 1)[1]

    listed = client.get("/api/v1/shares/").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert "url" not in listed[0]  # the link is shown once

    recipient = client.__class__()
    open_as_recipient(recipient, token, passcode="2468")
    accesses = client.get(f"/api/v1/shares/{body['id']}/accesses/").json()["results"]
    assert [(a["action"], a["recipient_name"]) for a in accesses] == [("opened", "Dr. Kim")]

    revoked = client.post(f"/api/v1/shares/{body['id']}/revoke/").json()
    assert revoked["state"] == "revoked"
    assert recipient.get(f"/s/{token}/").status_code == 404


def test_api_refuses_bad_shares(client, patient, other_patient, records):
    client.force_login(patient)
    theirs = Source.objects.create(patient=other_patient, kind="upload", label="x")
    response = client.post(
        "/api/v1/shares/",
        {
            "label": "x",
            "categories": [],
            "sources": [str(theirs.code)],
            "expires_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"categories", "sources", "expires_at"}
    assert not Share.objects.exists()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", "revoke/"), ("post", "reissue/"), ("get", "accesses/")],
)
def test_api_other_patients_shares_are_404(client, patient, other_patient, records, method, suffix):
    share, _token = make_share(patient)
    client.force_login(other_patient)
    assert getattr(client, method)(f"/api/v1/shares/{share.code}/{suffix}").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None


def test_recipient_sees_lab_trends_within_the_scope(client, patient, records):
    _share, token = make_share(patient, categories=["lab"], sources=[records["pureun"]])
    open_as_recipient(client, token)
    page = client.get(f"/s/{token}/c/lab/").content.decode()
    codes = set(re.findall(rf'href="/s/{token}/labs/([^/"]+)/"', page))
    assert codes
    for code in codes:
        chart = client.get(f"/s/{token}/labs/{code}/").content.decode()
        assert '<svg viewBox="0 0 640 260"' in chart
        assert "서울한빛대학교병원" not in chart  # only the shared institution's points
        assert "/records/r/" not in chart  # no links into the patient's own pages
    assert client.get(f"/s/{token}/labs/85354-9/").status_code == 404  # a vital sign: not shared


def test_share_page_names_the_categories(client, patient, records):
    share, _token = make_share(patient, categories=["lab", "medication"])
    login(client, patient.email)
    assert "Lab results, Medications" in client.get(f"/shares/{share.code}/").content.decode()


def test_recipient_sees_summary_and_vital_charts_within_the_scope(client, patient, records):
    _share, token = make_share(
        patient, categories=["vital", "condition"], sources=[records["hanbit"]]
    )
    open_as_recipient(client, token)
    summary = client.get(f"/s/{token}/").content.decode()
    assert "Active problems" in summary
    assert "Current medications" in summary  # a section, empty: medications are not shared
    meds = Record.objects.filter(patient=patient, category="medication").values_list(
        "display", flat=True
    )
    assert not any(f">{d}<" in summary for d in meds if d)
    vitals = client.get(f"/s/{token}/c/vital/").content.decode()
    assert vitals.count('<svg viewBox="0 0 640 260"') >= 2
    assert "푸른내과의원" not in vitals


def test_share_of_a_patient_without_profile_opens(client, db):
    from tests.factories import UserFactory

    user = UserFactory()
    _share, token = make_share(user)
    open_as_recipient(client, token)
    assert client.get(f"/s/{token}/").status_code == 200


# --- The clinician's view: what was not shared says so; within scope, what the patient sees ---

FHIR = Path(__file__).parent / "fixtures" / "fhir"


def unknown_link_answer(client):
    return client.get(f"/s/{domain.new_token()}/")


def same_answer(response, reference) -> bool:
    """The same status, body and headers as `reference` (the answer to an unknown link)."""
    headers = {k: v for k, v in response.items() if k != "Content-Length"}
    expected = {k: v for k, v in reference.items() if k != "Content-Length"}
    return (response.status_code, response.content, headers) == (
        reference.status_code,
        reference.content,
        expected,
    )


def test_sections_outside_the_scope_say_not_shared(client, patient, records):
    assert Record.objects.filter(patient=patient, category="condition").exists()
    # While the generated records' latest 90-day prescriptions last (current by their dates).
    with time_machine.travel(dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)):
        _share, token = make_share(patient, categories=["lab", "medication"])
        open_as_recipient(client, token)
        page = client.get(f"/s/{token}/").content.decode()

    sections = dict(re.findall(r"<h2>([^<]+)</h2>\s*(.*?)</section>", page, flags=re.S))
    for title in ("Active problems", "Allergies and adverse reactions", "Immunizations"):
        assert "Not shared with you." in sections[title], title
        assert "None recorded" not in sections[title], title
    for title in ("Current medications", "Recent results"):
        assert "<table>" in sections[title], title
    assert "None recorded" not in page
    assert "Shared: Lab results, Medications." in page


def test_limited_scope_says_which_records_were_shared(client, patient, records):
    _share, token = make_share(
        patient,
        categories=["lab", "immunization"],
        sources=[records["pureun"]],
        date_from=dt.date(2022, 1, 1),
        date_to=dt.date(2023, 12, 31),
    )
    open_as_recipient(client, token)

    page = client.get(f"/s/{token}/").content.decode()

    assert "Only records from 푸른내과의원 were shared." in page
    assert "Only records dated 2022-01-01 – 2023-12-31 were shared." in page
    # An empty section within a limited scope does not claim there is nothing anywhere.
    sections = dict(re.findall(r"<h2>([^<]+)</h2>\s*(.*?)</section>", page, flags=re.S))
    assert "None in the shared records." in sections["Immunizations"]
    assert "Not shared with you." in sections["Active problems"]


def test_category_outside_the_scope_is_not_available_and_not_logged(client, patient, records):
    share, token = make_share(patient, categories=["lab", "medication"])
    open_as_recipient(client, token)
    logged = ShareAccess.objects.filter(share=share).count()
    audited = AuditEvent.objects.filter(action=Action.SHARE_VIEWED).count()

    responses = [client.get(f"/s/{token}/c/{c}/") for c in ("condition", "allergy", "vital")]

    reference = unknown_link_answer(client)
    assert reference.status_code == 404
    assert all(same_answer(response, reference) for response in responses)
    assert ShareAccess.objects.filter(share=share).count() == logged
    assert AuditEvent.objects.filter(action=Action.SHARE_VIEWED).count() == audited
    assert client.get(f"/s/{token}/c/lab/").status_code == 200


def test_recipient_lab_overview_shows_flags_and_reference_ranges(client, patient, records):
    _share, token = make_share(patient, categories=["lab"])
    open_as_recipient(client, token)
    tests = record_queries.results_overview(Record.objects.filter(patient=patient, category="lab"))
    flagged = [t for t in tests if charts.flag(t["latest"])]
    assert flagged

    page = client.get(f"/s/{token}/c/lab/").content.decode()

    rows = dict(re.findall(r'href="/s/[^"]+/labs/([^/"]+)/">.*?</th>(.*?)</tr>', page, flags=re.S))
    for test in tests:
        row = rows[test["code"]]
        assert reference_range(test["latest"].resource) in row, test["code"]
        flag = charts.flag(test["latest"])
        assert (f">{flag}</span>" in row) == bool(flag), test["code"]


def test_recipient_summary_flags_recent_results_out_of_range(client, patient, records):
    """The overview's "Recent results" carries the same H/L as the labs page: a clinician
    reading the summary alone sees which results lie outside their range."""
    _share, token = make_share(patient, categories=["lab"])
    open_as_recipient(client, token)
    labs = record_queries.summary_sections(Record.objects.filter(patient=patient))["lab"]
    expected = [charts.flag(record) for record in labs]
    assert {"H", ""} <= set(expected) or {"L", ""} <= set(expected)

    page = client.get(f"/s/{token}/").content.decode()

    section = page.split("Recent results", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    assert len(rows) == len(labs)
    shown = [m.group(1) if (m := re.search(r">([HL])</span>", row)) else "" for row in rows]
    assert shown == expected


def test_a_share_s_summary_asks_nothing_of_what_it_does_not_share(client, patient, records):
    """A share of labs: its overview's summary reads the labs' section only (each other
    section's query cost the page about 5 ms), says the others are not shared, and lists the
    same results as the patient's own summary does."""
    _share, token = make_share(patient, categories=["lab"])
    open_as_recipient(client, token)
    own = record_queries.summary_sections(Record.objects.filter(patient=patient))
    assert own["lab"]
    assert Record.objects.filter(patient=patient, category__in=["condition", "medication"]).exists()

    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/s/{token}/").content.decode()

    for category in ("condition", "medication", "allergy", "immunization"):
        asking = [q["sql"] for q in queries.captured_queries if f"'{category}'" in q["sql"]]
        assert not asking, category
    for heading in ("Active problems", "Current medications", "Allergies and adverse reactions"):
        section = page.split(f"<h2>{heading}</h2>", 1)[1].split("</section>", 1)[0]
        assert "Not shared with you." in section, heading
    recent = page.split("<h2>Recent results</h2>", 1)[1].split("</section>", 1)[0]
    assert len(re.findall(r"<tr>", recent)) == len(own["lab"])


def test_recipient_opens_a_record_within_the_scope(client, patient, records):
    observation = json.loads((FHIR / "hl7-r4-examples" / "Observation-f001.json").read_text())
    import_resources(patient, "HL7 example", [observation])
    glucose = Record.objects.get(patient=patient, resource_id="f001", resource_type="Observation")
    share, token = make_share(patient, categories=[glucose.category])
    open_as_recipient(client, token)
    listing = client.get(f"/s/{token}/c/{glucose.category}/").content.decode()
    assert f'href="/s/{token}/r/{glucose.code}/"' in listing

    page = client.get(f"/s/{token}/r/{glucose.code}/").content.decode()

    assert "Glucose [Moles/volume] in Blood" in page
    assert "3.1–6.2 mmol/l" in page  # the reference range
    assert '<span class="badge badge-failed">High</span>' in page
    assert "/records/" not in page  # no links into the patient's own pages
    access = ShareAccess.objects.filter(share=share).first()
    assert (access.action, access.recipient_name, access.what) == (
        "viewed",
        "Dr. Kim",
        f"record {glucose.category}",
    )
    event = AuditEvent.objects.filter(action=Action.SHARE_VIEWED).latest("pk")
    assert (event.patient_id, event.extra) == (patient.pk, {"what": f"record {glucose.category}"})


def test_record_outside_the_scope_is_not_available(client, patient, other_patient, records):
    share, token = make_share(patient, categories=["lab"], sources=[records["pureun"]])
    open_as_recipient(client, token)
    logged = ShareAccess.objects.filter(share=share).count()
    outside = [
        Record.objects.filter(patient=patient, category="condition").first(),  # category
        Record.objects.filter(patient=patient, category="lab", source=records["hanbit"]).first(),
        Record.objects.filter(patient=other_patient).first(),  # someone else's
    ]

    responses = [client.get(f"/s/{token}/r/{record.code}/") for record in outside]

    reference = unknown_link_answer(client)
    assert all(same_answer(response, reference) for response in responses)
    assert ShareAccess.objects.filter(share=share).count() == logged


def test_recipient_page_query_counts_do_not_grow_with_data(patient, other_patient):
    """The clinician's pages run the same number of queries for ~150 and ~1,500 records."""
    counts = collections.defaultdict(list)
    for user, size in ((patient, 150), (other_patient, 1500)):
        import_resources(user, "서울한빛대학교병원", generated(user, size=size, seed=7))
        _share, token = make_share(user, categories=["lab", "medication", "condition"])
        client = Client()
        open_as_recipient(client, token)
        lab = Record.objects.filter(patient=user, category="lab").first()
        for name, url in (
            ("summary", f"/s/{token}/"),
            ("labs", f"/s/{token}/c/lab/"),
            ("medications", f"/s/{token}/c/medication/"),
            ("lab trend", f"/s/{token}/labs/{lab.code_value}/"),
            ("record", f"/s/{token}/r/{lab.code}/"),
        ):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200, url
            counts[name].append(len(captured))
    assert {name: n for name, n in counts.items() if n[0] != n[1]} == {}

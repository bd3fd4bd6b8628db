"""Failed logins are throttled per (account, client address), under a much higher per-account
ceiling (issue 14, item 6): a stranger's burst cannot lock the owner out from elsewhere, brute
force from one address stops at the cap, exactly, however parallel it is; refusals are 429
with Retry-After, on the app API and on the browser form.

Real connections to a live server, from distinct loopback source addresses (the settings trust
no proxy, so the client address is the connection's: REMOTE_ADDR).
"""

import gc
import threading
from collections import Counter

import httpx
import pytest

from audit.models import Action, AuditEvent
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server serves each request on a new thread, and each thread gets its own Redis
    # cache client, whose pooled sockets Django never closes: they are reclaimed when the
    # thread ends. A ResourceWarning about them says nothing about the code under test.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

LOGIN = "/_allauth/app/v1/auth/login"
BURST = 40


@pytest.fixture(autouse=True)
def _ipv4_host(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    yield
    gc.collect()  # the server threads' cache clients, while ResourceWarning is ignored


def _base(live_server) -> str:
    # The addresses below are IPv4 loopback: talk to the server over IPv4 too.
    return live_server.url.replace("localhost", "127.0.0.1")


def _burst(url: str, address: str, passwords: list[str]) -> list[httpx.Response]:
    """All `passwords` tried at once, each on its own connection from `address`."""
    barrier = threading.Barrier(len(passwords))
    responses: list = [None] * len(passwords)

    def attempt(i: int) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(transport=transport, timeout=30) as client:
            barrier.wait()
            responses[i] = client.post(
                url, json={"email": "patient@example.org", "password": passwords[i]}
            )

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def _checked_passwords(patient) -> int:
    """Passwords really compared (audited per attempt), as opposed to refused unchecked."""
    return AuditEvent.objects.filter(
        action=Action.LOGIN_FAILED, patient_id=patient.pk, extra__stage="password"
    ).count()


def test_strangers_burst_stops_at_the_cap_and_does_not_lock_out_the_owner(live_server, patient):
    url = _base(live_server) + LOGIN

    stranger = _burst(url, "127.0.0.2", ["wrong"] * BURST)
    [owner] = _burst(url, "127.0.0.3", [PASSWORD])

    print(f"burst of {BURST}: {_checked_passwords(patient)} passwords checked, owner {owner}")
    assert Counter(r.status_code for r in stranger) == {400: 5, 429: BURST - 5}
    assert _checked_passwords(patient) == 5
    retry_after = {int(r.headers["Retry-After"]) for r in stranger if r.status_code == 429}
    assert retry_after
    assert all(1 <= seconds <= 300 for seconds in retry_after)
    assert owner.status_code == 200
    assert "session_token" in owner.json()["meta"]


def test_right_password_inside_a_capped_burst_is_refused(live_server, patient):
    url = _base(live_server) + LOGIN
    _burst(url, "127.0.0.2", ["wrong"] * 5)

    responses = _burst(url, "127.0.0.2", ["wrong"] * 10 + [PASSWORD] * 2)

    assert Counter(r.status_code for r in responses) == {429: 12}
    assert _checked_passwords(patient) == 5


def test_per_account_ceiling_holds_across_addresses(live_server, patient, settings):
    settings.PHR_LOGIN_RATE_ACCOUNT = "12/1h"
    url = _base(live_server) + LOGIN

    statuses = Counter()
    for address in ("127.0.0.2", "127.0.0.4", "127.0.0.5"):
        statuses.update(r.status_code for r in _burst(url, address, ["wrong"] * 6))
    [owner] = _burst(url, "127.0.0.3", [PASSWORD])

    # 5 per address (the per-address cap), until the account's 12 are used up.
    assert statuses == {400: 12, 429: 6}
    assert _checked_passwords(patient) == 12
    assert owner.status_code == 429
    assert 1 <= int(owner.headers["Retry-After"]) <= 3600


def test_browser_form_answers_429_with_retry_after(client, patient):
    for _ in range(5):
        response = client.post(
            "/accounts/login/",
            {"login": patient.email, "password": "wrong"},  # pragma: allowlist secret
            REMOTE_ADDR="10.0.0.7",
        )
        assert response.status_code == 200

    refused = client.post(
        "/accounts/login/", {"login": patient.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    elsewhere = client.post(
        "/accounts/login/", {"login": patient.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.8"
    )

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 300
    assert b"Too many failed login attempts. Try again later." in refused.content
    assert elsewhere.status_code == 302

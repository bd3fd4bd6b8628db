"""The fixed cast, shared by every test.

- `patient`: Alice-like — owns data, identity verified.
- `other_patient`: a second patient who must never see the first one's data.
- `admin_user`: staff (an operator).
- `clinician`: a share recipient without an account: the share of `patient`'s labs and
  medications, its link (token) and the name they give when they open it.
- `delegate`: a verified user who is `patient`'s caregiver: a read-only grant over all of
  the patient's records for 30 days (`sharing.Delegation`), used under /for/<patient's code>/
  on the web and ?patient=<code> in the API; on their own pages they see nothing of the
  patient's. `DelegationFactory(patient=patient, delegate=delegate, …)` gives it other terms.
  `for_path(patient, path)` is a path under the patient's prefix; `logged_in(user)` a client.
"""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.servers import basehttp
from django.test import Client
from django.utils import timezone

from accounts import domain as accounts_domain
from core import scopes
from institutions import sync
from institutions.models import Institution, SyncRun
from mockhospital import domain as mock
from mockhospital.onboarding import onboard_mock_hospital
from tests.factories import (
    PASSWORD,
    DelegationFactory,
    InstitutionFactory,
    MockInstitutionFactory,
    ShareFactory,
    SourceFactory,
    UserFactory,
)

# The live server's listen backlog is Django's 10: the 50-request bursts of the share tests
# overflowed it and the kernel reset connections (ListenOverflows, TCPAbortOnData). Set before
# the session's live server starts; production runs gunicorn, whose backlog is 2048.
basehttp.WSGIServer.request_queue_size = 128


@pytest.fixture(autouse=True)
def _default_language():
    # Django's LocaleMiddleware leaves the language of the last request active in the thread
    # (the test client runs requests in it): a test that ends on a Korean page must not make
    # the next test's messages Korean.
    yield
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _scopes_disabled():
    # The test code itself is outside any request: it builds and reads every patient's rows.
    # Requests through the test client enable their own scope (sharing.middleware), as in
    # production; tests of the guard itself enable one with core.scopes.patient_scope.
    with scopes.scopes_disabled():
        yield


@pytest.fixture(autouse=True)
def _clean_cache():
    # Rate-limit counters and used TOTP codes live in the (real, Redis) cache: start clean.
    cache.clear()
    yield
    cache.clear()


def _verified(user, name, birth_date, phone, sex):
    accounts_domain.verify_identity(
        user=user, full_name=name, birth_date=birth_date, sex=sex, phone=phone
    )
    return user


@pytest.fixture
def patient(db):
    user = UserFactory(email="patient@example.org")
    return _verified(user, "김민준", dt.date(1962, 3, 15), "010-1234-5678", "male")


@pytest.fixture
def other_patient(db):
    user = UserFactory(email="other@example.org")
    return _verified(user, "이서연", dt.date(1990, 7, 2), "010-9876-5432", "female")


@pytest.fixture
def admin_user(db):
    return UserFactory(email="admin@example.org", is_staff=True, is_superuser=True)


@dataclass
class Clinician:
    """A share recipient: no account, only the link the patient gave them."""

    share: object
    token: str
    name: str

    @property
    def link(self) -> str:
        return f"/s/{self.token}/"

    def open(self, client):
        """Open the link and give their name, as the recipient does; returns the client."""
        response = client.post(self.link, {"name": self.name})
        assert response.status_code == 302, response.content.decode()[:2000]
        return client


@pytest.fixture
def clinician(patient):
    share = ShareFactory(
        patient=patient, label="Dr. Jung, Seoul Internal Medicine", categories=["lab", "medication"]
    )
    return Clinician(share=share, token=share.token, name="Dr. Jung")


@pytest.fixture
def delegate(patient):
    user = UserFactory(email="delegate@example.org")
    _verified(user, "박지훈", dt.date(1988, 11, 20), "010-5555-0101", "male")
    DelegationFactory(patient=patient, delegate=user, label="박지훈", purpose="hospital visits")
    return user


@pytest.fixture
def password():
    return PASSWORD


def login(client, email, password=PASSWORD):
    """Log in through allauth's form, as a person does (so allauth records the login)."""
    response = client.post("/accounts/login/", {"login": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


# --- Acting for someone: the person's prefix, a client per user, the patient's two hospitals ---


def for_path(user, path="/dashboard/") -> str:
    """`path` under `user`'s prefix (/for/<their code>/…), where a delegate acts for them."""
    return f"/for/{user.code}{path}"


def logged_in(user) -> Client:
    """A client of its own, logged in as `user` (without the login form: see `login`)."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_hospitals(patient):
    """The patient's sources at 한강병원 and 마포의원, in that order (a grant's scope names one),
    each synced once (a source that never completed a sync is "not known yet" on the pages)."""
    synced = timezone.now()
    first = SourceFactory(
        patient=patient, institution=InstitutionFactory(name="한강병원"), last_synced_at=synced
    )
    second = SourceFactory(
        patient=patient, institution=InstitutionFactory(name="마포의원"), last_synced_at=synced
    )
    return first, second


# --- The hospital side: a mock hospital onboarded as an institution ----------------------------


def onboard(live_server, hospital, **fields) -> Institution:
    return onboard_mock_hospital(hospital, base_url=live_server.url, **fields)


@pytest.fixture
def hospital(db):
    # Fixed identity and seed: the data, and so every fault scenario, are the same in any order.
    return MockInstitutionFactory(
        slug="hanbit", hira_number="11100001", seed=1, patient_size=250, default_page_size=50
    )


@pytest.fixture
def institution(live_server, hospital):
    return onboard(live_server, hospital)


@pytest.fixture
def known_patient(patient, hospital):
    """The cast's patient, known to the mock hospital by their verified identity."""
    return mock.register_patient(
        institution=hospital, identifier=patient.profile.verified_identifier
    )


@pytest.fixture
def worker():
    """A real Celery worker (solo pool, in a thread) consuming the test Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from phr.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as w:
        yield w


def run_to_end(run: SyncRun) -> SyncRun:
    """The Celery task body, in this process (tests with a real worker are marked so)."""
    status = sync.execute_run(run_id=run.pk)
    run.refresh_from_db()
    assert status == run.status
    return run


# --- Records from two hospitals (and another patient's from a third), through the real import


@pytest.fixture
def kr_sources(patient, other_patient):
    """The patient's KR Core-style records from 서울한빛대학교병원 and 푸른내과의원 (upload sources,
    imported by the real pipeline); the other patient has records of their own."""
    from tests.records_data import generated, import_resources

    hanbit = import_resources(patient, "서울한빛대학교병원", generated(patient, size=300))
    pureun = import_resources(
        patient,
        "푸른내과의원",
        generated(
            patient,
            slug="pureun",
            name="푸른내과의원",
            profile="clinic",
            type_code="31",
            seed=2,
            size=150,
        ),
    )
    import_resources(
        other_patient,
        "미소치과의원",
        generated(
            other_patient,
            slug="miso",
            name="미소치과의원",
            profile="dental",
            type_code="51",
            seed=3,
            size=60,
        ),
    )
    return {"hanbit": hanbit, "pureun": pureun}

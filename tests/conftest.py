"""The fixed cast, shared by every test.

- `patient`: Alice-like — owns data, identity verified.
- `other_patient`: a second patient who must never see the first one's data.
- `admin_user`: staff (an operator).
Later features add `clinician` (a share recipient with a share of `patient`'s data).
"""

import datetime as dt

import pytest
from django.core.cache import cache

from accounts import domain as accounts_domain
from tests.factories import PASSWORD, UserFactory


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


@pytest.fixture
def password():
    return PASSWORD


def login(client, email, password=PASSWORD):
    """Log in through allauth's form, as a person does (so allauth records the login)."""
    response = client.post("/accounts/login/", {"login": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response

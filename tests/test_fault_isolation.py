"""Unrelated faults must not break unrelated pages (issue 14, item 7).

A wrong FIELD_ENCRYPTION_KEY only breaks what needs an institution's secret (talking to the
institution), never the patient's pages; an unreachable SMTP server never turns sign-up or a
password reset into a 500 (the mail is sent after commit by a retried Celery task).
"""

import pytest
from cryptography.fernet import Fernet

from institutions.models import Institution, Source, SourceKind
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_with_secret(kr_sources):
    """The patient's records come from an institution whose OAuth2 secret is encrypted."""
    institution = Institution.objects.create(
        name="서울한빛대학교병원",
        hira_number="11100077",
        type_code="01",
        client_id="hanbit",
        client_secret="hospital-secret-77",
    )
    Source.objects.filter(pk=kr_sources["hanbit"].pk).update(
        institution=institution, kind=SourceKind.INSTITUTION
    )
    return institution


@pytest.mark.parametrize(
    "path", ["/api/v1/records/", "/dashboard/", "/records/timeline/", "/records/labs/"]
)
def test_records_pages_answer_with_a_wrong_encryption_key(
    client, settings, patient, linked_with_secret, path
):
    login(client, patient.email)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = client.get(path)

    assert response.status_code == 200
    assert b"hospital-secret-77" not in response.content


def test_institution_secret_still_refused_with_a_wrong_key(settings, linked_with_secret):
    # The secret itself is not silently replaced: using it fails loudly, as before.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    institution = Institution.objects.get(pk=linked_with_secret.pk)
    assert institution.name == "서울한빛대학교병원"
    with pytest.raises(ValueError, match="cannot be decrypted with FIELD_ENCRYPTION_KEY"):
        _ = institution.client_secret

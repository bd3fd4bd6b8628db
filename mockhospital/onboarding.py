"""The mock hospitals onboarded as institutions: for the demo (active at once) and for tests and
benchmarks (onboarded as an operator does). The mock stands on top of the house, so it may."""

from django.conf import settings
from django.utils import timezone

from institutions import domain
from institutions.models import Institution, InstitutionKind, InstitutionStatus
from mockhospital.agencies import is_agency
from mockhospital.fhir import RESOURCE_TYPES


def kind_of(hospital) -> str:
    """The product's kind of institution for a mock one: an agency's profile names its kind."""
    return hospital.profile if is_agency(hospital.profile) else InstitutionKind.HOSPITAL


def create_demo_institutions(hospitals) -> list[Institution]:
    """One active Institution per mock hospital, pointing at it under SITE_URL (idempotent).

    The connection is not tested here (the server is not running yet during `make run`'s
    set-up); the capability facts are the mock's own, and an operator can re-test in the admin.
    """
    institutions = []
    for hospital in hospitals:
        base = f"{settings.SITE_URL}/mock/{hospital.slug}"
        institution, _ = Institution.objects.update_or_create(
            hira_number=hospital.hira_number,
            defaults={
                "name": hospital.name,
                "name_en": hospital.name_en,
                "type_code": hospital.type_code,
                "kind": kind_of(hospital),
                "region": hospital.region,
                "fhir_base_url": f"{base}/fhir",
                "token_url": f"{base}/token",
                "client_id": hospital.client_id,
                "client_secret": hospital.client_secret,
                "status": InstitutionStatus.ACTIVE,
                "fhir_version": "4.0.1",
                "resource_types": RESOURCE_TYPES,
                "supports_everything": hospital.supports_everything,
                "tested_at": timezone.now(),
                "test_ok": True,
                "test_message": "Demo institution served by the local mock hospital.",
            },
        )
        institutions.append(institution)
    return institutions


def onboard_mock_hospital(hospital, *, base_url: str, **fields) -> Institution:
    """Onboard a mock hospital served at `base_url` as an operator does: create the
    institution, test the connection for real, activate it (tests and benchmarks; the server
    must be running). Raises RuntimeError with the test's message when the connection fails."""
    institution = Institution.objects.create(
        name=hospital.name,
        name_en=hospital.name_en,
        hira_number=hospital.hira_number,
        type_code=hospital.type_code,
        kind=fields.pop("kind", kind_of(hospital)),
        region=hospital.region,
        fhir_base_url=f"{base_url}/mock/{hospital.slug}/fhir",
        token_url=f"{base_url}/mock/{hospital.slug}/token",
        client_id=hospital.client_id,
        client_secret=hospital.client_secret,
        **fields,
    )
    if not domain.test_connection(institution=institution):
        raise RuntimeError(institution.test_message)
    domain.set_status(institution=institution, status=InstitutionStatus.ACTIVE)
    return institution

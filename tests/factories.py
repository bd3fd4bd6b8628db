"""One factory per model. Tests build what they need from these and the fixed cast."""

import datetime as dt

import factory
from allauth.account.models import EmailAddress

from accounts.models import PatientProfile, User
from audit.models import Action, ActorKind, AuditEvent

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        # A user who can log in under mandatory e-mail verification.
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)
        if create:
            self.save()


class PatientProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientProfile
        django_get_or_create = ["user"]

    user = factory.SubFactory(UserFactory)
    full_name = "홍길동"
    birth_date = dt.date(1970, 1, 1)
    sex = "male"
    phone = "01000000000"


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    action = Action.LOGIN
    actor_kind = ActorKind.PATIENT


class MockInstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "mockhospital.MockInstitution"

    slug = factory.Sequence(lambda n: f"hospital-{n}")
    name = factory.Sequence(lambda n: f"테스트병원{n}")
    name_en = factory.Sequence(lambda n: f"Test Hospital {n}")
    hira_number = factory.Sequence(lambda n: f"{11100000 + n}")
    type_code = "11"
    region = "서울특별시"
    profile = "general"
    client_id = factory.SelfAttribute("slug")
    client_secret = "test-client-secret"
    seed = factory.Sequence(lambda n: n)
    patient_size = 200
    history_years = 3
    clock = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


class MockPatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "mockhospital.MockPatient"

    institution = factory.SubFactory(MockInstitutionFactory)
    identifier = factory.Sequence(lambda n: f"{n:064x}")
    patient_id = factory.Sequence(lambda n: f"P{n:08d}")
    seed = factory.Sequence(lambda n: n)
    size = 200
    history_start = factory.LazyAttribute(
        lambda o: o.institution.clock - dt.timedelta(days=365 * o.institution.history_years)
    )
    span_days = factory.LazyAttribute(lambda o: 365 * o.institution.history_years)


class MockResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "mockhospital.MockResource"

    patient = factory.SubFactory(MockPatientFactory)
    resource_type = "Observation"
    resource_id = factory.Sequence(lambda n: f"obs-{n}")
    last_updated = factory.LazyAttribute(lambda o: o.patient.institution.clock)
    body = factory.LazyAttribute(
        lambda o: f'{{"resourceType":"{o.resource_type}","id":"{o.resource_id}"}}'
    )


def make_share(patient, **overrides):
    """A share of `patient`'s records through the product's own create_share, with sensible
    defaults (labs and medications, a day, no passcode); returns (share, token)."""
    from django.utils import timezone

    from sharing import domain

    fields = {
        "label": "Dr. Kim, Seoul Clinic",
        "purpose": "",
        "categories": ["lab", "medication"],
        "sources": [],
        "date_from": None,
        "date_to": None,
        "expires_at": timezone.now() + dt.timedelta(days=1),
        "passcode": "",
        "allow_download": False,
        "notify_on_open": False,
        **overrides,
    }
    return domain.create_share(patient=patient, **fields)

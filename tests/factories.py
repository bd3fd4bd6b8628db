"""One factory per model. Tests build what they need from these and the fixed cast."""

import dataclasses
import datetime as dt

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import PatientProfile, User
from audit.models import Action, ActorKind, AuditEvent
from core.access import Actor
from institutions.models import (
    Institution,
    InstitutionStatus,
    RunStatus,
    RunTrigger,
    Source,
    SourceKind,
    SourceStatus,
    SyncRun,
)
from records import projection
from records.models import Record
from sharing import domain as sharing_domain
from sharing.models import Delegation, DelegationKind, Share

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


class InstitutionFactory(factory.django.DjangoModelFactory):
    """A directory entry, active and reachable in name only (no FHIR server behind it: tests
    that sync onboard a mock hospital instead)."""

    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"테스트의원{n}")
    name_en = factory.Sequence(lambda n: f"Test Clinic {n}")
    hira_number = factory.Sequence(lambda n: f"{31100000 + n}")
    type_code = "31"
    region = "서울특별시"
    fhir_base_url = factory.Sequence(lambda n: f"https://fhir{n}.example.org/r4")
    token_url = factory.Sequence(lambda n: f"https://fhir{n}.example.org/oauth/token")
    client_id = factory.Sequence(lambda n: f"phr-{n}")
    status = InstitutionStatus.ACTIVE
    fhir_version = "4.0.1"


class SourceFactory(factory.django.DjangoModelFactory):
    """A patient's link to an institution (with consent); `SourceFactory(upload=True)` is an
    uploaded file instead."""

    class Meta:
        model = Source

    class Params:
        upload = factory.Trait(
            kind=SourceKind.UPLOAD,
            institution=None,
            label=factory.Sequence(lambda n: f"records-{n}.ndjson"),
            file_hash=factory.Sequence(lambda n: f"{n:064x}"),
            consent_at=None,
            consent_scope={},
            consent_version="",
            patient_ref="",
        )

    patient = factory.SubFactory(UserFactory)
    kind = SourceKind.INSTITUTION
    institution = factory.SubFactory(InstitutionFactory)
    status = SourceStatus.ACTIVE
    consent_at = factory.LazyFunction(timezone.now)
    consent_scope = factory.LazyFunction(
        lambda: {"resources": "all", "since": "all available history"}
    )
    consent_version = "2026-11"
    patient_ref = factory.Sequence(lambda n: f"P{n:08d}")


class SyncRunFactory(factory.django.DjangoModelFactory):
    """A finished, successful run (an active one would hold the source's one-active-run slot)."""

    class Meta:
        model = SyncRun

    source = factory.SubFactory(SourceFactory)
    status = RunStatus.SUCCEEDED
    trigger = factory.LazyAttribute(
        lambda o: RunTrigger.IMPORT if o.source.kind == SourceKind.UPLOAD else RunTrigger.LINK
    )
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=2))
    finished_at = factory.LazyFunction(timezone.now)
    fetched = 1
    created_count = 1


def hba1c(resource_id: str, value: float = 6.1, when: str = "2025-03-04T09:00:00+09:00") -> dict:
    """A KR Core-style HbA1c result: a lab Observation with LOINC and a reference range."""
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"lastUpdated": "2025-03-05T10:00:00+09:00"},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}],
            "text": "당화혈색소",
        },
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
        "referenceRange": [
            {"low": {"value": 4.0, "unit": "%"}, "high": {"value": 5.6, "unit": "%"}}
        ],
    }


def _projected(resource: dict) -> dict:
    # The projection is the one definition of the columns; it may be a dict (TypedDict) or a
    # dataclass, depending on the records app's version.
    columns = projection.project(resource)
    if dataclasses.is_dataclass(columns):
        return dataclasses.asdict(columns)
    return dict(columns)


class RecordFactory(factory.django.DjangoModelFactory):
    """A stored resource whose columns are the product's own projection of it (so pages show it
    as they would a synced one). Pass `resource=` for another resource; the patient is the
    source's."""

    class Meta:
        model = Record

    source = factory.SubFactory(SourceFactory)
    patient = factory.SelfAttribute("source.patient")
    resource = factory.Sequence(lambda n: hba1c(f"lab-{n}", 5.5 + (n % 20) / 10))
    resource_type = factory.LazyAttribute(lambda o: o.resource["resourceType"])
    resource_id = factory.LazyAttribute(lambda o: o.resource["id"])
    content_hash = factory.LazyAttribute(lambda o: projection.content_hash(o.resource))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        columns = _projected(kwargs["resource"])
        # Explicit column arguments win (a test pinning a date, say); the rest are projected.
        return super()._create(model_class, *args, **{**columns, **kwargs})

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return super()._build(model_class, *args, **{**_projected(kwargs["resource"]), **kwargs})


class ShareFactory(factory.django.DjangoModelFactory):
    """A share of `patient`'s records made by the product's own create_share (token hash,
    hashed passcode, SHL file when downloads are allowed, audit event). The token, shown to the
    patient once, is on `share.token`. Defaults: labs and medications, a day, no passcode."""

    class Meta:
        model = Share

    patient = factory.SubFactory(UserFactory)
    label = "Dr. Kim, Seoul Clinic"
    purpose = ""
    categories = factory.LazyFunction(lambda: ["lab", "medication"])
    sources = factory.LazyFunction(list)
    date_from = None
    date_to = None
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    passcode = ""
    allow_download = False
    notify_on_open = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        patient = kwargs.pop("patient")
        share, token = sharing_domain.create_share(actor=Actor.patient(patient), **kwargs)
        share.token = token
        return share


def make_share(patient, **overrides):
    """A share of `patient`'s records (ShareFactory's defaults); returns (share, token)."""
    share = ShareFactory(patient=patient, **overrides)
    return share, share.token


class DelegationFactory(factory.django.DjangoModelFactory):
    """A grant to an account acting for `patient`: by default an accepted caregiver grant
    (read only, everything, 30 days). `sources=[...]` narrows its scope; the `guardian` trait
    is a parent's grant over a child (may share and manage)."""

    class Meta:
        model = Delegation
        skip_postgeneration_save = True

    kind = DelegationKind.CAREGIVER
    patient = factory.SubFactory(UserFactory)
    delegate = factory.SubFactory(UserFactory)
    label = factory.LazyAttribute(lambda o: o.delegate.email if o.delegate else "")
    purpose = ""
    categories = factory.LazyFunction(list)
    may_share = False
    may_manage = False
    invited_email = factory.LazyAttribute(lambda o: o.delegate.email if o.delegate else "")
    accepted_at = factory.LazyAttribute(lambda o: timezone.now() if o.delegate else None)
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))

    class Params:
        guardian = factory.Trait(kind=DelegationKind.GUARDIAN, may_share=True, may_manage=True)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # One live grant per (patient, delegate): the cast's delegate already holds one over
        # the cast's patient (tests/conftest.py), which is then given these terms instead.
        if kwargs.get("delegate") is not None:
            live = model_class.objects.filter(
                patient=kwargs["patient"], delegate=kwargs["delegate"], revoked_at__isnull=True
            ).first()
            if live is not None:
                for name, value in kwargs.items():
                    setattr(live, name, value)
                live.save()
                return live
        return super()._create(model_class, *args, **kwargs)

    @factory.post_generation
    def sources(self, create, extracted, **kwargs):
        if create and extracted:
            self.sources.set(extracted)

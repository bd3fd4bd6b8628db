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

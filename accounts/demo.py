"""The demo cast (development only): one operator, two patients and a child.

The child, 김하은 (born 2019-04-10), is 이서연's daughter, registered at her address in the
mock family registry (accounts.family_registry.DEMO_HOUSEHOLDS); `manage.py demo` adds her as
이서연 would, through sharing.family.add_child (a layer above this one).
"""

import datetime as dt

from allauth.account.models import EmailAddress

from accounts import domain, queries
from accounts.models import User
from core.access import Actor

DEMO_PASSWORD = "phr-demo-pass"  # noqa: S105 - published demo login, refused outside development

DEMO_USERS = [
    # email, staff, (name, birth date, sex, phone)
    ("admin@example.com", True, ("박운영", dt.date(1985, 5, 20), "female", "010-2000-0001")),
    ("patient@example.com", False, ("김민준", dt.date(1962, 3, 15), "male", "010-1234-5678")),
    ("other@example.com", False, ("이서연", dt.date(1990, 7, 2), "female", "010-9876-5432")),
]


DEMO_CHILDREN = [
    # guardian's email, (name, birth date, sex)
    ("other@example.com", ("김하은", dt.date(2019, 4, 10), "female")),
]


def create_demo_users() -> list[User]:
    """Create or reset the demo logins: password, verified e-mail, verified identity.

    Idempotent: running it again resets the passwords and leaves one row per person.
    """
    users = []
    for email, staff, (name, birth_date, sex, phone) in DEMO_USERS:
        user, _ = User.objects.get_or_create(email=email)
        user.is_staff = user.is_superuser = staff
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        profile = queries.profile_for(Actor.patient(user))
        if not profile.is_verified:
            domain.verify_identity(
                user=user, full_name=name, birth_date=birth_date, sex=sex, phone=phone
            )
        users.append(user)
    return users

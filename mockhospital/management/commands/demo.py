from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_CHILDREN, DEMO_PASSWORD, create_demo_users
from mockhospital.demo import create_demo_children, create_demo_hospitals
from mockhospital.onboarding import create_demo_institutions


class Command(BaseCommand):
    help = "Create (or reset) the demo data. Development only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "The demo data has published passwords and is for development only: "
                "it is refused when DEBUG is off."
            )
        users = create_demo_users()
        create_demo_children()
        hospitals = create_demo_hospitals()
        create_demo_institutions(hospitals)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in at /accounts/login/ with:"))
        for user in users:
            role = "operator (admin at /admin/)" if user.is_staff else "patient"
            self.stdout.write(f"  {user.email:<22} {DEMO_PASSWORD}   {role}")
        for email, (name, birth_date, _sex) in DEMO_CHILDREN:
            self.stdout.write(
                f"  {email} is also the guardian of {name} (born {birth_date:%Y-%m-%d}, "
                "no login of her own): My account → My children"
            )
        self.stdout.write(
            f"Institutions ({len(hospitals)}), served by the mock hospitals at /mock/:"
        )
        for hospital in hospitals:
            faults = " (flaky)" if hospital.faults else ""
            self.stdout.write(f"  {hospital.slug:<16} {hospital.name}{faults}")

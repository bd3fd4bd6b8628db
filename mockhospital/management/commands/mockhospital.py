import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import PatientProfile
from mockhospital import domain
from mockhospital.models import MockInstitution
from records.fhirfile import NotFHIR


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


class Command(BaseCommand):
    help = "Operate the mock hospitals: faults, clock, file loading, patient registration."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list the mock institutions")
        faults = sub.add_parser("faults", help="show or set an institution's faults")
        faults.add_argument("slug")
        faults.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
        faults.add_argument("--clear", action="store_true")
        faults.add_argument("--seed", type=int)
        advance = sub.add_parser("advance", help="advance an institution's clock")
        advance.add_argument("slug")
        advance.add_argument("--days", type=float, required=True)
        load = sub.add_parser("load", help="serve a FHIR Bundle/NDJSON file as a patient's data")
        load.add_argument("slug")
        load.add_argument("file", type=Path)
        load.add_argument("--email", help="the PHR account whose verified identity it belongs to")
        register = sub.add_parser("register", help="make an institution know a PHR patient")
        register.add_argument("slug")
        register.add_argument("--email", required=True)
        register.add_argument("--size", type=int)

    def _institution(self, slug) -> MockInstitution:
        try:
            return MockInstitution.objects.get(slug=slug)
        except MockInstitution.DoesNotExist:
            raise CommandError(f"No mock institution {slug!r} (see: mockhospital list).") from None

    def _identifier(self, email) -> str:
        profile = PatientProfile.objects.filter(user__email__iexact=email).first()
        if profile is None or not profile.verified_identifier:
            raise CommandError(f"{email} has no verified identity.")
        return profile.verified_identifier

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def do_list(self, **options):
        for i in MockInstitution.objects.all():
            faults = json.dumps(i.faults) if i.faults else "no faults"
            self.stdout.write(f"{i.slug:<16} {i.name}  clock={i.clock:%Y-%m-%d}  {faults}")

    def do_faults(self, slug, set, clear, seed, **options):
        institution = self._institution(slug)
        if clear or set or seed is not None:
            settings = {} if clear else dict(institution.faults)
            for item in set:
                key, _, value = item.partition("=")
                settings[key] = _number(value)
            try:
                domain.set_faults(institution=institution, settings=settings, seed=seed)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(
            json.dumps({"faults": institution.faults, "seed": institution.fault_seed})
        )

    def do_advance(self, slug, days, **options):
        result = domain.advance_clock(institution=self._institution(slug), days=days)
        self.stdout.write(f"{result['created']} resources created, {result['amended']} amended.")

    def do_load(self, slug, file, email, **options):
        identifier = self._identifier(email) if email else ""
        try:
            patient = domain.load_file(
                institution=self._institution(slug), data=file.read_bytes(), identifier=identifier
            )
        except (OSError, NotFHIR) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Loaded {patient.size} resources as Patient/{patient.patient_id}.")

    def do_register(self, slug, email, size, **options):
        patient = domain.register_patient(
            institution=self._institution(slug), identifier=self._identifier(email), size=size
        )
        self.stdout.write(f"{email} is Patient/{patient.patient_id} at {slug}.")

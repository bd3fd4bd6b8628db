from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from institutions.directory_csv import import_directory


class Command(BaseCommand):
    help = "Import the institution directory from a CSV file (idempotent by HIRA number)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from None
        result = import_directory(data)
        if not result.ok:
            raise CommandError("Nothing was imported:\n" + "\n".join(result.errors))
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged."
        )

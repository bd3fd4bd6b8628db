from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from core.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the newest FIELD_ENCRYPTION_KEY. Put the new key "
        "first in FIELD_ENCRYPTION_KEY (keeping the old ones), run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            with transaction.atomic():
                # Reading decrypts with whichever key matches; writing encrypts with the newest.
                for row in model._base_manager.select_for_update().only("pk", *fields):
                    values = {name: getattr(row, name) for name in fields}
                    model._base_manager.filter(pk=row.pk).update(**values)
                    total += 1
        self.stdout.write(f"{total} rows re-encrypted.")

"""Model fields shared by the apps."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


def _fernet() -> MultiFernet:
    # Newest key first: it encrypts; every key can decrypt, so keys rotate without downtime.
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


class EncryptedTextField(models.TextField):
    """Text stored encrypted with FIELD_ENCRYPTION_KEY (Fernet: AES-128-CBC + HMAC-SHA256).

    Written here because the maintained packages for this target older Django versions or bind
    to SECRET_KEY; this is a thin wrapper over `cryptography`'s MultiFernet, which does the work.
    The column holds only ciphertext; lookups by value are impossible by design.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        try:
            return _fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError(
                f"{self.model.__name__}.{self.name} cannot be decrypted with FIELD_ENCRYPTION_KEY."
            ) from None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return _fernet().encrypt(value.encode()).decode()

"""Model fields shared by the apps."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from django.db.models.query_utils import DeferredAttribute


def _fernet() -> MultiFernet:
    # Newest key first: it encrypts; every key can decrypt, so keys rotate without downtime.
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


class Ciphertext(str):
    """A value as stored: still encrypted. Rows load with it; reading the attribute decrypts."""

    __slots__ = ()


class _DecryptOnRead(DeferredAttribute):
    """Decrypts when the attribute is read, not when the row is loaded.

    Pages that load an institution only for its name (every records list joins
    source → institution) must not depend on FIELD_ENCRYPTION_KEY: a wrong or rotated-away key
    then breaks only what really uses the secret (talking to the institution), loudly.
    """

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if instance is not None and isinstance(value, Ciphertext):
            value = self.field.decrypt(value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance, value):
        # A data descriptor (Django's DeferredAttribute is not): otherwise the instance's
        # __dict__ would shadow __get__ and the ciphertext would be read as the secret.
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """Text stored encrypted with FIELD_ENCRYPTION_KEY (Fernet: AES-128-CBC + HMAC-SHA256).

    Written here because the maintained packages for this target older Django versions or bind
    to SECRET_KEY; this is a thin wrapper over `cryptography`'s MultiFernet, which does the work.
    The column holds only ciphertext; lookups by value are impossible by design. Model
    instances decrypt on attribute access; values()/values_list() give the Ciphertext.
    """

    descriptor_class = _DecryptOnRead

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return Ciphertext(value)

    def decrypt(self, value: str) -> str:
        try:
            return _fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError(
                f"{self.model.__name__}.{self.name} cannot be decrypted with FIELD_ENCRYPTION_KEY."
            ) from None

    def get_prep_value(self, value):
        if isinstance(value, Ciphertext):
            return str(value)  # never read, so unchanged: written back as it was stored
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return _fernet().encrypt(value.encode()).decode()

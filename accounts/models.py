import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.scopes import patient_scoped_manager


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in: a patient, or staff (is_staff) who operate the platform.

    Clinicians opening a share have no account.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("e-mail address"), unique=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    # The language PHR writes to them in when someone else's request triggers a mail (a share
    # opened by a clinician): the one active at their last login. Blank: settings.LANGUAGE_CODE.
    language = models.CharField(_("language"), max_length=10, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Login looks addresses up case-insensitively; two spellings of one address
            # must not become two accounts.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)


class Sex(models.TextChoices):
    # FHIR administrative gender, which institutions send and match on.
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Prefer not to say")


class PatientProfile(models.Model):
    """What a patient tells us about themselves, and the result of identity verification.

    `verified_identifier` is an HMAC of the verified name, birth date and phone under
    settings.IDENTITY_HMAC_KEY (see accounts.domain.identity_identifier): stable, so that
    institutions can find the patient, and useless to anyone without the key.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, blank=True)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True)
    verified_identifier = models.CharField(max_length=64, blank=True, editable=False)
    identity_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A child under 14 added by a parent (the Family issue): a patient with no login of their
    # own, verified through the family registry (accounts.family_registry) and acted for
    # through guardian grants (sharing.Delegation) until their 14th birthday.
    managed = models.BooleanField(_("managed by a guardian"), default=False, editable=False)
    # When the guardians were told that their grants end in 30 days, and when the grants ended
    # on the 14th birthday (sharing.family.end_guardian_grants): each happens once.
    age_out_notice_at = models.DateTimeField(null=True, blank=True, editable=False)
    aged_out_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the child, 14 or older, verified their own identity and took the record over.
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("user")

    class Meta:
        verbose_name = _("patient profile")
        verbose_name_plural = _("patient profiles")
        constraints = [
            # One real person, one account: the identifier is what institutions match on.
            models.UniqueConstraint(
                fields=["verified_identifier"],
                condition=~models.Q(verified_identifier=""),
                name="profile_verified_identifier_unique",
            ),
        ]
        indexes = [
            # The age-out task: managed children not yet aged out, by birth date
            # (WHERE managed AND aged_out_at IS NULL AND birth_date <= %s).
            models.Index(
                fields=["birth_date"],
                condition=models.Q(managed=True, aged_out_at__isnull=True),
                name="profile_managed_birth_idx",
            ),
        ]

    def __str__(self):
        return self.full_name or str(self.user)

    @property
    def is_verified(self) -> bool:
        return self.identity_verified_at is not None

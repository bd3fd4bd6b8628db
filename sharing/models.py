import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.scopes import patient_scoped_manager
from records.models import Category


class ShareState(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")
    LOCKED = "locked", _("Locked (too many wrong passcodes)")


class Share(models.Model):
    """A patient's time-limited, scoped grant to someone holding the link (and passcode).

    The link's token has 256 bits of randomness and only its SHA-256 is stored; the passcode is
    stored with Django's password hasher. Wrong passcodes count over the share's lifetime.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares"
    )
    label = models.CharField(_("recipient"), max_length=200)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    # Scope: empty categories / sources mean all of them; the dates bound the records' dates.
    categories = models.JSONField(default=list, blank=True)
    sources = models.ManyToManyField("institutions.Source", blank=True, related_name="shares")
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    allow_download = models.BooleanField(_("the recipient may download"), default=False)
    notify_on_open = models.BooleanField(_("e-mail me when it is opened"), default=False)
    # Plain-language explanations (records.explain) are the patient's reading aid: the
    # recipient sees them only when the patient chose so on creating the share.
    include_explanations = models.BooleanField(
        _("include the plain-language explanations"), default=False
    )
    token_hash = models.CharField(max_length=64, unique=True)
    passcode_hash = models.CharField(max_length=200, blank=True)
    failed_attempts = models.PositiveIntegerField(default=0)
    # SMART Health Link: the manifest id's SHA-256 and the scope's Bundle as JWE (dir, A256GCM),
    # encrypted with a key that exists only in the link: the server cannot decrypt it.
    shl_id_hash = models.CharField(max_length=64, blank=True, db_index=True)
    shl_file = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The delegate's grant this share was made under (None: the patient's own). Such a share is
    # that grant's: only its delegate manages it (sharing.queries.shares_for), it never
    # outlives the grant (sharing.domain.find_active), and ends with it (sharing.caregivers).
    created_under = models.ForeignKey(
        "sharing.Delegation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shares_made",
    )

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("patient")

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The patient's list of shares: WHERE patient_id = %s ORDER BY created DESC
            models.Index(fields=["patient", "-created"], name="share_patient_created_idx"),
        ]

    def __str__(self):
        return f"{self.label} ({self.state})"

    @property
    def category_labels(self) -> list[str]:
        return [str(Category(c).label) for c in self.categories if c in Category.values]

    def shares_category(self, category: str) -> bool:
        """Whether this kind of record is in the scope (no categories: all of them)."""
        return not self.categories or category in self.categories

    @property
    def has_passcode(self) -> bool:
        return bool(self.passcode_hash)

    @property
    def state(self) -> str:
        if self.revoked_at:
            return ShareState.REVOKED
        if self.failed_attempts >= settings.PHR_SHARE_MAX_ATTEMPTS:
            return ShareState.LOCKED
        if self.expires_at <= timezone.now():
            return ShareState.EXPIRED
        return ShareState.ACTIVE

    def get_state_display(self) -> str:
        return ShareState(self.state).label


class DelegationKind(models.TextChoices):
    GUARDIAN = "guardian", _("Parent or guardian")
    CAREGIVER = "caregiver", _("Caregiver")


class Delegation(models.Model):
    """A patient's grant to another account that logs in and acts for them (the Family issue).

    The same parts as a `Share` (owner, grantee, scope, purpose, expiry, revocation, an audit
    trail of every use), with an account as grantee and rights beyond reading:

    - a **guardian** grant is a parent's over a child under 14 (a patient without a login of
      their own): it may share and manage, and ends by itself on the child's 14th birthday;
    - a **caregiver** grant is an adult's to someone they invite by e-mail: scoped, with the
      rights they choose and a mandatory expiry. Until the invitation is accepted, `delegate`
      is empty and only the SHA-256 of the invitation's token is kept.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=DelegationKind.choices)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="delegations_held",
    )
    label = models.CharField(_("name"), max_length=200, blank=True)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    # Scope, as on Share: empty categories / sources mean all of them.
    categories = models.JSONField(default=list, blank=True)
    sources = models.ManyToManyField("institutions.Source", blank=True, related_name="delegations")
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    may_share = models.BooleanField(_("may create shares"), default=False)
    may_manage = models.BooleanField(_("may link institutions and manage"), default=False)
    # The invitation (caregivers): sent to an address, accepted by the account that opens it.
    invited_email = models.EmailField(_("invited e-mail address"), blank=True)
    invite_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=40, blank=True)  # "age_out", "revoked", ...
    created = models.DateTimeField(auto_now_add=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    # A delegate's own list of grants is read with scopes disabled in its one query.
    objects = patient_scoped_manager("patient")

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["patient", "-created"], name="delegation_patient_idx"),
            models.Index(fields=["delegate", "expires_at"], name="delegation_delegate_idx"),
        ]
        constraints = [
            # One live grant per (owner, delegate): the URL names the owner, not the grant.
            models.UniqueConstraint(
                fields=["patient", "delegate"],
                condition=models.Q(revoked_at__isnull=True),
                name="delegation_one_live_per_pair",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.label} ({self.state})"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return ShareState.REVOKED
        if self.expires_at <= timezone.now():
            return ShareState.EXPIRED
        return ShareState.ACTIVE

    @property
    def is_active(self) -> bool:
        return self.state == ShareState.ACTIVE and self.delegate_id is not None


class ShlFileLocation(models.Model):
    """One short-lived location of a SMART Health Link's file, handed out by a manifest request.

    The location is 256 random bits of which only the SHA-256 is stored (a location used to be
    a signed `{"s": <share pk>}`, which told anyone the share's sequential id); it remembers the
    name the recipient gave in the manifest request, so that the download is logged under it.
    """

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="shl_locations")
    token_hash = models.CharField(max_length=64, unique=True)
    recipient_name = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("share__patient")

    class Meta:
        indexes = [
            # Purging a share's expired locations: WHERE share_id = %s AND expires_at <= now()
            models.Index(fields=["share", "expires_at"], name="shlfile_share_expires_idx"),
        ]

    def __str__(self):
        return f"SHL file location until {self.expires_at:%Y-%m-%d %H:%M}"


class AccessAction(models.TextChoices):
    OPENED = "opened", _("Opened")
    VIEWED = "viewed", _("Viewed")
    DOWNLOADED = "downloaded", _("Downloaded")
    WRONG_PASSCODE = "wrong_passcode", _("Wrong passcode")


class ShareAccess(models.Model):
    """One thing a recipient did with a share, shown to the patient (no clinical content)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="accesses")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    recipient_name = models.CharField(max_length=200, blank=True)
    what = models.CharField(max_length=100, blank=True)  # a page or category, never content
    ip = models.GenericIPAddressField(null=True, blank=True)  # truncated: /24 or /48

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("share__patient")

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["share", "-at"], name="shareaccess_share_at_idx")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

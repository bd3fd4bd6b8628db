import pgtrigger
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.scopes import patient_scoped_manager


class AppendOnlyError(Exception):
    """Audit events are never changed or deleted by the application."""


class Action(models.TextChoices):
    # Labels are what the patient reads on "Who saw my data": plain words, no jargon.
    LOGIN = "auth.login", _("Logged in")
    LOGOUT = "auth.logout", _("Logged out")
    LOGIN_FAILED = "auth.login_failed", _("Failed login attempt")
    PASSWORD_CHANGED = "auth.password_changed", _("Password changed")
    PASSWORD_RESET = "auth.password_reset", _("Password reset")
    EMAIL_CHANGED = "auth.email_changed", _("E-mail address changed")
    MFA_ADDED = "mfa.added", _("Two-factor authentication added")
    MFA_REMOVED = "mfa.removed", _("Two-factor authentication removed")
    MFA_RESET = "mfa.reset", _("Recovery codes regenerated")
    IDENTITY_VERIFIED = "identity.verified", _("Identity verified")
    SOURCE_LINKED = "source.linked", _("Institution linked")
    SOURCE_UNLINKED = "source.unlinked", _("Institution unlinked")
    SOURCE_PURGED = "source.purged", _("Records of a source deleted")
    SYNC_REQUESTED = "sync.requested", _("Sync requested")
    RECORDS_IMPORTED = "records.imported", _("File imported")
    IMPORT_CONFIRMED = (
        "records.import_confirmed",
        _("File imported after you confirmed it is yours"),
    )
    RECORDS_EXPORTED = "records.exported", _("Records exported")
    SHARE_CREATED = "share.created", _("Share created")
    SHARE_REVOKED = "share.revoked", _("Share revoked")
    SHARE_REISSUED = "share.reissued", _("Share link reissued")
    SHARE_OPENED = "share.opened", _("Shared records opened")
    SHARE_VIEWED = "share.viewed", _("Shared records viewed")
    SHARE_DOWNLOADED = "share.downloaded", _("Shared records downloaded")
    SHARE_WRONG_PASSCODE = "share.wrong_passcode", _("Wrong passcode for a share")
    INSTITUTION_CHANGED = "institution.changed", _("Institution changed by an operator")
    STAFF_VIEWED = "staff.viewed", _("Account details viewed by an operator")
    SESSIONS_ENDED = "auth.sessions_ended", _("Other sessions ended")
    SESSION_EXPIRED = "auth.session_expired", _("Logged out after inactivity")
    DATA_DOWNLOADED = "account.data_downloaded", _("All your data downloaded")
    ACCOUNT_DELETED = "account.deleted", _("Account deleted")
    AUDIT_PURGED = "audit.purged", _("Old activity records removed")
    # The Family issue: grants to an account acting for the patient (sharing.Delegation).
    DELEGATE_VIEWED = "delegate.viewed", _("Records viewed")
    DELEGATION_INVITED = "delegation.invited", _("Caregiver invited")
    DELEGATION_ACCEPTED = "delegation.accepted", _("Caregiver invitation accepted")
    DELEGATION_RENEWED = "delegation.renewed", _("Caregiver access renewed")
    DELEGATION_REVOKED = "delegation.revoked", _("Access for someone acting for you revoked")
    DELEGATION_CREATED = "delegation.created", _("Guardian access given")
    DELEGATION_ENDED = "delegation.ended", _("Access for someone acting for you ended")
    CHILD_ADDED = "child.added", _("Child added")
    RECORD_CLAIMED = "child.claimed", _("Record claimed by its owner")


class ActorKind(models.TextChoices):
    PATIENT = "patient", _("You")
    STAFF = "staff", _("Operator")
    RECIPIENT = "recipient", _("Share recipient")
    DELEGATE = "delegate", _("Someone acting for you")
    SYSTEM = "system", _("System")
    ANONYMOUS = "anonymous", _("Unknown visitor")


# Looked up per event shown (Enum.values builds a new list each time it is read).
ACTION_VALUES = frozenset(Action.values)
ACTOR_KIND_VALUES = frozenset(ActorKind.values)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events cannot be deleted.")

    def purge(self) -> int:
        """Delete these events. Only audit.domain.purge_expired calls this (retention), inside
        a block that lifts the database trigger."""
        deleted, _ = super().delete()
        return deleted


class AuditEvent(models.Model):
    """Who did what to whose data, when and from where — never the data itself.

    Append-only: the model refuses updates and deletes, and on PostgreSQL a trigger refuses
    them too, so that neither a bug nor a raw query in the application can rewrite history.
    Actor and patient are plain ids, not foreign keys: events outlive deleted accounts, and a
    cascading SET NULL would itself be an update.
    """

    created = models.DateTimeField(default=timezone.now, editable=False)
    action = models.CharField(max_length=64, choices=Action.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    # A share recipient's self-declared name, or the operator's e-mail: who it was, in words.
    actor_label = models.CharField(max_length=200, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)  # truncated: /24 or /48
    user_agent = models.CharField(max_length=200, blank=True)
    # Non-clinical facts about the event only (e.g. {"method": "totp"}).
    extra = models.JSONField(default=dict, blank=True)

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    # Append-only still: the scoped manager's querysets are AuditEventQuerySets.
    objects = patient_scoped_manager(
        "patient_id", manager_class=models.Manager.from_queryset(AuditEventQuerySet)
    )

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created", "-id"]
        indexes = [
            # "Who saw my data": WHERE patient_id = %s ORDER BY created DESC
            models.Index(fields=["patient_id", "-created"], name="audit_patient_created_idx"),
            # Admin log (ORDER BY created DESC) and the retention purge (WHERE created < %s)
            models.Index(fields=["created"], name="audit_created_idx"),
            # Admin log filtered by action
            models.Index(fields=["action", "-created"], name="audit_action_created_idx"),
            # What a guardian or caregiver did for others (audit.queries.acted_by)
            models.Index(
                fields=["actor_id", "-created"],
                name="audit_delegate_created_idx",
                condition=models.Q(actor_kind="delegate"),
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="audit_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
        ]

    def __str__(self):
        return f"{self.created:%Y-%m-%d %H:%M} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events cannot be deleted.")

    # Django's get_FOO_display translates every choice to look one up (≈ 2,500 translations
    # for the activity page's 50 events); these translate only the one label.
    @property
    def action_label(self) -> str:
        known = self.action in ACTION_VALUES
        return str(Action(self.action).label) if known else self.action

    @property
    def actor_kind_label(self) -> str:
        known = self.actor_kind in ACTOR_KIND_VALUES
        return str(ActorKind(self.actor_kind).label) if known else self.actor_kind

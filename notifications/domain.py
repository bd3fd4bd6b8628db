"""notify(): the one way any layer above tells a person something.

It keeps their choice (notifications.models.Preference: in PHR, by e-mail, per kind), writes
the in-app notification, and queues the e-mail after the transaction commits (core.mail: the
worker's task phr.send_email, retried with backoff). The e-mail is in the reader's language and
carries no clinical detail: what kind of thing happened and a link, nothing from the record.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import mail
from notifications.models import Kind, Notification, Preference

logger = logging.getLogger("phr.notifications")


# Who is told of what happens to a patient's own data (a sync's end): the patient, unless a
# higher layer says otherwise — pages.apps registers the rule of families (a managed child's
# account is a placeholder: its active guardians are told instead). A hook, so that the layers
# below sharing need not know of guardians.
_readers_hook = None


def set_readers_hook(hook) -> None:
    """`hook(patient) -> [(user, patient or None, link prefix), ...]`: who reads `patient`'s
    notices, whose records they are when not the reader's own, and the prefix of their links."""
    global _readers_hook  # one registration at start-up (AppConfig.ready)
    _readers_hook = hook


def readers_of(patient) -> list:
    """[(user, patient or None, link prefix)]: who is told of `patient`'s own events, each with
    whose records it is about when not their own and the prefix of its links ("" or
    "/for/<the child>")."""
    if _readers_hook is None:
        return [(patient, None, "")]
    return _readers_hook(patient)


def preference(user, kind: str) -> Preference:
    """The user's choice for `kind`: the stored row, else both channels on (unsaved)."""
    stored = Preference.objects.filter(user=user, kind=kind).first()
    return stored if stored is not None else Preference(user=user, kind=kind)


def preferences(user) -> dict[str, Preference]:
    """Every kind's choice, stored or default (one query)."""
    stored = {p.kind: p for p in Preference.objects.filter(user=user)}
    return {kind: stored.get(kind) or Preference(user=user, kind=kind) for kind in Kind.values}


def set_preferences(*, user, choices: dict[str, tuple[bool, bool]]) -> None:
    """Store the user's choices: {kind: (in_app, email)}. Side effects: Preference rows."""
    for kind, (in_app, email) in choices.items():
        Preference.objects.update_or_create(
            user=user, kind=kind, defaults={"in_app": in_app, "email": email}
        )


def notify(
    *,
    user,
    kind: str,
    params: dict | None = None,
    link: str = "",
    key: str = "",
    patient=None,
    email: bool = True,
) -> Notification | None:
    """Tell `user` about `kind` (a Kind), as they chose. `params`: plain values the in-app
    message is written from (never clinical content); `link`: a path in PHR; `key`: set for what
    must be told once (a reminder of one due dose) — a second call with it does nothing;
    `patient`: whose records it is about when not the user's own; `email=False`: in the app
    only (the caller's own choice, such as a share's "e-mail me when opened").

    Returns the Notification, or None when the user wants neither channel or `key` was used.
    Side effects: a Notification row (also when only e-mailed, so that a key is kept); an
    e-mail queued for after commit.
    """
    chosen = preference(user, kind)
    if not chosen.in_app and not (chosen.email and email):
        return None
    send = bool(chosen.email and email and user.email)
    fields = {
        "user": user,
        "patient": patient if patient is not None and patient != user else None,
        "kind": kind,
        "params": params or {},
        "link": link,
        "key": key,
        "in_app": chosen.in_app,
        "emailed": send,
    }
    if not key:
        notification = Notification.objects.create(**fields)
    else:
        try:
            with transaction.atomic():  # the key's uniqueness decides, also under a race
                notification = Notification.objects.create(**fields)
        except IntegrityError:
            return None  # told already
    if send:
        mail.send_after_commit(_email(user, notification))
    return notification


def notify_batch(*, user, items: list[dict], patient=None) -> list[Notification]:
    """Tell `user` of several things at once (a day's reminders): one in-app Notification per
    item, as notify() writes it (each item's `kind`, `params`, `link` and `key`: told once per
    key), and one e-mail for all the new ones, saying how many — not one e-mail per dose.
    Returns the Notifications written. Side effects: Notification rows; at most one e-mail
    queued for after commit."""
    written = []
    for item in items:
        chosen = preference(user, item["kind"])
        if not chosen.in_app and not chosen.email:
            continue
        fields = {
            "user": user,
            "patient": patient if patient is not None and patient != user else None,
            "kind": item["kind"],
            "params": item.get("params") or {},
            "link": item.get("link", ""),
            "key": item["key"],
            "in_app": chosen.in_app,
            "emailed": bool(chosen.email and user.email),
        }
        try:
            with transaction.atomic():
                written.append(Notification.objects.create(**fields))
        except IntegrityError:
            continue  # told already
    mailed = [n for n in written if n.emailed]
    if len(mailed) == 1:
        mail.send_after_commit(_email(user, mailed[0]))
    elif mailed:
        mail.send_after_commit(_batch_email(user, mailed))
    return written


SUBJECTS = {
    Kind.VACCINATION_DUE: lambda: _("A vaccination is due"),
    Kind.CHECKUP_DUE: lambda: _("A health check-up is due"),
    Kind.NEW_RESULTS: lambda: _("New results are available"),
    Kind.SYNC_FAILED: lambda: _("An update of your records needs you"),
    Kind.SHARE_OPENED: lambda: _("Your shared records were opened"),
}
BODIES = {
    Kind.VACCINATION_DUE: lambda p: _(
        "A vaccination is due or overdue. Open PHR to see which one:"
    ),
    Kind.CHECKUP_DUE: lambda p: _("A national health check-up is due. Open PHR to see when:"),
    Kind.NEW_RESULTS: lambda p: _("New results are available in PHR:"),
    Kind.SYNC_FAILED: lambda p: _(
        "PHR could not update your records from an institution. Open PHR to see what it needs:"
    ),
    # A share's recipient and label are the patient's own words, not clinical content.
    Kind.SHARE_OPENED: lambda p: (
        _(
            "%(name)s opened the records you shared with “%(label)s”. You can see every "
            "access, or revoke the share, in PHR."
        )
        % {"name": p.get("name", ""), "label": p.get("label", "")}
    ),
}


def _email(user, notification: Notification) -> EmailMessage:
    """The e-mail of `notification`, in `user`'s language: what happened and a link."""
    language = user.language or settings.LANGUAGE_CODE
    link = f"{settings.SITE_URL}{notification.link or '/notifications/'}"
    with translation.override(language):
        subject = str(SUBJECTS[notification.kind]())
        body = "\n\n".join(
            [
                str(BODIES[notification.kind](notification.params)),
                link,
                _("You can choose which e-mails PHR sends you in your settings: %(url)s")
                % {"url": f"{settings.SITE_URL}/notifications/settings/"},
            ]
        )
    return EmailMessage(
        subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        headers={"Content-Language": language},
    )


def _batch_email(user, notifications: list[Notification]) -> EmailMessage:
    """One e-mail for several reminders: how many, and a link (the page of their kind when they
    are all of one kind, else the notifications list). No clinical detail."""
    language = user.language or settings.LANGUAGE_CODE
    kinds = {n.kind for n in notifications}
    links = {n.link for n in notifications}
    path = links.pop() if len(links) == 1 and links != {""} else "/notifications/"
    count = len(notifications)
    with translation.override(language):
        if kinds == {Kind.VACCINATION_DUE}:
            subject = str(SUBJECTS[Kind.VACCINATION_DUE]())
            summary = ngettext(
                "%(count)s vaccination is due or overdue. Open PHR to see which:",
                "%(count)s vaccinations are due or overdue. Open PHR to see which:",
                count,
            ) % {"count": count}
        else:
            subject = _("Reminders from PHR")
            summary = ngettext(
                "%(count)s reminder is waiting for you in PHR:",
                "%(count)s reminders are waiting for you in PHR:",
                count,
            ) % {"count": count}
        body = "\n\n".join(
            [
                summary,
                f"{settings.SITE_URL}{path}",
                _("You can choose which e-mails PHR sends you in your settings: %(url)s")
                % {"url": f"{settings.SITE_URL}/notifications/settings/"},
            ]
        )
    return EmailMessage(
        subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        headers={"Content-Language": language},
    )


def mark_read(*, user, codes=None) -> int:
    """Mark the user's unread notifications read (those of `codes`, or all). Returns how many.
    Side effects: read_at set."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if codes is not None:
        unread = unread.filter(code__in=codes)
    return unread.update(read_at=timezone.now())

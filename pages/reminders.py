"""The daily reminders (beat: pages.tasks.send_due_reminders): a vaccination due or overdue
(records.vaccinations, the written national schedule) and the national health check-up due
(records.checkups.next_checkup_due), told through notifications.notify to the patient and to
each active guardian of a child.

Idempotent: each reminder has a key (the patient, the dose and its state, or the check-up's
year), and notify() tells a person once per key, so running it twice a day, or after a crash
halfway, sends nothing twice. A dose that goes from due to overdue is a second reminder.
"""

import datetime as dt
import logging

from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from core.access import Actor
from notifications.domain import notify
from notifications.models import Kind
from records import vaccinations
from records.checkups import next_checkup_due
from records.queries import records_for
from sharing.delegation import prefix_for
from sharing.models import Delegation, DelegationKind

logger = logging.getLogger(__name__)


def _guardians(patient: User) -> list[User]:
    grants = Delegation.objects.filter(
        patient=patient, kind=DelegationKind.GUARDIAN, delegate__isnull=False
    ).select_related("delegate")
    return [grant.delegate for grant in grants if grant.is_active]


def _names(key: str) -> dict[str, str]:
    names = {}
    for language in ("en", "ko"):
        with translation.override(language):
            names[language] = vaccinations.vaccine_name(key)
    return names


def reminders_for(patient: User, today: dt.date) -> list[dict]:
    """What is due for `patient` on `today`: notify() keyword arguments without the reader."""
    profile = patient.profile
    actor = Actor.patient(patient)
    due = []
    overview = vaccinations.overview(
        records_for(actor), birth_date=profile.birth_date, sex=profile.sex or "", today=today
    )
    for dose in overview.attention:
        due.append(
            {
                "kind": Kind.VACCINATION_DUE,
                "params": {
                    "vaccine": _names(dose.vaccine),
                    "dose": dose.dose,
                    "state": dose.state,
                },
                "link": reverse("vaccinations"),
                "key": f"{patient.pk}:{dose.reminder_key}",
            }
        )
    checkup = next_checkup_due(actor)
    if checkup is not None and checkup.year <= today.year:
        due.append(
            {
                "kind": Kind.CHECKUP_DUE,
                "params": {"year": checkup.year},
                "link": reverse("checkups"),
                "key": f"{patient.pk}:checkup:{checkup.year}",
            }
        )
    return due


def send_due_reminders(today: dt.date | None = None) -> int:
    """Tell every patient with a birth date (and a child's guardians) what is due. Returns how
    many notifications were written. Side effects: through notify(), Notification rows and
    e-mails after commit."""
    today = today or timezone.localdate()
    written = 0
    patients = User.objects.filter(profile__birth_date__isnull=False).select_related("profile")
    for patient in patients.iterator(chunk_size=200):
        try:
            due = reminders_for(patient, today)
            if not due:
                continue
            guardians = _guardians(patient)
            whose = patient.profile.full_name
            for reminder in due:
                if notify(user=patient, **reminder):
                    written += 1
                for guardian in guardians:
                    # The guardian's link opens the child's page (under /for/<the child>/).
                    told = {
                        **reminder,
                        "params": {**reminder["params"], "whose": whose},
                        "link": prefix_for(patient.code) + reminder["link"],
                    }
                    if notify(user=guardian, patient=patient, **told):
                        written += 1
        except Exception as exc:  # one patient's fault must not stop everyone's reminders
            logger.warning("reminders not computed user=%s: %s", patient.pk, type(exc).__name__)
    return written

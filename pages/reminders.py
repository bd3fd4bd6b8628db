"""The daily reminders (beat: pages.tasks.send_due_reminders): a vaccination due or overdue
(records.vaccinations, the written national schedule) and the national health check-up due
(records.checkups.next_checkup_due), told through notifications.notify_batch to the patient
and to each active guardian of a child: one in-app notification per item, one e-mail per person
and run saying how many.

Only from data that was fetched: vaccinations for a patient with KDCA linked, the check-up for
one with NHIS linked (without them a dose not found is not a dose not given). Never to staff;
a managed child's own account is a placeholder — its reminders go to its active guardians only.

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
from institutions.models import InstitutionKind
from institutions.queries import agencies_by_patient
from notifications.domain import notify_batch
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


def readers_of(patient: User) -> list[tuple[User, User | None, str]]:
    """Who is told of `patient`'s own events (notifications.domain.readers_of): the patient,
    or for a managed child — whose account is a placeholder — each active guardian instead,
    their links under the child's address."""
    if getattr(getattr(patient, "profile", None), "managed", False):
        prefix = prefix_for(patient.code)
        return [(guardian, patient, prefix) for guardian in _guardians(patient)]
    return [(patient, None, "")]


def _names(key: str) -> dict[str, str]:
    names = {}
    for language in ("en", "ko"):
        with translation.override(language):
            names[language] = vaccinations.vaccine_name(key)
    return names


def reminders_for(patient: User, today: dt.date, agencies=frozenset()) -> list[dict]:
    """What is due for `patient` on `today` from the agencies they have linked (`agencies`:
    "kdca" for vaccinations, "nhis" for the check-up): notify() keyword arguments without the
    reader."""
    profile = patient.profile
    actor = Actor.patient(patient)
    due = []
    if InstitutionKind.KDCA in agencies:
        overview = vaccinations.overview(
            records_for(actor),
            birth_date=profile.birth_date,
            sex=profile.sex or "",
            today=today,
            connected=True,
        )
        attention = overview.attention
    else:
        attention = []
    for dose in attention:
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
    checkup = next_checkup_due(actor) if InstitutionKind.NHIS in agencies else None
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
    """Tell every patient with a birth date and KDCA or NHIS linked (and a child's guardians)
    what is due. Returns how many notifications were written. Side effects: through
    notify_batch(), Notification rows and at most one e-mail per person after commit."""
    today = today or timezone.localdate()
    written = 0
    agencies = agencies_by_patient([InstitutionKind.KDCA, InstitutionKind.NHIS])
    patients = User.objects.filter(
        pk__in=list(agencies), profile__birth_date__isnull=False, is_staff=False, is_active=True
    ).select_related("profile")
    for patient in patients.iterator(chunk_size=200):
        try:
            due = reminders_for(patient, today, agencies[patient.pk])
            if not due:
                continue
            guardians = _guardians(patient)
            whose = patient.profile.full_name
            if not patient.profile.managed:  # a managed child's address is a placeholder
                written += len(notify_batch(user=patient, items=due))
            for guardian in guardians:
                # The guardian's link opens the child's page (under /for/<the child>/).
                told = [
                    {
                        **reminder,
                        "params": {**reminder["params"], "whose": whose},
                        "link": prefix_for(patient.code) + reminder["link"],
                    }
                    for reminder in due
                ]
                written += len(notify_batch(user=guardian, patient=patient, items=told))
        except Exception as exc:  # one patient's fault must not stop everyone's reminders
            logger.warning("reminders not computed user=%s: %s", patient.pk, type(exc).__name__)
    return written

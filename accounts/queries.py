"""The access-scoped query over profiles: what an actor may read of a patient's profile.

A read never writes: a page (the dashboard, a summary, a share recipient's view) of a patient
who has no profile row yet gets an unsaved empty one. Writers (identity verification) create
the row themselves.
"""

from accounts.models import PatientProfile, User
from core.access import Actor


def profile_for(actor: Actor | None) -> PatientProfile:
    """The profile of the patient `actor` acts for, for reading: the stored one, else an unsaved
    empty one (no actor: an empty one of nobody). One query; never an INSERT. Every actor of
    the patient reads it: it names whose records they are (a share's recipient sees the name
    and age too)."""
    if actor is None:
        return PatientProfile()
    stored = PatientProfile.objects.filter(user_id=actor.patient_id).first()
    return stored if stored is not None else PatientProfile(user_id=actor.patient_id)


def patient_for(actor: Actor, *, user: User | None = None) -> User:
    """The account of the patient `actor` acts for (what a document names as its subject):
    `user`, with no query, when it is that patient (the patient acting on their own records);
    else read."""
    if user is not None and user.pk == actor.patient_id:
        return user
    return User.objects.get(pk=actor.patient_id)

"""The runtime guard behind the scoped queries: django-scopes, keyed on the patient.

Every model holding a patient's data (Record, Source, SyncRun, SyncIssue, Upload, Share,
ShareAccess, ShlFileLocation, AuditEvent, PatientProfile) has `patient_scoped_manager` as its
default manager. While a scope is active its queries are filtered to that patient's rows
automatically; while a scope is enabled without a patient, any query of those models raises
`ScopeError` — a loud 500 instead of data, for a query the access layer did not scope.

Who enables what:
- a web request: the access layer (`sharing.middleware.PatientScopeMiddleware`) enables the
  scope of the actor's patient — the logged-in patient, or none for an anonymous request; a share
  or SMART Health Link view narrows it to the share's patient once it has found the share
  (`enter_patient`); the admin (staff only) runs with scopes disabled, its reads audited by
  `audit.admin`'s base class;
- outside a request (Celery tasks, management commands, migrations, the shell, test code) scopes
  are disabled: the state's default, in every thread; explicitly too, a Celery signal around
  every task (which may run eagerly inside a request) and an autouse fixture in the tests.

Related managers (`share.sources`, `source.runs`, prefetch_related) use the default manager's
class, so they are scoped too and must be evaluated while the scope is active (template
rendering included: views render inside the request's scope). Forward foreign keys
(`record.source`) and saves use the base manager, which is not scoped.
"""

from contextvars import ContextVar
from types import MappingProxyType

import django_scopes.state
from django.db import models
from django_scopes import ScopedManager, ScopeError, scope, scopes_disabled
from django_scopes.manager import DisabledQuerySet

__all__ = [
    "ScopeError",
    "enter_patient",
    "patient_scope",
    "patient_scoped_manager",
    "scopes_disabled",
]

DIMENSION = "patient"

# Outside requests scopes are disabled, in every thread: a new thread starts with an empty
# context, so a value set at start-up would hold in the main thread only. django-scopes reads
# its state variable at each call, so its default is the place to say it (read-only: django-scopes
# copies the state before changing it, and so does enter_patient).
django_scopes.state.state = ContextVar("state", default=MappingProxyType({"_enabled": False}))
state = django_scopes.state.state


class _Refused(DisabledQuerySet):
    """django-scopes' refusal, for the evaluations it lets through too: `exists()` (a yes/no
    about someone's data), `explain()`, `in_bulk()`, `contains()`, `bulk_update()`."""

    exists = DisabledQuerySet.error
    explain = DisabledQuerySet.error
    in_bulk = DisabledQuerySet.error
    contains = DisabledQuerySet.error
    bulk_update = DisabledQuerySet.error


def patient_scoped_manager(lookup: str, manager_class=models.Manager):
    """A default manager filtered on `lookup` (the path from the model to the patient, e.g.
    "source__patient") by the active scope."""
    scoped = type(ScopedManager(_manager_class=manager_class, **{DIMENSION: lookup}))

    class PatientScopedManager(scoped):
        def get_queryset(self):
            queryset = super().get_queryset()
            if type(queryset) is DisabledQuerySet:
                return _Refused(self.model, using=self._db, missing_scopes=queryset.missing_scopes)
            return queryset

    return PatientScopedManager()


def _checked(patient_id) -> int:
    # django-scopes reads a None value as "no filter on this dimension": every patient's rows.
    if patient_id is None:
        raise ValueError("A patient scope needs a patient.")
    return patient_id


def patient_scope(patient_id: int | None):
    """A block in which queries see `patient_id`'s rows only; with None, a block in which any
    query of a patient's data raises (nobody's data is in reach)."""
    if patient_id is None:
        return scope()
    return scope(**{DIMENSION: patient_id})


def enter_patient(patient_id: int) -> None:
    """Narrow the enclosing scope (the request's) to `patient_id` until that scope ends.

    For a view that learns whose data it reads only part-way (a share link resolved from its
    token): the rest of the view, its template rendering included, reads that patient's rows
    and no one else's. The request's `scope()` block restores the previous state on its way out.
    """
    current = state.get()
    if current is None or not current.get("_enabled", True):
        raise RuntimeError("enter_patient is for a request's enabled scope.")
    state.set({**current, "_enabled": True, DIMENSION: _checked(patient_id)})


# A Celery task is code outside a request, even when it runs eagerly inside one: scopes are
# disabled for its body and restored after it (per task id: prerun and postrun come in pairs
# on the thread that runs the task).
_before_task: dict[str, dict | None] = {}


def task_started(task_id=None, **_kwargs) -> None:
    _before_task[task_id] = state.get()
    state.set({"_enabled": False})


def task_finished(task_id=None, **_kwargs) -> None:
    state.set(_before_task.pop(task_id, None))

from celery.signals import task_postrun, task_prerun
from django.apps import AppConfig

from core import scopes


class CoreConfig(AppConfig):
    """The base layer: code every app may use and that uses no app (fields, env, mail, the
    actor). Installed so that its Celery tasks are discovered; it has no models."""

    name = "core"
    verbose_name = "PHR base"

    def ready(self):
        # Each request enables its own scope (sharing.middleware); a task disables them around
        # its body, even when it runs eagerly inside a request.
        task_prerun.connect(scopes.task_started, weak=False)
        task_postrun.connect(scopes.task_finished, weak=False)

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The base layer: code every app may use and that uses no app (fields, env, mail, the
    actor). Installed so that its Celery tasks are discovered; it has no models."""

    name = "core"
    verbose_name = "PHR base"

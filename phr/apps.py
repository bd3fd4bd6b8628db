from django.apps import AppConfig


class PhrConfig(AppConfig):
    name = "phr"
    verbose_name = "PHR"

    def ready(self):
        from phr.celery import ensure_broker_folders

        ensure_broker_folders()

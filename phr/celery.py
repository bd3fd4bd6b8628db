"""The Celery application, configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phr.settings")

app = Celery("phr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """VAR_DIR (beat's schedule file, in every mode), and the embedded default's filesystem
    broker and file result backend folders."""
    from django.conf import settings

    # With DATABASE_URL and REDIS_URL set nothing else creates var/ in a fresh clone, and beat
    # died on its schedule file (taking `make run`'s web and worker down with it).
    os.makedirs(settings.VAR_DIR, exist_ok=True)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        os.makedirs(settings.CELERY_RESULT_BACKEND.removeprefix("file://"), exist_ok=True)

"""Liveness of the services the app depends on, for /healthz."""

import logging
import os

from django.conf import settings
from django.db import connection
from kombu import Connection

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:  # any failure means "down"; the type is logged, not hidden
        logger.warning("healthz: database check failed: %s", type(exc).__name__)
        return False


def broker_ok() -> bool:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return os.path.isdir(folder) and os.access(folder, os.W_OK)
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.connect()
            return True
    except Exception as exc:
        logger.warning("healthz: broker check failed: %s", type(exc).__name__)
        return False

from django.conf import settings
from django.db import models

from core.scopes import patient_scoped_manager


class LastLooked(models.Model):
    """When a patient last marked "what changed" as seen: the dashboard's digest lists what
    arrived after it. One row per patient, written only by records.explain.summaries."""

    patient = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    looked_at = models.DateTimeField()

    # The runtime guard (core.scopes): filtered to the active scope's patient; raises if none.
    objects = patient_scoped_manager("patient")

    def __str__(self):
        return f"last looked {self.looked_at:%Y-%m-%d %H:%M}"

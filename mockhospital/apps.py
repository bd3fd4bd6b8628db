from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class MockHospitalConfig(AppConfig):
    name = "mockhospital"
    verbose_name = _("Mock hospitals")

    def ready(self):
        if settings.PHR_MOCK_HOSPITALS:
            from django.core.servers.basehttp import WSGIRequestHandler

            # The development and test live servers (wsgiref) send headers and body as two
            # writes; with Nagle's algorithm on, the body waits for the client's delayed ACK,
            # ~40 ms per FHIR page. gunicorn sets TCP_NODELAY itself; these servers need asking.
            WSGIRequestHandler.disable_nagle_algorithm = True

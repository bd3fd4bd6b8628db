from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MockHospitalConfig(AppConfig):
    name = "mockhospital"
    verbose_name = _("Mock hospitals")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "tiercare.patients"
    label = "patients"
    verbose_name = _("Patients")

    def ready(self) -> None:
        # A resident's record is never deleted (patients.receivers).
        from tiercare.patients import receivers  # noqa: F401

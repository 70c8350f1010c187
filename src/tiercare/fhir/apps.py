from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirConfig(AppConfig):
    name = "tiercare.fhir"
    label = "fhir"
    verbose_name = _("FHIR interface")

    def ready(self) -> None:
        # Every mapper registers itself with the registry when imported.
        from tiercare.fhir import mappers  # noqa: F401

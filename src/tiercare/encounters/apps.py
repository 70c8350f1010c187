from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EncountersConfig(AppConfig):
    name = "tiercare.encounters"
    label = "encounters"
    verbose_name = _("Encounters")

    def ready(self) -> None:
        # Merge/unmerge of resident records re-points encounters and settlements.
        from tiercare.encounters import receivers  # noqa: F401

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChronicConfig(AppConfig):
    name = "tiercare.chronic"
    label = "chronic"
    verbose_name = _("Family doctors and chronic care")

    def ready(self) -> None:
        from tiercare.chronic import receivers  # noqa: F401  (connects the signal receivers)

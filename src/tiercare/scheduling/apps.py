from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "tiercare.scheduling"
    label = "scheduling"
    verbose_name = _("Scheduling")

    def ready(self) -> None:
        # Bookings and beds follow a resident's records when they are merged.
        from tiercare.scheduling import receivers  # noqa: F401

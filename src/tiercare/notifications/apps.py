from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "tiercare.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Every referral step leaves its notices in the inboxes it concerns.
        from tiercare.notifications import receivers  # noqa: F401

"""URL map: the web UI, the admin back-office, the JSON API and the FHIR interface."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from tiercare.api import api
from tiercare.fhir import views as fhir_views

urlpatterns = [
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/", api.urls),
    # FHIR clients post batch and transaction Bundles to the base address itself
    path("fhir", fhir_views.system_level, name="fhir-base"),
    path("fhir/", include("tiercare.fhir.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("tiercare.accounts.urls")),
    path("referrals/", include("tiercare.referrals.urls")),
    path("schedules/", include("tiercare.scheduling.urls")),
    path("family-doctors/", include("tiercare.chronic.urls")),
    path("inbox/", include("tiercare.notifications.urls")),
    path("indicators/", include("tiercare.indicators.urls_reports")),
    path("indicators/", include("tiercare.indicators.urls")),
    path("indicators/", include("tiercare.indicators.urls_dashboards")),
    path("", include("tiercare.web.urls")),
]

handler400 = "tiercare.web.views.errors.bad_request"
handler403 = "tiercare.web.views.errors.permission_denied"
handler404 = "tiercare.web.views.errors.page_not_found"
handler500 = "tiercare.web.views.errors.server_error"

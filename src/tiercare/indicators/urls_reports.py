"""Pages of the supervision reports (issue 5 items 4 and 6), under ``/indicators/``:
out-of-county analysis, cost structure, data quality, the quarterly report and its PDF."""

from django.urls import path

from tiercare.indicators import report_views

app_name = "indicator_reports"

urlpatterns = [
    path("reports/out-of-county/", report_views.out_of_county, name="out_of_county"),
    path("reports/cost-structure/", report_views.cost_structure, name="cost_structure"),
    path("reports/data-quality/", report_views.data_quality, name="data_quality"),
    path("reports/quarterly/", report_views.quarterly, name="quarterly"),
    path("reports/quarterly.pdf", report_views.quarterly_pdf, name="quarterly_pdf"),
]

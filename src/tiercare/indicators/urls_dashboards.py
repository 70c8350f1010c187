"""The indicator dashboards (issue 5 item 4), under ``/indicators/`` beside the tightness
evaluation's pages (``indicators/urls.py``); namespace ``dashboards``."""

from django.urls import path

from tiercare.indicators import views_dashboards as views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("xlsx/", views.overview_xlsx, name="overview_xlsx"),
    path("aspects/<slug:aspect_id>/", views.aspect, name="aspect"),
    path("aspects/<slug:aspect_id>/xlsx/", views.aspect_xlsx, name="aspect_xlsx"),
    path("ranking/", views.ranking, name="ranking"),
    path("ranking/xlsx/", views.ranking_xlsx, name="ranking_xlsx"),
    path("flows/", views.flows, name="flows"),
    path("flows/xlsx/", views.flows_xlsx, name="flows_xlsx"),
    path("records/<slug:indicator_id>/", views.drill, name="drill"),
]

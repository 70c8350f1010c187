"""Pages of the indicators app: the tightness evaluation (issue 5 item 5)."""

from django.urls import path

from tiercare.indicators import views

app_name = "indicators"

urlpatterns = [
    path("tightness/", views.tightness_list, name="tightness_list"),
    path("tightness/new/", views.tightness_start, name="tightness_start"),
    path("tightness/<int:pk>/", views.tightness_detail, name="tightness_detail"),
    path("tightness/<int:pk>/verdict/", views.tightness_verdict, name="tightness_verdict"),
    path("tightness/<int:pk>/grade/<slug:criterion>/", views.tightness_grade,
         name="tightness_grade"),
    path("tightness/<int:pk>/evidence/<int:evidence_pk>/", views.tightness_evidence,
         name="tightness_evidence"),
    path("tightness/<int:pk>/<slug:step>/", views.tightness_step, name="tightness_step"),
]

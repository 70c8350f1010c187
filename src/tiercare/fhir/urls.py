"""``/fhir`` addresses (FHIR RESTful API, §3.1.0)."""

from django.urls import path, re_path

from tiercare.fhir import views

urlpatterns = [
    path("", views.system_level, name="fhir-system"),
    path("metadata", views.metadata, name="fhir-metadata"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/_search$", views.search_post, name="fhir-search"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$",
            views.instance, name="fhir-instance"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)$", views.type_level, name="fhir-type"),
]

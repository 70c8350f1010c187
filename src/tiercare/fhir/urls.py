"""``/fhir`` addresses (FHIR RESTful API, §3.1.0; Bulk Data Access IG v2 for ``$export``)."""

from django.urls import path, re_path

from tiercare.fhir import export_views, views

urlpatterns = [
    path("", views.system_level, name="fhir-system"),
    path("metadata", views.metadata, name="fhir-metadata"),
    # Bulk Data $export, before the generic patterns below
    path("$export", export_views.export_system, name="fhir-export"),
    re_path(r"^Group/(?P<group_id>[A-Za-z0-9\-.]{1,64})/\$export$", export_views.export_group,
            name="fhir-export-group"),
    path("$export-status/<uuid:job_id>", export_views.export_status,
         name="fhir-export-status"),
    path("$export-file/<uuid:job_id>/<str:name>", export_views.export_file,
         name="fhir-export-file"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/_search$", views.search_post, name="fhir-search"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$",
            views.instance, name="fhir-instance"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)$", views.type_level, name="fhir-type"),
]

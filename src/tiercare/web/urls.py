from django.urls import path

from tiercare.web.views import alliances, audit, residents, systems
from tiercare.web.views.home import home

app_name = "web"

urlpatterns = [
    path("", home, name="home"),
    path("residents/", residents.resident_search, name="resident_search"),
    path("residents/<int:pk>/", residents.resident_record, name="resident_record"),
    path("residents/<int:pk>/timeline/", residents.resident_timeline, name="resident_timeline"),
    path("alliances/", alliances.alliance_overview, name="alliance_overview"),
    path("alliances/<str:code>/", alliances.alliance_detail, name="alliance_detail"),
    path("institutions/", alliances.institution_list, name="institution_list"),
    path("institutions/<str:code>/", alliances.institution_detail, name="institution_detail"),
    path("grid/", alliances.grid_coverage, name="grid_coverage"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("systems/", systems.system_list, name="system_list"),
    path("systems/<int:pk>/", systems.system_detail, name="system_detail"),
]

from django.urls import path

from tiercare.chronic import views, views_contracts

app_name = "chronic"

urlpatterns = [
    path("", views.home, name="home"),
    path("queue/", views.queue, name="queue"),
    path("registry/", views.registrations, name="registrations"),
    path("registry/enrol/", views.enrol, name="enrol"),
    path("registry/<int:pk>/", views.registration_detail, name="registration"),
    path("registry/<int:pk>/close/", views.close_registration, name="close_registration"),
    path("registry/<int:pk>/follow-up/", views.follow_up_new, name="follow_up_new"),
    path("follow-ups/<int:pk>/", views.follow_up_detail, name="follow_up"),
    path("follow-ups/<int:pk>/refer/", views.follow_up_refer, name="follow_up_refer"),
    path("elderly-check/", views.elderly_check, name="elderly_check"),
    path("screening/", views.screening, name="screening"),
    path("teams/", views_contracts.teams, name="teams"),
    path("teams/<int:pk>/", views_contracts.team_detail, name="team"),
    path("contracts/", views_contracts.contracts, name="contracts"),
    path("contracts/new/", views_contracts.contract_new, name="contract_new"),
    path("contracts/<int:pk>/", views_contracts.contract_detail, name="contract"),
    path("contracts/<int:pk>/<slug:step>/", views_contracts.contract_step,
         name="contract_step"),
]

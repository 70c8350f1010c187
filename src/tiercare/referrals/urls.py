from django.urls import path

from tiercare.referrals import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_home, name="home"),
    path("outgoing/", views.outgoing, name="outgoing"),
    path("incoming/", views.incoming, name="incoming"),
    path("follow-ups/", views.follow_ups, name="follow_ups"),
    path("follow-ups/<int:pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("office/", views.office, name="office"),
    path("new/", views.new_referral, name="new"),
    path("new/residents/", views.lookup_residents, name="lookup_residents"),
    path("new/diagnoses/", views.lookup_diagnoses, name="lookup_diagnoses"),
    path("new/capacity/", views.lookup_capacity, name="lookup_capacity"),
    path("<int:pk>/", views.referral_detail, name="detail"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.attachment, name="attachment"),
    path("<int:pk>/<slug:step>/", views.referral_step, name="step"),
]

from django.urls import path

from tiercare.web.views.home import home

app_name = "web"

urlpatterns = [
    path("", home, name="home"),
]

from django.contrib.auth.decorators import login_required
from django.urls import path

from tiercare.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", login_required(views.PasswordChangeView.as_view()), name="password_change"),
]

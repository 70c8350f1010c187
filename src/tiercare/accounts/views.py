"""Login, logout and password change pages (thin: the forms check, services change state)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from tiercare.accounts import services
from tiercare.accounts.forms import LoginForm, StyledPasswordChangeForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Logout by POST (Django 5 refuses GET logouts, which CSRF could abuse)."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = StyledPasswordChangeForm
    success_url = reverse_lazy("web:home")

    def form_valid(self, form: StyledPasswordChangeForm) -> HttpResponse:
        try:
            services.change_password(form.user, form.cleaned_data["new_password1"],
                                     request=self.request)
        except ValidationError as error:
            for message in error.messages:
                form.add_error("new_password1", message)
            return self.form_invalid(form)
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, _("Your password has been changed."))
        return HttpResponseRedirect(str(self.success_url))

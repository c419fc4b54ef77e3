"""URL routes of the project."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from playground import health

urlpatterns = [
    path("admin/", admin.site.urls),
    # Only sign-in, sign-out and changing one's password: no e-mail password reset, since
    # staff create and reset accounts in the admin.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/", include("generations.accounts.urls")),
    path("api/v3/", include("generations.gateway.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("moderation/", include("generations.moderation.urls")),
    path("", include("generations.urls")),
]

"""Server-rendered pages."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from allocation.web import pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("sites/", pages.site_list, name="site-list"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

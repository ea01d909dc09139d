"""A URLconf that serves refreshkit's endpoints under ``auth/`` (for the system checks)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("auth/", include("refreshkit.adapters.django.urls"))]

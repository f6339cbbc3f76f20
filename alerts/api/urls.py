from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from alerts.api import views
from alerts.wsticket import TicketView

router = DefaultRouter()
router.register("cameras", views.CameraViewSet, basename="camera")
router.register("alerts", views.AlertViewSet, basename="alert")

app_name = "api"
urlpatterns = [
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("ws-ticket/", TicketView.as_view(), name="ws-ticket"),
    path("", include(router.urls)),
]

from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("cameras/<int:camera_id>/snapshot.jpg", views.camera_snapshot, name="camera_snapshot"),
    path("alerts/<int:alert_id>/track.json", views.alert_track, name="alert_track"),
]

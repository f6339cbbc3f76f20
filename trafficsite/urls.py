from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views

admin.site.site_header = "Traffic safety"
admin.site.site_title = "Traffic safety"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="alerts:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("media/<path:path>", core_views.protected_media, name="media"),
    # The operators' dashboard (staff login), the REST API, its OpenAPI schema and docs (operators only).
    path("dashboard/", include("alerts.urls")),
    path("api/v1/", include("alerts.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI on the schema, its scripts served from our static files (drf-spectacular-sidecar, no
    # CDN). A browser without a staff session is sent to the login page rather than answered 403.
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    # django-prometheus's metrics, for a bearer token or a staff login (core/access.py).
    path("metrics", core_views.metrics, name="prometheus-django-metrics"),
]

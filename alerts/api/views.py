"""API views: thin over the models (reviews go through ``AlertQuerySet.review``, as in the admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from django.db.models import ProtectedError, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from alerts import bundle
from alerts.api.filters import AlertFilter
from alerts.api.permissions import CameraPermission, CanReviewAlerts
from alerts.api.serializers import (
    AlertSerializer,
    BulkReviewResultSerializer,
    BulkReviewSerializer,
    CameraLiveSerializer,
    CameraSerializer,
    ReviewSerializer,
    StatsSerializer,
)
from alerts.live import live_stats
from alerts.models import Alert
from alerts.stats import alert_stats
from cameras.models import Camera

_Row = TypeVar("_Row")  # the row type of a queryset (DRF's stubs make filter_queryset generic in it)


def _ints(request: Request, name: str) -> list[int]:
    """``?ids=1&ids=2`` or ``?ids=1,2``."""
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValidationError({name: "Expected integers, e.g. 1 or 1,2."}) from None


@extend_schema(tags=["cameras"])
class CameraViewSet(viewsets.ModelViewSet[Camera]):
    """Cameras. Operators read; adding, changing and deleting need the camera permissions."""

    queryset = Camera.objects.all()
    serializer_class = CameraSerializer
    permission_classes = [CameraPermission]
    lookup_value_regex = r"\d+"

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError:
            return Response(
                {"detail": "This camera has alerts, which are kept: disable the camera instead."},
                status=status.HTTP_409_CONFLICT,
            )

    @extend_schema(responses=CameraLiveSerializer(many=True))
    @action(detail=False, url_path="status", pagination_class=None)
    def statuses(self, request: Request) -> Response:
        """Every camera's stream health and live counters (fps, tracked road users)."""
        cameras = list(Camera.objects.all())
        live = live_stats([c.pk for c in cameras])
        return Response(CameraLiveSerializer(cameras, many=True, context={"live": live}).data)

    @extend_schema(responses=CameraLiveSerializer)
    @action(detail=True, url_path="status")
    def camera_status(self, request: Request, pk: str | None = None) -> Response:
        """One camera's stream health and live counters."""
        camera = self.get_object()
        return Response(CameraLiveSerializer(camera, context={"live": live_stats([camera.pk])}).data)


@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Alert]):
    """Alerts, newest first, and their review."""

    serializer_class = AlertSerializer
    lookup_value_regex = r"\d+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = AlertFilter

    def get_queryset(self) -> QuerySet[Alert]:
        return Alert.objects.select_related("camera", "reviewed_by").order_by("-detected_at", "-id")

    def filter_queryset(self, queryset: QuerySet[Alert, _Row]) -> QuerySet[Alert, _Row]:
        # The filters choose what a list shows; a detail URL or a review names its alert by id alone.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "review":
            return ReviewSerializer
        if self.action == "review_many":
            return BulkReviewSerializer
        return AlertSerializer

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def bundle(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """The alert's evidence bundle: a signed ZIP (clip, images, measurements, verdict, reviews)."""
        return bundle.streaming_response([self.get_object().pk], request.user.get_username())

    @extend_schema(
        parameters=[
            OpenApiParameter("ids", OpenApiTypes.STR, required=True, description="Alert ids: 1,2,3 (up to 500).")
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        operation_id="alerts_bundle_many",
    )
    @action(detail=False, methods=["get"], url_path="bundle")
    def bundle_many(self, request: Request) -> StreamingHttpResponse:
        """The evidence of several alerts in one signed ZIP, streamed as it is made."""
        ids = sorted(set(_ints(request, "ids")))
        if not 1 <= len(ids) <= 500:
            raise ValidationError({"ids": "Give 1 to 500 alert ids, e.g. ?ids=1,2,3."})
        missing = sorted(set(ids) - set(Alert.objects.filter(pk__in=ids).values_list("pk", flat=True)))
        if missing:
            raise ValidationError({"ids": f"No such alert(s): {', '.join(map(str, missing))}."})
        return bundle.streaming_response(ids, request.user.get_username())

    @extend_schema(request=ReviewSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanReviewAlerts])
    def review(self, request: Request, pk: str | None = None) -> Response:
        """Set the review status (and optionally a note); every open dashboard shows it at once."""
        alert = self.get_object()
        form = ReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        Alert.objects.filter(pk=alert.pk).review(
            form.validated_data["status"], request.user, form.validated_data["note"]
        )
        alert = self.get_queryset().get(pk=alert.pk)
        return Response(AlertSerializer(alert).data)

    @extend_schema(
        request=BulkReviewSerializer, responses=BulkReviewResultSerializer, operation_id="alerts_review_many"
    )
    @action(detail=False, methods=["post"], url_path="review", permission_classes=[CanReviewAlerts])
    def review_many(self, request: Request) -> Response:
        """Review several alerts at once (e.g. acknowledge everything shown)."""
        form = BulkReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        updated = Alert.objects.filter(pk__in=data["ids"]).review(data["status"], request.user, data["note"])
        return Response({"updated": updated})


@extend_schema(tags=["statistics"])
class StatsView(APIView):
    """Counts by severity and review status, and false-positive rates per camera, rule and pair."""

    @extend_schema(
        parameters=[
            OpenApiParameter("days", OpenApiTypes.INT, description="Alerts of the last N days (default 30; 0: all).")
        ],
        responses=StatsSerializer,
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("days", "30")
        try:
            days = int(raw)
            if not 0 <= days <= 3650:
                raise ValueError
        except ValueError:
            raise ValidationError({"days": "Expected a whole number of days from 0 to 3650."}) from None
        since = timezone.now() - timedelta(days=days) if days else None
        return Response(StatsSerializer(alert_stats(since)).data)

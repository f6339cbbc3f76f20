"""The ``/ws/alerts/`` websocket: live alerts, reviews and camera health for dashboards and API clients.

Protocol (JSON text frames; docs/alerts.md has examples):

- server -> client: ``hello``; ``snapshot`` (the last N alerts matching the filters, every camera's
  status and live counters) after connecting and after each ``subscribe``; ``alert.created``;
  ``alert.updated`` (reviews); ``camera.status``; ``heartbeat`` every ALERTS_WS_HEARTBEAT_S with the
  cameras' live counters; ``pong``; ``error``.
- client -> server: ``{"type": "subscribe", "cameras": [1, 2], "min_severity": 3, "limit": 50}``
  (also accepted on the URL: ``?camera=1,2&min_severity=3&limit=50``); ``{"type": "ping"}``.

Only operators (staff users) connect: by session cookie, or by API token (alerts/wsauth.py).
ORM work sits in the small ``database_sync_to_async`` helpers (``@db``) at the bottom; the group handlers
only filter by severity and forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from alerts import latency, live
from alerts.api.permissions import is_operator
from alerts.asyncdb import db
from alerts.models import Alert
from alerts.wsaccess import Credential, credential_from_scope, still_allowed
from cameras.models import Camera

logger = logging.getLogger(__name__)

# Channels forgets a group member after its group_expiry (a day by default): a dashboard left open
# for days re-joins its groups this often.
REJOIN_EVERY_S = 600.0
CAMERA_LIST_EVERY_S = 60.0
MAX_BACKLOG = 500
# Close codes: the user may no longer see alerts (logged out, deactivated, token deleted); the
# socket reached ALERTS_WS_MAX_LIFETIME_S.
CLOSE_FORBIDDEN = 4403
CLOSE_LIFETIME = 4408


class BadFilters(ValueError):
    pass


# A subscription names at most this many cameras, each a database id (a bigint).
MAX_CAMERAS = 200
MAX_ID = 2**63 - 1


def _whole(value: Any) -> int:
    """An integer from a JSON number or a string of digits: no booleans, fractions, NaN or infinities."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    if isinstance(value, str) and len(value) > 20:
        raise ValueError("too long")
    return int(value)  # OverflowError for infinities, ValueError for NaN and non-numbers


@dataclass(frozen=True)
class Filters:
    cameras: tuple[int, ...] = ()  # empty: every camera
    min_severity: int = 1
    limit: int = 50

    @classmethod
    def parse(cls, cameras: Any, min_severity: Any, limit: Any) -> Filters:
        try:
            if isinstance(cameras, str):
                cameras = [c for c in cameras.split(",") if c.strip()]
            if cameras is not None and not isinstance(cameras, list):
                raise TypeError("cameras is not a list")
            if len(cameras or []) > MAX_CAMERAS:
                raise BadFilters(f"at most {MAX_CAMERAS} cameras per subscription")
            camera_ids = tuple(sorted({_whole(c) for c in (cameras or [])}))
            severity = _whole(min_severity) if min_severity not in (None, "") else 1
            backlog = _whole(limit) if limit not in (None, "") else settings.ALERTS_WS_BACKLOG
        except (TypeError, ValueError, OverflowError):
            raise BadFilters("cameras must be ids, min_severity and limit integers") from None
        if not all(1 <= c <= MAX_ID for c in camera_ids):
            raise BadFilters("camera ids are positive database ids")
        if not 1 <= severity <= 4:
            raise BadFilters("min_severity must be 1 (low) to 4 (critical)")
        if not 0 <= backlog <= MAX_BACKLOG:
            raise BadFilters(f"limit must be 0 to {MAX_BACKLOG}")
        return cls(camera_ids, severity, backlog)

    @classmethod
    def from_query(cls, query_string: bytes) -> Filters:
        query = parse_qs(query_string.decode("latin1"))
        cameras = ",".join(query.get("camera", []) + query.get("cameras", []))
        return cls.parse(cameras, query.get("min_severity", [None])[0], query.get("limit", [None])[0])

    def groups(self) -> list[str]:
        return [live.camera_group(c) for c in self.cameras] if self.cameras else [live.ALL_ALERTS]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "cameras": list(self.cameras)}


class AlertsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    filters: Filters
    joined: list[str]
    camera_ids: list[int]
    credential: Credential
    connected_at: float
    heartbeat: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not is_operator(user):
            await self.close(code=4403)  # before accept(): the handshake is refused with HTTP 403
            return
        self.joined = []
        self.camera_ids = []
        self.credential = credential_from_scope(self.scope)
        self.connected_at = time.monotonic()
        error = None
        try:
            filters = Filters.from_query(self.scope.get("query_string", b""))
        except BadFilters as exc:
            filters, error = Filters(limit=settings.ALERTS_WS_BACKLOG), str(exc)
        await self.accept()
        await self.channel_layer.group_add(live.CAMERAS, self.channel_name)
        await self.send_json(
            {"type": "hello", "user": user.get_username(), "heartbeat_s": settings.ALERTS_WS_HEARTBEAT_S}
        )
        if error:
            await self.send_json({"type": "error", "error": error})
        await self.subscribe(filters)
        self.heartbeat = asyncio.create_task(self.beat())

    async def disconnect(self, code: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
        for group in [live.CAMERAS, *getattr(self, "joined", [])]:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def subscribe(self, filters: Filters) -> None:
        """Move to the groups of ``filters``, then send what matches them now."""
        self.filters = filters
        wanted = filters.groups()
        for group in set(self.joined) - set(wanted):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in wanted:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = wanted
        alerts = await recent_alerts(filters)
        cameras = await camera_states()
        self.camera_ids = [c["id"] for c in cameras if c["enabled"]]
        stats = await live_counters(self.camera_ids)
        await self.send_json(
            {"type": "snapshot", "filters": filters.as_json(), "alerts": alerts, "cameras": cameras, "live": stats,
             "alert_delay": await alert_delay()}
        )  # fmt: skip

    async def beat(self) -> None:
        period = settings.ALERTS_WS_HEARTBEAT_S
        rejoin_at = camera_list_at = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - self.connected_at >= settings.ALERTS_WS_MAX_LIFETIME_S:
                await self.close(code=CLOSE_LIFETIME)  # the dashboard reconnects, logging in afresh
                return
            try:
                if not await still_allowed(self.credential):
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
                if now - camera_list_at >= CAMERA_LIST_EVERY_S:
                    camera_list_at = now
                    self.camera_ids = await enabled_camera_ids()
                if now - rejoin_at >= REJOIN_EVERY_S:
                    rejoin_at = now
                    for group in [live.CAMERAS, *self.joined]:
                        await self.channel_layer.group_add(group, self.channel_name)
                stats = await live_counters(self.camera_ids)
                await self.send_json(
                    {"type": "heartbeat", "time": time.time(), "live": stats, "alert_delay": await alert_delay()}
                )
            except Exception:  # the database or Redis blinked: the next beat tries again
                logger.warning("websocket heartbeat failed", exc_info=True)

    # -- from the client ------------------------------------------------------------------------
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "time": time.time()})
        elif kind == "subscribe":
            try:
                filters = Filters.parse(content.get("cameras"), content.get("min_severity"), content.get("limit"))
            except BadFilters as exc:
                await self.send_json({"type": "error", "error": str(exc)})
                return
            await self.subscribe(filters)
        else:
            await self.send_json({"type": "error", "error": 'expected {"type": "subscribe" | "ping", ...}'})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None:  # a binary frame: answered, not a crash of the consumer
            await self.send_json({"type": "error", "error": "only JSON text frames are understood"})
            return
        await super().receive(text_data=text_data, **kwargs)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None  # answered with an error by receive_json, instead of closing the socket

    # -- from the channel layer (alerts/live.py): forward --------------------------------------
    async def alert_created(self, event: dict[str, Any]) -> None:
        if event["alert"]["severity"] >= self.filters.min_severity:
            await self.send_json({"type": "alert.created", "alert": event["alert"]})

    async def alert_updated(self, event: dict[str, Any]) -> None:
        alerts = [a for a in event["alerts"] if a["severity"] >= self.filters.min_severity]
        if alerts:
            await self.send_json({"type": "alert.updated", "alerts": alerts})

    async def camera_status(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "camera.status", "camera": event["camera"]})


@db
def recent_alerts(filters: Filters) -> list[dict[str, Any]]:
    alerts = Alert.objects.select_related("camera", "reviewed_by").filter(severity__gte=filters.min_severity)
    if filters.cameras:
        alerts = alerts.filter(camera_id__in=filters.cameras)
    return live.alert_data(list(alerts.order_by("-detected_at", "-id")[: filters.limit]))


@db
def camera_states() -> list[dict[str, Any]]:
    return live.camera_data(list(Camera.objects.all()))


@db
def enabled_camera_ids() -> list[int]:
    return list(Camera.objects.filter(enabled=True).values_list("pk", flat=True))


async def live_counters(camera_ids: list[int]) -> dict[str, dict[str, Any]]:
    try:
        stats = await sync_to_async(live.live_stats, thread_sensitive=False)(camera_ids)
    except Exception:  # Redis hiccup: the heartbeat still goes out, without numbers
        logger.warning("could not read live camera counters", exc_info=True)
        return {}
    return {str(pk): value for pk, value in stats.items()}


async def alert_delay() -> dict[str, Any]:
    """p95 of the last hour's alert delays (capture of the frame to the push), for the header."""
    try:
        return await sync_to_async(latency.p95_last_hour, thread_sensitive=False)()
    except Exception:  # Redis hiccup: the header keeps its last value
        logger.warning("could not read the alert delays", exc_info=True)
        return {}

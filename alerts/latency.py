"""How late is an alert: from the capture time of the frame that triggered it to its push to dashboards.

Measured where the push happens (the alerts worker, :func:`alerts.live.broadcast_created`), into two
places: the Prometheus histogram ``trafficsite_alert_delay_seconds`` (event type, verified or not:
Grafana's panel and alerting), and a Redis sorted set of the last hour's delays, from which the web
process computes the p95 shown in the dashboard's header (the web process cannot read the workers'
histograms, and one hour of alerts is a small set).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import cast

from prometheus_client import Histogram

from alerts.models import Alert
from cameras.config import EVENT_TYPES
from core.redisclient import get_redis, key

DELAY_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
ALERT_DELAY = Histogram(
    "trafficsite_alert_delay_seconds",
    "From the capture of the frame that triggered an alert to its push to the dashboards",
    ["event_type", "verified"],
    buckets=DELAY_BUCKETS,
)
WINDOW_S = 3600.0
_VERIFIED = {Alert.Verification.CONFIRMED, Alert.Verification.REJECTED}


def recent_key() -> str:
    return key("alerts", "delays")


def record(alert: Alert, pushed_at: float | None = None) -> float:
    """Observe the delay of an alert that was just pushed; returns it in seconds."""
    now = time.time() if pushed_at is None else pushed_at
    delay = max(0.0, now - _timestamp(alert.detected_at))
    event_type = alert.event_type if alert.event_type in EVENT_TYPES else "other"
    verified = "true" if alert.verification in _VERIFIED else "false"
    ALERT_DELAY.labels(event_type, verified).observe(delay)
    pipe = get_redis().pipeline()
    pipe.zadd(recent_key(), {f"{alert.pk}:{delay:.3f}": now})
    pipe.zremrangebyscore(recent_key(), "-inf", now - WINDOW_S)
    pipe.expire(recent_key(), int(WINDOW_S) * 2)
    pipe.execute()
    return delay


def p95_last_hour(now: float | None = None) -> dict[str, float | int | None]:
    """``{"p95_s": ..., "count": ...}`` over the alerts pushed in the last hour (p95_s None: none)."""
    now = time.time() if now is None else now
    members = cast(list[bytes], get_redis().zrangebyscore(recent_key(), now - WINDOW_S, "+inf"))
    delays = sorted(float(member.decode().rsplit(":", 1)[1]) for member in members)
    if not delays:
        return {"p95_s": None, "count": 0}
    # Nearest-rank percentile: the smallest delay that 95 % of the alerts did not exceed.
    rank = max(1, math.ceil(0.95 * len(delays)))
    return {"p95_s": round(delays[rank - 1], 2), "count": len(delays)}


def _timestamp(value: datetime) -> float:
    return value.timestamp()

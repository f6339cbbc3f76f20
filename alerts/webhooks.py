"""Webhook delivery: a signed POST per alert and destination, with the outcome kept on the destination.

Signature (Stripe's scheme): ``X-Trafficsite-Timestamp: <unix seconds>`` and
``X-Trafficsite-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``. The timestamp is
inside the signed text, so a captured request cannot be replayed later than the receiver's
tolerance; ``X-Trafficsite-Delivery`` is the same for every retry of one alert to one destination,
so a receiver can drop a duplicate (a retry after a lost answer).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import NoReturn
from urllib.parse import urlsplit

import requests
from django.conf import settings

from alerts.models import Alert, WebhookDestination
from alerts.notifications import ALERT_CREATED, TransportError, message
from alerts.webhook_guard import MAX_RESPONSE_BYTES, check_url
from core.netguard import AddressRefused, Unresolvable
from core.redact import redact_text

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Trafficsite-Signature"
TIMESTAMP_HEADER = "X-Trafficsite-Timestamp"
EVENT_HEADER = "X-Trafficsite-Event"
DELIVERY_HEADER = "X-Trafficsite-Delivery"
TEST_EVENT = "test"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, body: bytes, timestamp: str, signature: str, *, tolerance_s: float = 300,
           now: float | None = None) -> bool:  # fmt: skip
    """What a receiver does: the signature matches and the timestamp is recent (no replays)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    expected = sign(secret, sent, body)
    # Several v1= values may come (during a secret rotation); any one matching is enough.
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def public_url(url: str) -> str:
    """Scheme and host only: webhook URLs often carry a token in their path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def deliver(alert_id: int, destination_id: int) -> str:
    """Send one alert to one destination. Returns "sent" or why nothing was sent; raises TransportError."""
    destination = WebhookDestination.objects.filter(pk=destination_id).first()
    if destination is None or not destination.enabled:
        return "destination gone or disabled"
    alert = Alert.objects.select_related("camera", "reviewed_by").filter(pk=alert_id).first()
    if alert is None:
        return "alert gone"
    post(destination, message(ALERT_CREATED, alert), delivery_id=f"alert-{alert.pk}-to-{destination.pk}")
    return "sent"


def post(destination: WebhookDestination, payload: Mapping[str, object], *, delivery_id: str) -> None:
    """One signed POST; records the outcome on the destination."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "trafficsite-webhook/1",
        EVENT_HEADER: str(payload["event"]),
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(destination.secret, timestamp, body),
    }
    timeout = settings.WEBHOOK_TIMEOUT_S
    try:
        check_url(destination.url)  # again at send time: the name may resolve elsewhere by now
    except AddressRefused as exc:  # a name that does not resolve may only be down for a while
        fail(destination, str(exc), permanent=not isinstance(exc, Unresolvable))
    try:
        # Streamed, and at most MAX_RESPONSE_BYTES read: a receiver cannot make the worker hold a big body.
        with requests.post(
            destination.url, data=body, headers=headers, timeout=(min(5.0, timeout), timeout), allow_redirects=False,
            stream=True,
        ) as response:  # fmt: skip
            head = read_head(response)
    except requests.RequestException as exc:
        fail(destination, transport_error(exc, destination.url), permanent=False)
    if 200 <= response.status_code < 300:
        destination.record_success()
        logger.info("webhook %s: delivered %s", destination.name, delivery_id)
        return
    snippet = " ".join(head.decode("utf-8", "replace")[:200].split())
    error = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    # 4xx means the receiver refused this request; retrying it unchanged cannot help (except for
    # time-outs and rate limits). 3xx too: redirects are not followed, so the URL needs fixing.
    permanent = response.status_code < 500 and response.status_code not in (408, 425, 429)
    fail(destination, error, permanent=permanent, retry_after=retry_after(response))


def read_head(response: requests.Response) -> bytes:
    """The first MAX_RESPONSE_BYTES of a streamed answer (iter_content turns read errors into requests')."""
    head = b""
    for chunk in response.iter_content(1024):
        head += chunk
        if len(head) >= MAX_RESPONSE_BYTES:
            break
    return head[:MAX_RESPONSE_BYTES]


def transport_error(exc: requests.RequestException, url: str) -> str:
    """What went wrong, without the URL's path or query: webhook URLs often carry a token there."""
    reason: object = exc
    if exc.args and hasattr(exc.args[0], "reason"):  # urllib3's MaxRetryError wraps the cause
        reason = exc.args[0].reason
    text = redact_text(str(reason))
    parts = urlsplit(url)
    for part in (url, parts.path, parts.query):
        if part and part != "/":
            text = text.replace(part, "…")
    return f"{type(exc).__name__} ({public_url(url)}): {text}"[:500]


def fail(destination: WebhookDestination, error: str, *, permanent: bool, retry_after: float | None = None) -> NoReturn:
    destination.record_failure(error)
    logger.warning("webhook %s: %s (%s)", destination.name, error, "permanent" if permanent else "will retry")
    raise TransportError(error, permanent=permanent, retry_after=retry_after)


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def send_test(destination: WebhookDestination) -> None:
    """A signed test event (the admin's "send a test" action, run as a task); raises TransportError."""
    from django.utils import timezone

    payload = {"event": TEST_EVENT, "sent_at": timezone.now().isoformat(), "destination": destination.name}
    post(destination, payload, delivery_id=f"test-{destination.pk}-{int(time.time())}")

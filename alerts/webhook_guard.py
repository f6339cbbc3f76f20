"""Which webhook URLs may be called: https to public addresses, unless the operator names a host.

Checked when a destination is saved (the admin form) and again right before each POST, after DNS
resolution, so neither a typed internal address nor a name that later resolves to one (DNS
rebinding) makes the alerts worker call into the deployment network. ``WEBHOOK_INTERNAL_HOSTS``
names receivers inside it (``alerts-bridge.internal``): those may resolve to internal addresses
and may use plain http.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from core.netguard import AddressRefused, check_public

# What is read of a receiver's answer: enough for a status line's explanation, no more.
MAX_RESPONSE_BYTES = 4096


def check_url(url: str) -> None:
    """Raise AddressRefused (a message safe to show: host only, never the path) unless ``url`` may be called."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise AddressRefused("The webhook URL has no host.")
    internal_hosts = [h.lower() for h in settings.WEBHOOK_INTERNAL_HOSTS]
    if parts.scheme != "https" and not (parts.scheme == "http" and host in internal_hosts):
        raise AddressRefused(
            f"Webhooks go over https only ({host}); plain http is allowed only for hosts named in "
            "WEBHOOK_INTERNAL_HOSTS."
        )
    try:
        port = parts.port
    except ValueError:
        raise AddressRefused(f"The port of the webhook URL for {host} is not a number.") from None
    check_public(host, port, internal_hosts=internal_hosts)

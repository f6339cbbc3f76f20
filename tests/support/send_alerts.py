"""Send alert work the way a camera process does, from a process of its own (its REDIS_URL, its broker).

    python -m tests.support.send_alerts CAMERA_ID COUNT SESSION_PREFIX

Each event's evidence goes to that process's Redis and its ``alerts.record_alert`` task to its
broker; prints one event key per line.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    camera_id, count, prefix = int(argv[0]), int(argv[1]), argv[2]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from core.taskbase import send
    from core.topology import RECORD_ALERT
    from tests.support.alert_events import event_payload

    for index in range(count):
        payload = event_payload(camera_id, session=f"{prefix}-{index}")
        send(RECORD_ALERT, payload)
        print(payload["event_key"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

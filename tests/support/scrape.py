"""Scrape a Prometheus endpoint and lint the text with the real ``promtool check metrics``."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# The Django test client's extra for /metrics and /readyz's details (METRICS_TOKEN: tests/settings.py).
METRICS_AUTH = {"HTTP_AUTHORIZATION": f"Bearer {os.environ.get('METRICS_TOKEN', '')}"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise RuntimeError("promtool is missing: scripts/system-deps.sh installs Debian's prometheus package")
    return path


def scrape(url: str, timeout_s: float = 30.0, headers: dict[str, str] | None = None) -> str:
    """The endpoint's text, retrying while the process comes up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - localhost
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - localhost
                return str(response.read().decode())
        except urllib.error.HTTPError:
            raise  # the server is up and answered: no point in asking again
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def promtool_check(text: str) -> tuple[int, str]:
    """promtool's exit code and its complaints (empty when the exposition is clean)."""
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def sample_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one sample (0 when absent), e.g. a ``..._total`` with these exact labels."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or sample.labels == labels):
                return float(sample.value)
    return 0.0


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}

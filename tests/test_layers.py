"""Imports follow the data flow: the layer check itself, and what each kind of process loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_imports  # noqa: E402


def test_the_layer_check_passes_on_this_tree() -> None:
    result = subprocess.run([sys.executable, "scripts/check_imports.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_layer_check_finds_circles_and_upward_imports() -> None:
    graph = {("core", "cameras"): ["x"], ("cameras", "core"): ["y"], ("alerts", "analysis"): ["z"]}
    assert check_imports.circles(graph) == [["cameras", "core", "cameras"]]
    assert "cameras" not in check_imports.ALLOWED["core"]


def loaded_modules(code: str) -> set[str]:
    """The modules a fresh process has loaded after ``django.setup()`` and ``code``."""
    script = f"import django, json, sys\ndjango.setup()\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_a_capture_process_loads_neither_channels_nor_drf_nor_the_alert_pushes() -> None:
    modules = loaded_modules(
        "import detection.capture.process, detection.capture.camera, detection.capture.dispatch\n"
        "import detection.capture.supervisor, detection.tasks, alerts.receivers"
    )
    for heavy in ("channels.layers", "channels_redis", "rest_framework.serializers", "alerts.live", "alerts.api"):
        assert heavy not in modules, heavy


@pytest.mark.slow
def test_the_web_process_does_not_load_the_capture_loop() -> None:
    modules = loaded_modules("import trafficsite.urls, trafficsite.asgi")
    for capture in ("detection.capture.camera", "detection.capture.dispatch", "detection.tracking", "ultralytics"):
        assert capture not in modules, capture


@pytest.mark.slow
def test_a_camera_process_never_imports_torch_nor_ultralytics() -> None:
    """Importing PyTorch costs a camera process ~750 MB resident: the tracker is torch-free, and a
    camera must stay so however the capture modules' imports change."""
    modules = loaded_modules(
        "import detection.capture.process, detection.capture.camera, detection.capture.dispatch\n"
        "import detection.capture.supervisor, detection.capture.preload, detection.scenarios.replay\n"
        "from detection.detector import Box\n"
        "from detection.tracking import CameraTracker\n"
        "CameraTracker(10).update(0.0, [Box('car', 0.9, (0.1, 0.1, 0.2, 0.2))])"
    )
    assert "detection.bytetrack" in modules
    for heavy in ("torch", "ultralytics", "torchvision"):
        assert heavy not in modules, heavy


@pytest.mark.slow
@pytest.mark.parametrize("otel", ["0", "1"])
def test_the_camera_fork_server_sets_django_up_and_leaves_no_thread_behind(otel: str) -> None:
    """Camera processes share the fork server's Django (preload.py); a thread left running there
    (tracing's exporter) would be forked half-alive into every camera."""
    script = (
        "import threading, json, sys\nimport detection.capture.preload\nfrom django.apps import apps\n"
        "from core import tracing\n"
        "print(json.dumps([apps.ready, threading.active_count(), tracing.enabled(), 'torch' in sys.modules]))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin", "OTEL_ENABLED": otel,
           "OTEL_TRACES_EXPORTER": "console"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == [True, 1, False, False]

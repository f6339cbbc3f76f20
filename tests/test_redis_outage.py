"""A Redis outage under a running capture: the camera process rides it out and resumes at once.

Everything on a private Redis (broker, frame store, leases) that the test kills with SIGKILL and
restarts, with a real capture supervisor, its camera process and a real detect worker, all on the
production defaults for failure behaviour. Also /readyz naming a camera that does not capture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from cameras.live import stats_key
from cameras.models import Camera
from core import health
from core.readiness import check_capture
from core.redisclient import get_redis
from detection.capture.supervisor import supervisor_key
from tests.factories import make_camera
from tests.support.redis_server import RedisServer
from tests.support.rtsp import free_port
from tests.support.scrape import sample_value, scrape
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", tcp=True, append_only=True).start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_camera_process_rides_out_a_redis_outage_and_resumes_within_5_s(
    private_redis: RedisServer, test_database_url: str, tmp_path: Path
) -> None:
    url = private_redis.url(0)
    camera = make_camera(detect_fps=5, motion_gate=False)
    worker = WorkerProcess(queues="detect", name="outage", database_url=test_database_url, concurrency=1,
                           extra_env={"TEST_REDIS_URL": url})  # fmt: skip
    metrics_port = free_port()
    (tmp_path / "metrics").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "TEST_DATABASE_URL": test_database_url,
           "TEST_REDIS_URL": url, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           "METRICS_PORT": str(metrics_port)}  # fmt: skip
    log = (tmp_path / "capture.log").open("wb")
    supervisor = subprocess.Popen([sys.executable, "manage.py", "run_cameras"], cwd=BASE_DIR, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    private = redis.Redis.from_url(url)
    stats = stats_key(camera.pk)
    try:
        worker.start()  # on the private Redis: its readiness shows as detections below
        wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 60, "the camera to go online")
        wait_for(lambda: private.exists(stats), 60, "detections to flow")
        before = {p.pid for p in psutil.Process(supervisor.pid).children(recursive=True)}

        private_redis.stop(signal.SIGKILL)
        down = wait_for(lambda: (c := Camera.objects.get(pk=camera.pk)).status == "degraded" and c, 10,
                        "the camera to show the outage")  # fmt: skip
        assert down.last_error == "Redis unreachable"
        time.sleep(8)
        after = {p.pid for p in psutil.Process(supervisor.pid).children(recursive=True)}
        assert before <= after, "a camera process died during the outage"

        private_redis.start()
        returned = time.monotonic()
        wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 10, "capture to resume")
        online_in = time.monotonic() - returned
        private.delete(stats)
        wait_for(lambda: private.exists(stats), 30, "detections after the outage")
        detected_in = time.monotonic() - returned
        assert online_in < 5.0, f"capture resumed {online_in:.1f} s after Redis returned"
        assert {p.pid for p in psutil.Process(supervisor.pid).children(recursive=True)} >= before
        text = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        dropped = sample_value(text, "trafficsite_frames_dropped_total", {"camera": str(camera.pk),
                                                                         "reason": "redis_unreachable"})  # fmt: skip
        assert dropped >= 20, f"frames dropped during ~10 s at 5 fps: {dropped}"
        print(f"capture back in {online_in:.1f} s, detections back in {detected_in:.1f} s, dropped {dropped:.0f}")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(30)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        worker.stop()


@pytest.mark.django_db
def test_readyz_names_an_enabled_camera_that_is_not_capturing() -> None:
    client = get_redis()
    client.set(supervisor_key("readyz-test"), "41", px=10_000)
    health.publish_enabled_cameras(client, {41: "Bridge", 42: "Harbour"}, ttl_s=10)
    health.publish_capture_state(client, 41, "online", "")
    try:
        result = check_capture(2.0)
        assert not result["ok"]
        assert result["not_capturing"] == ["camera 42 (Harbour): no capture process is running"]
        health.publish_capture_state(client, 42, "offline", "rtsp://cam: no stream served (connection refused)")
        result = check_capture(2.0)
        assert result["error"] == "camera 42 (Harbour): offline: rtsp://cam: no stream served (connection refused)"
        health.publish_capture_state(client, 42, "online", "")
        assert check_capture(2.0)["ok"]
    finally:
        client.delete(supervisor_key("readyz-test"), health.enabled_cameras_key(),
                      health.capture_state_key(41), health.capture_state_key(42))  # fmt: skip

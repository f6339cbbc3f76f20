"""The capture supervisor: leases split cameras between supervisors, follow the database, survive kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from cameras.models import Camera
from core.lease import RedisLease
from core.redisclient import get_redis
from detection.capture.supervisor import Supervisor, lease_key
from tests.factories import make_camera
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def capture_env(test_database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Camera processes and supervisor subprocesses must use the test database and fast timings."""
    env = {"TEST_DATABASE_URL": test_database_url, "CAPTURE_LEASE_TTL_S": "3", "CAPTURE_RECONCILE_S": "0.5"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "tests.settings"}


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for sup in made:
        sup.shutdown()


def new_supervisor(made: list[Supervisor], name: str) -> Supervisor:
    sup = Supervisor(owner=name, lease_ttl_s=3, reconcile_s=0.5)
    made.append(sup)
    return sup


def cameras(n: int) -> list[Camera]:
    return [make_camera(detect_fps=2) for _ in range(n)]


def test_two_supervisors_capture_each_camera_exactly_once(capture_env, supervisors) -> None:
    cams = cameras(3)
    a, b = new_supervisor(supervisors, "host-a"), new_supervisor(supervisors, "host-b")
    for _ in range(3):
        b.step()
        a.step()
    assert set(a.children).isdisjoint(b.children)
    assert set(a.children) | set(b.children) == {c.pk for c in cams}
    for sup in (a, b):
        for camera_id, child in sup.children.items():
            assert get_redis().get(lease_key(camera_id)).decode().startswith(sup.owner + ":")
            assert child.process.is_alive()
    wait_for(lambda: Camera.objects.filter(status="online").count() == 3, 60, "all three cameras online")


def test_disabling_a_camera_stops_its_process_and_editing_restarts_it(capture_env, supervisors) -> None:
    [camera] = cameras(1)
    sup = new_supervisor(supervisors, "host-a")
    sup.step()
    first = sup.children[camera.pk].process
    wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 60, "the camera online")

    camera.detect_fps = 3
    camera.save()
    sup.step()
    second = sup.children[camera.pk].process
    assert not first.is_alive() and second.pid != first.pid

    Camera.objects.filter(pk=camera.pk).update(enabled=False)
    sup.step()
    assert camera.pk not in sup.children
    assert not second.is_alive()
    assert get_redis().get(lease_key(camera.pk)) is None
    assert Camera.objects.get(pk=camera.pk).status == "unknown"


def test_a_camera_with_a_bad_source_shows_the_error_without_a_crash_loop(capture_env, supervisors, settings) -> None:
    camera = make_camera()
    Camera.objects.filter(pk=camera.pk).update(source_url="/nowhere/gone.mp4")
    sup = new_supervisor(supervisors, "host-a")
    sup.step()
    errored = wait_for(lambda: (c := Camera.objects.get(pk=camera.pk)).status == "error" and c, 30, "error status")
    assert "allowed folders" in errored.last_error
    sup.step()
    assert sup.children[camera.pk].process.is_alive()  # waits for a fix instead of restarting


def test_a_killed_supervisors_cameras_are_taken_over_and_its_orphans_stop(capture_env, supervisors) -> None:
    cams = cameras(2)
    proc = subprocess.Popen([sys.executable, "manage.py", "run_cameras"], cwd=BASE_DIR, env=capture_env)
    try:
        wait_for(lambda: all(get_redis().exists(lease_key(c.pk)) for c in cams), 60, "the leases taken")
        orphans = wait_for(lambda: len(kids := psutil.Process(proc.pid).children(recursive=True)) >= 3 and kids, 30,
                           "the fork server and two camera processes")  # fmt: skip
        b = new_supervisor(supervisors, "host-b")
        b.step()
        assert b.children == {}  # A holds every lease
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        wait_for(lambda: (b.step(), set(b.children) == {c.pk for c in cams})[1], 20, "host B to take over")
        assert time.monotonic() - killed < 3 + 2 * 0.5 + 3  # lease TTL, two reconcile periods, margin
        wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in orphans), 15,
                 "the orphaned camera processes to stop")  # fmt: skip
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_stops_every_child_and_releases_the_leases(capture_env) -> None:
    cams = cameras(2)
    proc = subprocess.Popen([sys.executable, "manage.py", "run_cameras"], cwd=BASE_DIR, env=capture_env)
    try:
        wait_for(lambda: Camera.objects.filter(status="online").count() == 2, 60, "both cameras online")
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        # Camera processes were stopped and joined; the fork server follows once its parent is gone.
        wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in children), 10,
                 "every child process to end")  # fmt: skip
        assert not any(get_redis().exists(lease_key(c.pk)) for c in cams)
        assert set(Camera.objects.values_list("status", flat=True)) == {"unknown"}
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_lease_cannot_be_renewed_or_released_by_a_former_holder() -> None:
    client = get_redis()
    old = RedisLease(client, "trafficsite:test:lease", "old", ttl_s=0.2)
    assert old.acquire()
    assert not RedisLease(client, "trafficsite:test:lease", "new", ttl_s=5).acquire()
    time.sleep(0.3)
    new = RedisLease(client, "trafficsite:test:lease", "new", ttl_s=5)
    assert new.acquire()
    assert not old.renew() and not old.release()
    assert new.held() and new.release() and not new.held()

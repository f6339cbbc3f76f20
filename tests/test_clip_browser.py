"""The clip end to end: a real ffmpeg fills the camera's rolling cache, the real alerts worker records the
alert and cuts its clip after the post-roll, and headless Chromium shows "Clip in N s", then plays it in
the dashboard's evidence view (and the admin) with the event marked."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from alerts.models import Alert
from alerts.tasks import record_alert
from cameras.sources import Source, SourceKind
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.recorder import Recorder, RecorderConfig
from tests.factories import make_camera
from tests.support.alert_events import event_payload
from tests.support.browser import chromium
from tests.support.live_server import Daphne
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "a-long-operator-password"


@pytest.fixture(scope="module")
def server(test_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    call_command("collectstatic", interactive=False, verbosity=0)
    daphne = Daphne(test_database_url, tmp_path_factory.mktemp("daphne") / "daphne.log").start()
    yield daphne
    daphne.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    opened = chromium(tmp_path / "profile")
    yield opened
    opened.quit()


def wait(browser: webdriver.Chrome, script: str, timeout: float = 10) -> object:
    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(lambda b: b.execute_script(script))


def mpeg4_part2(tmp_path: Path) -> Path:
    """The intersection clip as OpenCV's mp4v writer makes the demo street: not playable in browsers."""
    target = tmp_path / "street.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "3", "-i", str(asset_path(CLIP_CARS_TRUCK)),
                    "-c:v", "mpeg4", "-q:v", "5", str(target)], check=True)  # fmt: skip
    return target


def test_the_dashboard_shows_the_clip_countdown_then_plays_the_clip_with_the_event_marked(
    celery_worker: WorkerProcess, server: Daphne, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    User.objects.create_user("olga", password=PASSWORD, is_staff=True, is_superuser=True)
    camera = make_camera(name="Demo street")  # the default pre-roll and post-roll: 5 s each
    recorder = Recorder(camera.pk, Source(SourceKind.FILE, str(mpeg4_part2(tmp_path))), RecorderConfig())
    recorder.start()
    try:
        browser.get(f"{server.url}/admin/login/?next=/dashboard/")
        browser.find_element(By.NAME, "username").send_keys("olga")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "connection").text == "Live")
        time.sleep(5.5)  # the cache holds more than the pre-roll when the event starts

        payload = event_payload(camera.pk)
        # As the camera loop's frame history gives it: everyone's boxes in the frames up to the trigger.
        boxes = [[[7, "car", 0.30 - 0.02 * n, 0.40, 0.55 - 0.02 * n, 0.70], [8, "person", 0.56, 0.45, 0.62, 0.72]]
                 for n in range(10)]  # fmt: skip
        payload["track"] = [{"t": -0.2 * n, "boxes": boxes[n]} for n in range(10)]
        record_alert.delay(payload)
        alert = wait_for(lambda: Alert.objects.filter(camera=camera).first(), 10, "the alert")
        wait(browser, f"return document.querySelector('#alert-{alert.pk} button.thumb')")
        browser.execute_script(f"document.querySelector('#alert-{alert.pk} button.thumb').click()")
        countdown = str(
            wait(browser, "const p = document.querySelector('#lb-player .clip-wait'); return p && p.textContent")
        )
        assert countdown.startswith("Clip in ") and countdown.endswith(" s"), countdown

        # The clip replaces the countdown when the worker has cut it (pushed over the websocket).
        wait(browser, "return document.querySelector('#lb-player video')", timeout=40)
        detected = alert.detected_at.timestamp()
        alert.refresh_from_db()
        ready_after_post_roll = time.time() - (detected + camera.post_roll_s)
        duration = float(
            str(
                wait(
                    browser,
                    """
            const v = document.querySelector('#lb-player video');
            if (v.readyState < 1) return null;
            v.play();
            return v.currentTime > 0.5 && !v.paused ? String(v.duration) : null;""",
                    timeout=20,
                )
            )
        )
        wanted = camera.pre_roll_s + (alert.detected_at - alert.event_started_at).total_seconds() + camera.post_roll_s
        assert duration == pytest.approx(wanted, abs=1.0)
        assert duration == pytest.approx(alert.clip_duration_s, abs=0.1)
        marks = browser.execute_script("""
            const b = document.querySelector('#lb-player .player-marks');
            return [b.querySelector('.mark-start').style.left, b.querySelector('.mark-detect').style.left];""")
        start_pct = 100 * (alert.event_started_at - alert.clip_started_at).total_seconds() / duration
        assert float(marks[0].rstrip("%")) == pytest.approx(start_pct, abs=1.0)
        assert float(marks[1].rstrip("%")) > float(marks[0].rstrip("%"))
        # The overlay draws the stored track's boxes near the detection, on request.
        seek_to = (alert.detected_at - alert.clip_started_at).total_seconds()
        browser.execute_script(f"""
            const v = document.querySelector('#lb-player video'); v.pause();
            v.currentTime = {seek_to}; document.querySelector('#lb-player .overlay-toggle').click();""")
        painted = wait(
            browser,
            """
            const c = document.querySelector('#lb-player canvas');
            if (!c.width) return false;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
            return false;""",
        )
        assert painted

        # The admin's alert page has the same player.
        browser.get(f"{server.url}/admin/alerts/alert/{alert.pk}/change/")
        assert wait(browser, "const v = document.querySelector('.evidence-player video'); return v && v.src")
        print(
            f"clip of {duration:.2f} s (wanted {wanted:.2f} s) ready {ready_after_post_roll:.2f} s after the post-roll"
        )
    finally:
        recorder.stop()
        recorder.join(timeout=15)

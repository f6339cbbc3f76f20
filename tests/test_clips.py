"""Evidence clips: a real ffmpeg fills the rolling cache in Redis; the alerts side cuts a playable MP4."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts import clips
from alerts.models import Alert
from cameras import clipcache
from cameras.sources import Source, SourceKind
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.recorder import Recorder, RecorderConfig
from tests.factories import make_alert, make_camera
from tests.support.rtsp import RtspServer, looped_clip
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


def probe(path: Path) -> Any:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration,format_name",
         "-of", "json", str(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def mpeg4_part2_copy(tmp_path: Path) -> Path:
    """The intersection clip in MPEG-4 part 2 (what OpenCV's mp4v writer makes): browsers cannot play it."""
    target = tmp_path / "mp4v.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(asset_path(CLIP_CARS_TRUCK)), "-c:v", "mpeg4", "-q:v", "5",
                    str(target)], check=True)  # fmt: skip
    return target


def record(camera_id: int, source: Source, seconds: float) -> Recorder:
    recorder = Recorder(camera_id, source, RecorderConfig(segment_s=1.0, keep_s=60.0))
    recorder.start()
    try:
        time.sleep(seconds)
    finally:
        recorder.stop()
        recorder.join(timeout=15)
    assert not recorder.is_alive()
    return recorder


@pytest.mark.slow
def test_an_h264_camera_is_cached_as_copied_segments_in_wall_time() -> None:
    camera = make_camera()
    started = time.time()
    recorder = record(camera.pk, Source(SourceKind.FILE, str(asset_path(CLIP_CARS_TRUCK))), 5.0)
    cached = clipcache.segments(camera.pk, started - 5, time.time() + 5)
    assert recorder.copied is True
    assert len(cached) >= 2 and all(segment.copied for segment in cached)
    # In wall time, within the recording, one after the other: the wall clock of a run is refined as
    # segments come (the smallest delay seen wins), so neighbours agree to within about a poll (0.2 s).
    assert started - 1.0 < cached[0].start < cached[-1].end < time.time() + 0.5
    for before, after in itertools.pairwise(cached):
        assert after.start == pytest.approx(before.end, abs=0.3)
    data = clipcache.read(camera.pk, cached[0])
    assert data and data[0] == 0x47  # an MPEG-TS sync byte: packets, not decoded frames
    # The keyframe interval of this clip is 3 s: copied segments are cut there, not every second.
    assert cached[0].end - cached[0].start == pytest.approx(3.0, abs=0.25)
    assert not list(Path(recorder._folder).glob("*.ts"))  # the disk held segments only until stored


@pytest.mark.slow
def test_a_clip_is_cut_from_the_cache_as_an_mp4_with_its_index_first(tmp_path: Path, settings) -> None:
    settings.CLIP_WAIT_S = 1.0
    camera = make_camera(pre_roll_s=1.5, post_roll_s=1.0)
    # A source that cannot be copied into a browser's MP4: re-encoded, one keyframe a second.
    source = Source(SourceKind.FILE, str(mpeg4_part2_copy(tmp_path)))
    began = time.time()
    alert = make_alert(camera, event_started_at=datetime.fromtimestamp(began + 3.5, tz=UTC),
                       detected_at=datetime.fromtimestamp(began + 4.0, tz=UTC))  # fmt: skip
    with pytest.raises(clips.NotYet):  # nothing cached yet, and its end is still to come
        clips.cut_clip(alert.pk)
    recorder = record(camera.pk, source, 7.5)
    assert recorder.copied is False
    assert clips.cut_clip(alert.pk) == "ready"
    alert.refresh_from_db()
    assert alert.clip_status == Alert.ClipStatus.READY
    wanted = 1.5 + 0.5 + 1.0  # pre-roll + event + post-roll
    assert alert.clip_duration_s == pytest.approx(wanted, abs=1.0)
    assert "re-encoded" in alert.clip_note
    local = Path(alert.clip.path)
    info = probe(local)
    assert info["streams"][0]["codec_name"] == "h264" and "mp4" in info["format"]["format_name"]
    assert float(info["format"]["duration"]) == pytest.approx(alert.clip_duration_s, abs=0.05)
    head = local.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # faststart: plays while it loads
    # The clip starts at a keyframe at or before the wanted start, and ends at the wanted end.
    wanted_start = began + 3.5 - 1.5
    assert wanted_start - 1.05 <= alert.clip_started_at.timestamp() <= wanted_start + 0.3
    assert clips.cut_clip(alert.pk) == "ready"  # idempotent: a redelivered task changes nothing


def test_without_cached_video_the_alert_says_it_has_no_clip(settings) -> None:
    settings.CLIP_WAIT_S = 1.0
    alert = make_alert(make_camera(pre_roll_s=1, post_roll_s=1))
    with pytest.raises(clips.NotYet):
        clips.cut_clip(alert.pk, now=time.time())
    assert clips.cut_clip(alert.pk, now=time.time() + 10) == "unavailable"
    alert.refresh_from_db()
    assert alert.clip_status == Alert.ClipStatus.UNAVAILABLE and "rolling cache had no video" in alert.clip_note
    assert not alert.clip


def test_a_new_alert_expects_its_clip_after_the_post_roll(settings) -> None:
    from alerts.record import record_alert

    settings.CLIP_RECORDING = True
    camera = make_camera(post_roll_s=4.0)
    now = time.time()
    payload = {"event_key": "clip-expected", "camera_id": camera.pk, "event_type": "speeding", "track_ids": [1],
               "started_at": datetime.fromtimestamp(now - 1, tz=UTC).isoformat(),
               "detected_at": datetime.fromtimestamp(now, tz=UTC).isoformat(), "video_ts": 1.0, "severity": 2,
               "measurements": {}, "group_box": None, "keyframe_key": None, "crop_key": None, "boxes": []}  # fmt: skip
    alert, _ = record_alert(payload)
    assert alert.clip_status == Alert.ClipStatus.PENDING
    assert alert.clip_expected_at.timestamp() == pytest.approx(now + 4.0 + clips.SEGMENT_SETTLE_S, abs=0.01)
    settings.CLIP_RECORDING = False
    off, _ = record_alert({**payload, "event_key": "clip-off"})  # type: ignore[typeddict-item]
    assert off.clip_status == Alert.ClipStatus.UNAVAILABLE and "CLIP_RECORDING" in off.clip_note


@pytest.mark.slow
def test_an_rtsp_camera_is_cached_without_decoding(tmp_path: Path) -> None:
    """A real RTSP server (GStreamer's) as the camera: ffmpeg copies its H.264 packets over TCP."""
    server = RtspServer(looped_clip(asset_path(CLIP_CARS_TRUCK), tmp_path / "loop.mp4", loops=5)).start()
    try:
        camera = make_camera()
        recorder = record(camera.pk, Source(SourceKind.RTSP, server.url), 6.0)
    finally:
        server.kill()
    cached = clipcache.segments(camera.pk, time.time() - 30, time.time() + 5)
    assert recorder.copied is True and len(cached) >= 1 and all(s.copied for s in cached)
    assert sum(s.end - s.start for s in cached) > 2.0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_camera_process_fills_the_cache_and_its_ffmpeg_stops_with_it(test_database_url: str, monkeypatch) -> None:
    """The real capture process (supervisor -> camera process -> camera loop) starts the recorder."""
    import psutil

    from detection.capture.supervisor import Supervisor

    monkeypatch.setenv("TEST_DATABASE_URL", test_database_url)
    camera = make_camera(detect_fps=2)
    supervisor = Supervisor(owner="clips", lease_ttl_s=10, reconcile_s=0.5)

    def cached() -> float | None:
        supervisor.step()  # renews the camera's lease, as the supervisor's loop does
        return clipcache.latest_end(camera.pk)

    try:
        wait_for(cached, 60, "segments of the camera in the cache")
        pid = supervisor.children[camera.pk].process.pid
        ffmpegs = [p for p in psutil.Process(pid).children(recursive=True) if p.name() == "ffmpeg"]
        assert len(ffmpegs) == 1
    finally:
        supervisor.shutdown()
    psutil.wait_procs(ffmpegs, timeout=10)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ffmpegs)


@pytest.mark.django_db(transaction=True)  # files are removed after the deletion commits
def test_retention_deletes_clips_with_their_alerts_and_keeps_confirmed_ones() -> None:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from alerts.retention import purge_expired

    camera = make_camera(alert_retention_days=7)
    old = timezone.now() - timedelta(days=8)
    gone, kept = (make_alert(camera, detected_at=old, event_started_at=old - timedelta(seconds=1)) for _ in range(2))
    for alert in (gone, kept):
        alert.clip.save(f"clip{alert.pk}.mp4", ContentFile(b"\x00\x00\x00\x18ftypisom"), save=True)
    Alert.objects.filter(pk=kept.pk).review("confirmed", User.objects.create_user("olga", is_staff=True))
    assert purge_expired()["deleted"] == 1
    assert not default_storage.exists(gone.clip.name) and default_storage.exists(kept.clip.name)


def test_without_ffmpeg_the_alert_says_why_it_has_no_clip(monkeypatch) -> None:
    monkeypatch.setattr("alerts.clips.shutil.which", lambda name: None)
    alert = make_alert(make_camera(pre_roll_s=0, post_roll_s=0))
    assert clips.cut_clip(alert.pk, now=time.time() + 60) == "unavailable"
    alert.refresh_from_db()
    assert alert.clip_note == "ffmpeg is not installed where the alerts worker runs."


def test_pre_roll_and_post_roll_are_set_per_camera_in_the_api_and_the_admin() -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("ada", password="x"))
    camera = make_camera()
    url = f"/api/v1/cameras/{camera.pk}/"
    refused = client.patch(url, {"pre_roll_s": 45}, content_type="application/json")
    assert refused.status_code == 400 and "pre_roll_s" in refused.json()
    assert client.patch(url, {"pre_roll_s": 3, "post_roll_s": 8}, content_type="application/json").status_code == 200
    camera.refresh_from_db()
    assert (camera.pre_roll_s, camera.post_roll_s) == (3, 8)
    page = client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
    assert 'name="pre_roll_s"' in page and 'name="post_roll_s"' in page

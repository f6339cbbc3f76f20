"""Evidence in an S3-compatible store: a real S3 API over HTTP (moto's standalone server, a subprocess).

The settings pick the store from the environment (trafficsite/objectstore.py); an alert's keyframe,
crop and clip (cut by the real ``alerts.cut_clip`` function from a real ffmpeg's rolling cache) land in
the bucket and nowhere on local disk; staff get signed, expiring URLs while the bucket refuses plain
requests; an evidence bundle is read back from the bucket and ``verify_bundle`` accepts it; retention
deletes the objects with their alert.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from alerts import clips
from alerts.models import Alert
from alerts.record import record_alert
from alerts.retention import purge_expired
from cameras import clipcache
from cameras.sources import Source, SourceKind
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.recorder import Recorder, RecorderConfig
from tests.factories import make_camera
from tests.support.alert_events import event_payload
from tests.support.rtsp import free_port
from tests.support.waiting import wait_for
from trafficsite import objectstore

BUCKET = "trafficsite-evidence"
ACCESS_KEY, SECRET_KEY = "tests-access-key", "tests-secret-key-not-in-any-log"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free port, with one private bucket."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):  # noqa: S310 - our own port
                return True
        except OSError:
            return server.poll() is not None  # exited: fail below, not after the timeout

    try:
        wait_for(answers, 30, "moto's S3 server")
        assert server.poll() is None, "moto's S3 server exited at start"
        client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def client(endpoint: str):  # boto3's clients are typed only through its stubs packages
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)  # fmt: skip


def s3_environment(endpoint: str, secret_file: Path) -> dict[str, str]:
    secret_file.write_text(SECRET_KEY + "\n")
    return {
        "STORAGE_S3_BUCKET": BUCKET,
        "STORAGE_S3_ENDPOINT_URL": endpoint,
        "STORAGE_S3_REGION": "us-east-1",
        "STORAGE_S3_ACCESS_KEY": ACCESS_KEY,
        "STORAGE_S3_SECRET_KEY_FILE": str(secret_file),  # a secret file, as compose or Kubernetes mount it
    }


@pytest.fixture
def s3_storage(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings) -> str:
    """This process's default storage switched to the bucket, exactly as the settings build it."""
    for name, value in s3_environment(s3_endpoint, tmp_path / "s3-secret").items():
        monkeypatch.setenv(name, value)
    store = objectstore.from_env()
    assert store is not None
    settings.STORAGES = {**settings.STORAGES, "default": store.backend}  # resets default_storage
    settings.STORAGE_MEDIA_ORIGINS = store.media_origins
    policy = json.loads(json.dumps(settings.CONTENT_SECURITY_POLICY))
    for directive in ("img-src", "media-src"):
        policy["DIRECTIVES"][directive] += store.media_origins
    settings.CONTENT_SECURITY_POLICY = policy
    settings.EVIDENCE_SIGNING_KEY_FILE = tmp_path / "signing.pem"
    return s3_endpoint


def objects(endpoint: str) -> dict[str, bytes]:
    s3 = client(endpoint)
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed}


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local S3 server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_the_settings_take_the_store_from_the_environment_and_its_keys_from_a_secret_file(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """A fresh process configured only by its environment (what compose and ./run hand the workers)."""
    env = {**os.environ, **s3_environment(s3_endpoint, tmp_path / "s3-secret")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env.pop("STORAGE_S3_SECRET_KEY", None)
    script = (
        "import json, django; django.setup()\n"
        "from django.conf import settings; from django.core.files.storage import default_storage as s\n"
        "o = settings.STORAGES['default']['OPTIONS']\n"
        "print(json.dumps({'class': settings.STORAGES['default']['BACKEND'], 'endpoint': o['endpoint_url'],"
        " 'secret_from_file': o['secret_key'] == " + repr(SECRET_KEY) + ","
        " 'expire': o['querystring_expire'], 'csp': settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['media-src'],"
        " 'saved': s.save('probe/hello.txt', __import__('io').BytesIO(b'hello'))}))"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["class"] == "storages.backends.s3.S3Storage" and report["endpoint"] == s3_endpoint
    assert report["secret_from_file"] is True and report["expire"] == 300
    assert report["csp"] == ["'self'", s3_endpoint]
    assert objects(s3_endpoint)[report["saved"]] == b"hello"
    assert SECRET_KEY not in done.stdout + done.stderr


def test_a_bad_store_setting_names_the_variable_and_never_the_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STORAGE_S3_BUCKET", BUCKET)
    monkeypatch.setenv("STORAGE_S3_ENDPOINT_URL", "http://admin:hunter2-secret@minio.internal:9000")
    with pytest.raises(ImproperlyConfigured, match="STORAGE_S3_ENDPOINT_URL") as refused:
        objectstore.from_env()
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv("STORAGE_S3_ENDPOINT_URL", "https://minio.internal:9000")
    monkeypatch.setenv("STORAGE_S3_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="STORAGE_S3_SECRET_KEY_FILE"):
        objectstore.from_env()
    (tmp_path / "placeholder").write_text("change-me-please")
    monkeypatch.setenv("STORAGE_S3_SECRET_KEY_FILE", str(tmp_path / "placeholder"))
    with pytest.raises(ImproperlyConfigured, match="placeholder") as placeholder:
        objectstore.from_env()
    assert "change-me-please" not in str(placeholder.value)
    monkeypatch.delenv("STORAGE_S3_SECRET_KEY_FILE")
    monkeypatch.setenv("STORAGE_S3_MEDIA_ORIGINS", "")  # as compose passes an unset one
    store = objectstore.from_env()
    assert store is not None and store.media_origins == ["https://minio.internal:9000"]
    assert store.backend["OPTIONS"]["addressing_style"] == "path"  # URLs on the endpoint's own origin
    monkeypatch.delenv("STORAGE_S3_ENDPOINT_URL")
    monkeypatch.setenv("STORAGE_S3_REGION", "eu-central-1")
    aws = objectstore.from_env()
    assert aws is not None and aws.media_origins == [f"https://{BUCKET}.s3.eu-central-1.amazonaws.com"]


@pytest.mark.slow
@pytest.mark.django_db
def test_an_alerts_clip_lands_in_the_bucket_is_served_to_staff_signed_and_exported_in_a_valid_bundle(
    s3_storage: str, tmp_path: Path, settings, django_capture_on_commit_callbacks
) -> None:
    endpoint = s3_storage
    settings.CLIP_RECORDING = True
    before = set(objects(endpoint))
    camera = make_camera(pre_roll_s=1, post_roll_s=1, alert_retention_days=7)
    # A real ffmpeg copies the camera's H.264 packets into the rolling cache in Redis.
    recorder = Recorder(camera.pk, Source(SourceKind.FILE, str(asset_path(CLIP_CARS_TRUCK))),
                        RecorderConfig(segment_s=1.0, keep_s=60.0))  # fmt: skip
    recorder.start()
    try:
        wait_for(lambda: clipcache.latest_end(camera.pk), 30, "the first cached segment")
        time.sleep(1.5)  # more than the pre-roll is cached when the event starts
        alert, created = record_alert(event_payload(camera.pk))  # keyframe and crop go to the store
        assert created and alert.clip_status == Alert.ClipStatus.PENDING

        def cut() -> str | None:
            try:
                return clips.cut_clip(alert.pk)
            except clips.NotYet:
                return None

        assert wait_for(cut, 40, "the clip to be cut") == "ready"
    finally:
        recorder.stop()
        recorder.join(timeout=15)
    alert.refresh_from_db()

    # In the bucket, and nowhere under MEDIA_ROOT.
    stored = {name: data for name, data in objects(endpoint).items() if name not in before}
    assert set(stored) == {alert.clip.name, alert.keyframe.name, alert.crop.name}
    assert alert.clip.name.startswith("clips/") and alert.clip.name.endswith(".mp4")
    clip = stored[alert.clip.name]
    assert 0 <= clip.find(b"moov") < clip.find(b"mdat")  # an MP4 with its index first, as cut
    assert stored[alert.keyframe.name][:2] == b"\xff\xd8"
    assert not any((Path(settings.MEDIA_ROOT) / name).exists() for name in stored)

    # Staff get a signed URL that expires; the bucket refuses the same object unsigned; others get nothing.
    staff = Client()
    staff.force_login(User.objects.create_user("officer", password="x", is_staff=True, is_superuser=True))
    assert Client().get(f"/api/v1/alerts/{alert.pk}/").status_code in (401, 403)
    clip_url = staff.get(f"/api/v1/alerts/{alert.pk}/").json()["clip_url"]
    parts = urlsplit(clip_url)
    assert f"{parts.scheme}://{parts.netloc}" == endpoint and parts.path == f"/{BUCKET}/{alert.clip.name}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Signature"][0]
    assert SECRET_KEY not in clip_url
    assert fetch(clip_url) == (200, clip)
    assert fetch(f"{endpoint}{parts.path}")[0] == 403
    assert fetch(f"{endpoint}/{BUCKET}/{alert.keyframe.name}")[0] == 403
    # The pages that show the player allow the store's origin for video and images, and nothing wider.
    for page in ("/dashboard/", f"/admin/alerts/alert/{alert.pk}/change/"):
        policy = staff.get(page)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert endpoint in directives["media-src"].split() and endpoint in directives["img-src"].split(), page
        assert endpoint not in directives["script-src"], page

    # The bundle reads the clip back from the bucket; verify_bundle accepts it and refuses a changed byte.
    response = staff.get(f"/api/v1/alerts/{alert.pk}/bundle/")
    assert response.status_code == 200 and response.streaming
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read(f"alert-{alert.pk}/clip.mp4") == clip
        assert archive.read(f"alert-{alert.pk}/keyframe.jpg") == stored[alert.keyframe.name]
    path = tmp_path / "evidence.zip"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("verify_bundle", str(path), stdout=out)
    assert f"ok alert {alert.pk}: 4 file(s)" in out.getvalue() and "VALID evidence.zip" in out.getvalue()
    at = data.find(clip[4096:4160])
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    with pytest.raises(CommandError, match="INVALID"):
        call_command("verify_bundle", str(tampered))

    # Retention deletes the objects with the alert.
    old = timezone.now() - timedelta(days=8)
    Alert.objects.filter(pk=alert.pk).update(detected_at=old, event_started_at=old - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired()["deleted"] == 1
    assert not set(stored) & set(objects(endpoint))
    assert not default_storage.exists(alert.clip.name)


@pytest.mark.django_db
def test_webhooks_and_mqtt_get_no_signed_evidence_link(s3_storage: str, settings) -> None:
    """A signed URL shows the evidence to anyone until it expires: it stays with logged-in staff."""
    from django.core.files.base import ContentFile

    from alerts.notifications import message
    from tests.factories import make_alert

    settings.SITE_URL = "https://traffic.example.org"
    alert = make_alert(make_camera())
    alert.keyframe.save("k.jpg", ContentFile(b"\xff\xd8keyframe"), save=False)
    alert.clip.save("c.mp4", ContentFile(b"\x00\x00\x00\x18ftypisom"), save=False)
    alert.clip_status = "ready"
    alert.save()
    assert "X-Amz-Signature=" in alert.keyframe.url  # what the dashboard and the API hand to staff
    body = message("alert.created", alert)
    assert body["alert"]["keyframe_url"] is None and body["alert"]["clip_url"] is None
    assert "X-Amz" not in json.dumps(body) and s3_storage not in json.dumps(body)
    assert body["alert"]["dashboard_url"].startswith("https://traffic.example.org/")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the web process reads the rows
def test_the_dashboard_plays_a_clip_from_the_store_in_a_real_browser(
    s3_storage: str, test_database_url: str, tmp_path: Path
) -> None:
    """The player loads the signed URL from the store's origin, which the page's CSP must admit."""
    from django.core.files.base import ContentFile
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.factories import make_alert
    from tests.support.alert_events import intersection_frame
    from tests.support.browser import chromium
    from tests.support.live_server import Daphne

    endpoint = s3_storage
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "1", "-i", str(asset_path(CLIP_CARS_TRUCK)), "-c",
                    "copy", "-movflags", "+faststart", str(clip)], check=True)  # fmt: skip
    alert = make_alert(make_camera(name="Store street"))
    alert.keyframe.save("store.jpg", ContentFile(intersection_frame()), save=False)  # into the bucket
    alert.clip.save("store.mp4", ContentFile(clip.read_bytes()), save=False)
    alert.clip_status, alert.clip_started_at, alert.clip_duration_s = "ready", alert.event_started_at, 6.0
    alert.save()
    User.objects.create_user("olga", password="a-long-operator-password", is_staff=True, is_superuser=True)
    env = s3_environment(endpoint, tmp_path / "s3-secret")
    call_command("collectstatic", interactive=False, verbosity=0)  # the pages' scripts, served by daphne
    server = Daphne(test_database_url, tmp_path / "daphne.log", extra_env=env).start()
    browser = chromium(tmp_path / "profile")
    try:
        browser.get(f"{server.url}/admin/login/?next=/dashboard/")
        browser.find_element(By.NAME, "username").send_keys("olga")
        browser.find_element(By.NAME, "password").send_keys("a-long-operator-password")
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait = WebDriverWait(browser, 20, poll_frequency=0.1)
        wait.until(lambda b: b.execute_script(f"return document.querySelector('#alert-{alert.pk} button.thumb')"))
        thumb = browser.execute_script(f"return document.querySelector('#alert-{alert.pk} button.thumb img')")
        wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb))
        assert str(thumb.get_attribute("src")).startswith(f"{endpoint}/{BUCKET}/alerts/")  # the image from the store
        browser.execute_script(f"document.querySelector('#alert-{alert.pk} button.thumb').click()")
        source = wait.until(lambda b: b.execute_script("const v = document.querySelector('#lb-player video');"
                                                       "return v && v.currentSrc"))  # fmt: skip
        assert str(source).startswith(f"{endpoint}/{BUCKET}/clips/") and "X-Amz-Signature=" in str(source)
        played = wait.until(lambda b: b.execute_script("""
            const v = document.querySelector('#lb-player video');
            if (v.error) return 'error ' + v.error.code;
            if (v.readyState < 1) return null;
            v.muted = true; v.play();
            return v.currentTime > 0.5 && !v.paused ? String(v.duration) : null;"""))  # fmt: skip
        assert not str(played).startswith("error"), played
        assert float(str(played)) == pytest.approx(6.0, abs=0.2)
        # Nothing refused by the CSP (the store's origin is in media-src) and no script error.
        log = browser.get_log("browser")  # type: ignore[no-untyped-call]
        assert not [e for e in log if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]], log
    finally:
        browser.quit()
        server.stop()

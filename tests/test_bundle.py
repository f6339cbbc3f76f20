"""Evidence bundles: exported from the API and the admin, streamed, signed, and checked by verify_bundle."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.test import Client

from alerts import bundle
from alerts.models import Alert
from analysis.models import LLMAnalysis
from detection.assets import CLIP_CARS_TRUCK, asset_path, bundled_image
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db

CALIBRATION = {"image_points": [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]],
               "world_points": [[0, 0], [10, 0], [10, 30], [0, 30]]}  # fmt: skip


@pytest.fixture(autouse=True)
def _own_key(tmp_path: Path, settings) -> None:
    settings.EVIDENCE_SIGNING_KEY_FILE = tmp_path / "signing.pem"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("officer", password="x"))
    return client


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    target = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(asset_path(CLIP_CARS_TRUCK)), "-c", "copy", "-movflags",
                    "+faststart", str(target)], check=True)  # fmt: skip
    return target.read_bytes()


def alert_with_evidence(clip: bytes, user: User | None = None) -> Alert:
    camera = make_camera(calibration=CALIBRATION, rules={"speeding": {"over_limit_factor": 1.2}})
    analysis = LLMAnalysis.objects.create(event_key="e", camera=camera, status="ok", model="qwen-vl-max",
                                          prompt_version="v2-strip", verdict={"dangerous": True}, tokens_in=900,
                                          tokens_image=700, tokens_out=60, cost=0.002)  # fmt: skip
    analysis.event_key = f"e{analysis.pk}"
    analysis.save()
    alert = make_alert(camera, measurements={"speed_kmh": 71.0, "limit_kmh": 50}, analysis=analysis)
    alert.keyframe.save("k.jpg", ContentFile(bundled_image().read_bytes()), save=False)
    alert.crop.save("c.jpg", ContentFile(b"\xff\xd8crop"), save=False)
    alert.clip.save("v.mp4", ContentFile(clip), save=False)
    alert.clip_status, alert.clip_started_at, alert.clip_duration_s = "ready", alert.event_started_at, 3.0
    alert.save()
    if user is not None:
        Alert.objects.filter(pk=alert.pk).review("acknowledged", user)
        Alert.objects.filter(pk=alert.pk).review("confirmed", user, "plate read by officer")
    return alert


def download(response) -> bytes:
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response.streaming
    chunks = list(response.streaming_content)
    # Streamed: many pieces, none holding the archive (the clip goes out in 256 KiB chunks).
    assert len(chunks) > 5 and max(len(c) for c in chunks) <= bundle.CHUNK + 4096
    return b"".join(chunks)


def test_an_alert_exported_from_the_api_verifies_and_one_changed_byte_fails(
    staff: Client, clip_bytes: bytes, tmp_path: Path
) -> None:
    alert = alert_with_evidence(clip_bytes, User.objects.get(username="officer"))
    data = download(staff.get(f"/api/v1/alerts/{alert.pk}/bundle/"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("verify_bundle", str(path), stdout=out)
    assert f"ok alert {alert.pk}: 4 file(s)" in out.getvalue() and "VALID bundle.zip: 1 alert(s)" in out.getvalue()

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        document = json.loads(archive.read(f"alert-{alert.pk}/evidence.json"))
        assert archive.read(f"alert-{alert.pk}/clip.mp4") == clip_bytes
    assert names == {"public_key.pem", *(f"alert-{alert.pk}/{n}" for n in (
        "clip.mp4", "keyframe.jpg", "crop.jpg", "evidence.json", "manifest.json", "manifest.sig"))}  # fmt: skip
    assert document["measurements"] == {"speed_kmh": 71.0, "limit_kmh": 50}
    assert document["camera"]["calibration"] == CALIBRATION
    assert document["camera"]["calibration_hash"] == bundle.calibration_hash(CALIBRATION, [])
    assert document["camera"]["rule_thresholds"]["over_limit_factor"] == 1.2
    assert document["llm"]["prompt_version"] == "v2-strip" and document["llm"]["verdict"] == {"dangerous": True}
    assert [e["status"] for e in document["review"]["history"]] == ["acknowledged", "confirmed"]
    assert document["review"]["history"][1] | {"at": None} == {
        "status": "confirmed",
        "previous_status": "acknowledged",
        "by": "officer",
        "at": None,
        "note": "plate read by officer",
    }
    assert document["clip"]["event_start_in_clip_s"] == 0.0

    # One changed byte in the middle of the clip's data: the digest no longer matches the signed manifest.
    middle = data.index(clip_bytes[1000:1032]) + 16
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :])
    with pytest.raises(CommandError, match=r"INVALID tampered\.zip: .*clip\.mp4"):
        call_command("verify_bundle", str(tampered))


def test_a_changed_manifest_or_another_key_is_refused(staff: Client, clip_bytes: bytes, tmp_path: Path, settings
                                                       ) -> None:  # fmt: skip
    alert = alert_with_evidence(clip_bytes)
    data = download(staff.get(f"/api/v1/alerts/{alert.pk}/bundle/"))
    source = zipfile.ZipFile(io.BytesIO(data))
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w") as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith("manifest.json"):  # a forger rewrites a digest, keeps the signature
                content = content.replace(b'"bytes":', b'"bytes" :', 1)
            archive.writestr(info, content)
    forged = tmp_path / "forged.zip"
    forged.write_bytes(rebuilt.getvalue())
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_bundle", str(forged))
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    settings.EVIDENCE_SIGNING_KEY_FILE = tmp_path / "another-installation.pem"
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_bundle", str(good))


def test_several_alerts_export_from_the_admin_as_one_streamed_bundle(staff: Client, clip_bytes: bytes,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    alerts = [alert_with_evidence(clip_bytes) for _ in range(3)]
    response = staff.post("/admin/alerts/alert/", {"action": "export_bundle",
                                                   "_selected_action": [a.pk for a in alerts]})  # fmt: skip
    assert 'filename="evidence-3-alerts-' in response["Content-Disposition"]
    path = tmp_path / "three.zip"
    path.write_bytes(download(response))
    assert sorted(v.alert_id for v in bundle.verify(str(path))) == sorted(a.pk for a in alerts)


def test_the_api_refuses_unknown_alerts_and_anonymous_exports(staff: Client, clip_bytes: bytes) -> None:
    alert = alert_with_evidence(clip_bytes)
    response = staff.get(f"/api/v1/alerts/bundle/?ids={alert.pk},999999")
    assert response.status_code == 400 and "999999" in response.json()["ids"]
    assert Client().get(f"/api/v1/alerts/{alert.pk}/bundle/").status_code in (401, 403)
    both = staff.get(f"/api/v1/alerts/bundle/?ids={alert.pk}")
    assert both.status_code == 200 and download(both)[:2] == b"PK"

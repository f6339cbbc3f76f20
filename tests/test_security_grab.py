"""Issue 12, Medium 5 and the frame-size cap: "grab a frame" is a POST that needs the change
permission and decodes in a child process; FFmpeg follows no playlist to other URLs; camera hosts
may be held to a list of networks; oversized frames are refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from cameras.sources import Source, SourceKind
from detection.isolated_grab import IsolatedGrabError, grab_jpeg
from tests.factories import make_camera


class Recorder:
    """A tiny HTTP server that answers every GET with a fixed body and records the paths asked for."""

    def __init__(self, body: bytes = b"", content_type: str = "application/octet-stream") -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def playlist(segment_url: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{segment_url}\n#EXT-X-ENDLIST\n"
    ).encode()


def test_an_http_camera_serving_a_playlist_cannot_make_ffmpeg_fetch_another_url(elsewhere: Recorder) -> None:
    camera = Recorder(playlist(elsewhere.url("/internal/secret.ts")), "application/vnd.apple.mpegurl")
    try:
        with pytest.raises(IsolatedGrabError):
            grab_jpeg(Source(SourceKind.HTTP, camera.url("/live.m3u8")), timeout_s=3)
        assert camera.paths == ["/live.m3u8"]
    finally:
        camera.stop()
    assert elsewhere.paths == []


def test_a_video_file_that_is_a_playlist_cannot_reach_the_network(elsewhere: Recorder, tmp_path: Path) -> None:
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes(playlist(elsewhere.url("/internal/secret.ts")))
    with pytest.raises(IsolatedGrabError):
        grab_jpeg(Source(SourceKind.FILE, str(disguised)), timeout_s=3)
    assert elsewhere.paths == []


def test_a_frame_larger_than_8k_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 1, (7696, 4336))
    writer.write(np.zeros((4336, 7696, 3), dtype=np.uint8))
    writer.release()
    with pytest.raises(IsolatedGrabError, match="at most 7680x4320"):
        grab_jpeg(Source(SourceKind.FILE, str(path)), timeout_s=10)


@pytest.mark.django_db
def test_camera_hosts_can_be_held_to_allowed_networks(settings: Any) -> None:
    settings.CAMERA_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    with pytest.raises(ValidationError, match="outside the allowed networks"):
        make_camera(source_url="rtsp://127.0.0.1:8554/live")
    make_camera(source_url="rtsp://10.20.3.4:554/live")
    with pytest.raises(IsolatedGrabError, match="outside the allowed networks"):
        grab_jpeg(Source(SourceKind.RTSP, "rtsp://127.0.0.1:9/live"), timeout_s=2)


@pytest.mark.django_db
def test_grabbing_is_a_post_that_needs_the_change_permission(client: Client) -> None:
    camera = make_camera()
    viewer = User.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_camera"))
    client.force_login(viewer)
    url = reverse("admin:cameras_camera_grab", args=[camera.pk])
    page = client.get(url).content.decode()
    assert 'id="grab-image"' not in page and 'id="grab-denied"' in page  # a GET opens nothing
    assert client.post(url).status_code == 403
    calibrate = client.get(reverse("admin:cameras_camera_calibrate", args=[camera.pk])).content.decode()
    assert "No frame grabbed yet" in calibrate  # a viewer does not make the server open the source

    editor = User.objects.create_user("editor", password="a-long-editor-password", is_staff=True)
    editor.user_permissions.set(Permission.objects.filter(codename__in=["view_camera", "change_camera"]))
    client.force_login(editor)
    assert 'id="grab-image"' not in client.get(url).content.decode()
    grabbed = client.post(url).content.decode()
    assert 'id="grab-image" src="data:image/jpeg;base64,' in grabbed and "800&times;600 pixels" in grabbed

"""Camera source URLs, credential masking, and the road-plane homography."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from cameras.geometry import CalibrationError, fit_homography
from cameras.sources import SourceKind, parse_source
from core.redact import key_id, mask_key, mask_url, restore_masked_url
from detection.assets import CLIP_CARS_TRUCK, asset_path


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://admin:pw@cam.example:554/Streaming/Channels/101", SourceKind.RTSP),
        ("rtsps://cam.example/live", SourceKind.RTSP),
        ("http://cam.example/video.mjpg", SourceKind.HTTP),
        ("https://cam.example:8443/mjpeg", SourceKind.HTTP),
    ],
)
def test_stream_urls_are_accepted(url: str, kind: SourceKind) -> None:
    assert parse_source(url).kind is kind


def test_a_video_file_under_an_allowed_folder_is_accepted_as_path_or_file_url() -> None:
    path = asset_path(CLIP_CARS_TRUCK)
    assert parse_source(str(path)) == parse_source(f"file://{path}")
    assert parse_source(str(path)).kind is SourceKind.FILE


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the camera's stream URL"),
        ("ftp://cam/x", "Unsupported scheme 'ftp'"),
        ("rtsp:///live", "has no host name"),
        ("rtsp://cam.example:99999/live", "is not a number from 0 to 65535"),
        ("rtsp://cam .example/live", "must not contain spaces"),
        ("cam.example/live", "Give a full URL"),
        ("/etc/passwd", "must lie under one of the allowed folders"),
        ("file://otherhost/video.mp4", "must point to this machine"),
    ],
)
def test_bad_sources_get_a_specific_error(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_source(url)
    assert message in info.value.messages[0]


def test_a_missing_or_non_video_file_is_refused(settings, tmp_path) -> None:
    settings.CAMERA_FILE_ROOTS = [tmp_path]
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValidationError, match="does not look like a video file"):
        parse_source(str(tmp_path / "notes.txt"))
    with pytest.raises(ValidationError, match="No such video file"):
        parse_source(str(tmp_path / "gone.mp4"))
    with pytest.raises(ValidationError, match="allowed folders"):
        parse_source(str(tmp_path / ".." / "escape.mp4"))


def test_credentials_are_masked_everywhere_in_free_text() -> None:
    assert mask_url("rtsp://admin:hunter2@cam.example/live") == "rtsp://admin:***@cam.example/live"
    assert mask_url("rtsp://token@cam.example/live") == "rtsp://token:***@cam.example/live"
    assert mask_url("rtsp://cam.example/live") == "rtsp://cam.example/live"
    text = "open failed: rtsp://a:b@h1/x then http://u:p@h2/y"
    assert mask_url(text) == "open failed: rtsp://a:***@h1/x then http://u:***@h2/y"
    assert mask_key("sk-abcdef0123456789") == "…6789"
    assert key_id("sk-abcdef0123456789") == key_id("sk-abcdef0123456789") != key_id("sk-other")


def test_a_masked_url_from_a_form_gets_its_stored_password_back() -> None:
    stored = "rtsp://admin:hunter2@cam.example/live"
    assert restore_masked_url("rtsp://admin:***@cam.example/sub", stored) == "rtsp://admin:hunter2@cam.example/sub"
    assert restore_masked_url("rtsp://other:***@cam.example/live", stored) is None
    assert restore_masked_url("rtsp://admin:new@cam.example/live", stored) == "rtsp://admin:new@cam.example/live"


def test_the_homography_reproduces_a_known_projective_mapping() -> None:
    truth = np.array([[30.0, 5.0, -2.0], [1.0, 60.0, -10.0], [0.2, 1.5, 1.0]])
    image = np.array([[0.1, 0.4], [0.9, 0.38], [0.95, 0.95], [0.05, 0.97], [0.5, 0.6], [0.3, 0.8]])
    homog = np.hstack([image, np.ones((6, 1))]) @ truth.T
    world = homog[:, :2] / homog[:, 2:3]
    fitted = fit_homography(image[:4].tolist(), world[:4].tolist())
    assert np.allclose(fitted.to_world(image), world, atol=1e-6)  # points not used in the fit, too
    assert np.allclose(fitted.to_image(world), image, atol=1e-9)
    assert fitted.rms_error_m < 1e-6
    least_squares = fit_homography(image.tolist(), world.tolist())
    assert np.allclose(least_squares.to_world(image), world, atol=1e-6)


@pytest.mark.parametrize(
    ("image", "world", "message"),
    [
        ([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], [[0, 0], [10, 0], [10, 10], [0, 10], [5, 5]], "pair up"),
        ([[0.1, 0.1], [0.1, 0.1], [0.9, 0.9], [0.1, 0.9]], [[0, 0], [10, 0], [10, 10], [0, 10]], "same point"),
        ([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], [[0, 0], [10, 0], [0, 10], [10, 10]], "folds"),
        ([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [1.5, 0.9]], [[0, 0], [10, 0], [10, 10], [0, 10]], "within 0..1"),
        ([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], ["a", 0.9]], [[0, 0], [10, 0], [10, 10], [0, 10]], "numbers"),
        (
            [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9], [0.5, 0.5]],
            [[0, 0], [10, 0], [10, 10], [0, 10], [9, 1]],
            "do not fit one flat road plane",
        ),
    ],
)
def test_degenerate_calibrations_are_refused_with_the_reason(image, world, message) -> None:
    with pytest.raises(CalibrationError, match=message):
        fit_homography(image, world)

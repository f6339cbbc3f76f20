"""Frames as the camera process sends them (shrunk; raw pixels or JPEG) give the boxes of the full frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cameras.config import ROAD_USER_CLASSES
from detection import framecodec, framestore
from detection.assets import CLIP_CARS_TRUCK, verify
from detection.detect_job import run_detect_job
from detection.detector import detect

pytestmark = pytest.mark.slow


def iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def clip_frame(index: int = 30) -> np.ndarray:
    cap = cv2.VideoCapture(str(verify(CLIP_CARS_TRUCK)))
    for _ in range(index + 1):
        ok, image = cap.read()
        assert ok
    cap.release()
    return np.asarray(image, dtype=np.uint8)


def test_a_raw_frame_is_shrunk_to_the_models_size_and_comes_back_exact() -> None:
    image = clip_frame()
    assert image.shape == (600, 800, 3)
    payload = framecodec.encode(image, "raw")
    assert payload is not None and len(payload) == 10 + 640 * 480 * 3
    decoded = framecodec.decode_raw(payload)
    assert decoded is not None and decoded.shape == (480, 640, 3)
    assert np.array_equal(decoded, framecodec.shrink(image))
    # A frame already at the model's size (or smaller) goes as it is, not enlarged.
    small = np.ascontiguousarray(image[:300, :400])
    payload = framecodec.encode(small, "raw")
    assert payload is not None and np.array_equal(framecodec.decode_raw(bytes(payload)), small)


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_the_shrunk_frame_gives_the_boxes_of_the_full_frame(fmt: str) -> None:
    image = clip_frame()
    full = detect(image, confidence=0.4, classes=ROAD_USER_CLASSES).boxes
    fkey, rkey = framestore.frame_key(9, fmt, 0), framestore.reply_key(9, fmt)
    payload = framecodec.encode(image, fmt)
    assert payload is not None
    framestore.put_frame(fkey, payload)
    result = run_detect_job(
        camera_id=9, seq=0, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=ROAD_USER_CLASSES, size=[800, 600]
    )
    assert result["size"] == [800, 600]
    got = result["boxes"]
    assert len(full) >= 3
    if fmt == "raw":  # the same pixels reach the model: the same boxes, to the rounding
        assert [b["cls"] for b in got] == [b.cls for b in full]
        for box, ref in zip(got, full, strict=True):
            assert np.allclose(box["xyxy"], ref.xyxy, atol=1e-4) and abs(box["conf"] - ref.conf) < 1e-3
    else:  # JPEG changes a few pixels: boxes near the threshold may come and go, the clear ones stay
        clear = [ref for ref in full if ref.conf >= 0.6]
        assert clear
        for ref in clear:
            assert max(iou(box["xyxy"], ref.xyxy) for box in got) > 0.9, ref


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (framecodec.RAW_MAGIC + b"\x80\x02\xe0\x01" + bytes(100), "a raw 640x480 frame of 110 bytes, expected 921610"),
        (framecodec.RAW_MAGIC + b"\x01", "a raw frame cut short in its header (7 bytes)"),
    ],
)
def test_a_malformed_raw_frame_gets_a_clear_error(payload: bytes, message: str) -> None:
    fkey, rkey = framestore.frame_key(10, "raw-bad", 0), framestore.reply_key(10, "raw-bad")
    framestore.put_frame(fkey, payload)
    result = run_detect_job(camera_id=10, seq=0, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=["car"])
    assert result["error"] == f"the frame is not a usable image: {message}"

"""The INT8 detector against fp32 on real frames, and the cached model's checks.

Frames: every 4th frame of both bundled clips and Ultralytics' bus.jpg. Agreement: the share of
fp32's boxes that int8 also finds (same class, IoU >= 0.5); the issue asks for >= 0.95 and for no
class that fp32 finds to be missing from int8's output. Geometry: where the found boxes lie against
fp32's, as a speed measurement sees them (detection/boxmatch.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cameras.config import ROAD_USER_CLASSES
from detection import quantize
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK, bundled_image
from detection.boxmatch import Agreement, Pair, iou, p95
from detection.clipframes import clip_images
from detection.detector import detect, model_path

pytestmark = pytest.mark.slow
CONFIDENCE = 0.25  # low on purpose: boxes near the threshold are where a quantized model drifts first


def real_frames(with_next: bool = False) -> list[np.ndarray]:
    """bus.jpg, and every 4th frame of both clips (``with_next``: each followed by the frame after it)."""
    frames = [np.asarray(cv2.imread(str(bundled_image())))]
    for clip in (CLIP_CARS_TRUCK, CLIP_CARS_CYCLIST):
        frames += [
            image for index, image in enumerate(clip_images(clip)) if index % 4 == 0 or (with_next and index % 4 == 1)
        ]
    return frames


def test_int8_finds_what_fp32_finds_on_real_frames() -> None:
    matched = total = 0
    fp32_classes: set[str] = set()
    int8_classes: set[str] = set()
    frames = real_frames()
    assert len(frames) > 20
    for frame in frames:
        ref = detect(frame, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES, precision="fp32").boxes
        got = detect(frame, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES, precision="int8").boxes
        fp32_classes |= {box.cls for box in ref}
        int8_classes |= {box.cls for box in got}
        total += len(ref)
        matched += sum(any(g.cls == r.cls and iou(g, r) >= 0.5 for g in got) for r in ref)
    print(f"int8 vs fp32: {matched}/{total} = {matched / total:.3f} of fp32's boxes, classes {sorted(fp32_classes)}")
    assert total > 100, total  # the frames are busy enough for the share to mean something
    assert {"car", "truck", "person", "bus"} <= fp32_classes
    assert fp32_classes <= int8_classes, fp32_classes - int8_classes
    assert matched / total >= 0.95, f"{matched}/{total} fp32 boxes found by int8"


def test_int8_boxes_lie_where_fp32_boxes_lie() -> None:
    """Speeds come from the bottom-centre of boxes across frames: int8's bottom edge and centre x, and
    their motion from one frame to the next, against fp32's, in frame pixels (800x600 clips).

    The bounds sit above what the recipe gives (bottom error mean 0.37 px, p95 0.99 px; motion p95 1.23
    bottom, 1.35 centre x) and below what worse recipes gave on these frames (bench/int8_boxes.py):
    reduce_range (7-bit weights) a mean of 0.51 px and a motion centre x p95 of 1.75 px, Percentile
    calibration a bottom p95 of 1.51 px and a motion bottom p95 of 1.70 px.
    """
    agreement = Agreement()
    before: list[Pair] = []
    for index, frame in enumerate(real_frames(with_next=True)):
        ref = detect(frame, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES, precision="fp32").boxes
        got = detect(frame, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES, precision="int8").boxes
        height, width = frame.shape[:2]
        pairs = agreement.add(ref, got, width, height)
        if index % 2 == 0 and index:  # the frame after a sampled one (index 0 is bus.jpg)
            agreement.add_step(before, pairs, width, height)
        before = pairs
    print("int8 vs fp32:", "; ".join(agreement.lines()))
    assert len(agreement.step_bottom) > 100, len(agreement.step_bottom)  # enough road users in motion
    assert float(np.mean(np.abs(agreement.bottom))) <= 0.45
    assert p95(agreement.bottom) <= 1.3
    assert p95(agreement.centre_x) <= 1.6
    assert p95(agreement.step_bottom) <= 1.5
    assert p95(agreement.step_centre_x) <= 1.6


def test_int8_precision_uses_the_cached_int8_model(settings) -> None:
    settings.DETECT_PRECISION = "int8"
    path = model_path()
    assert path == quantize.int8_path()
    assert path.name.startswith("yolov8n-int8-") and quantize.inputs_key()[:16] in path.name


def test_a_corrupt_or_stale_int8_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    cached = quantize.verified_int8_path()
    copy = tmp_path / cached.name
    shutil.copy(cached, copy)
    shutil.copy(cached.with_suffix(".json"), copy.with_suffix(".json"))
    assert quantize.verified_int8_path(tmp_path) == copy
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(quantize.QuantizeError, match=r"is corrupt: sha256 .* Run `python manage.py quantize_model`"):
        quantize.verified_int8_path(tmp_path)
    record = json.loads(copy.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**record, "inputs_sha256": "0" * 64}))
    with pytest.raises(quantize.QuantizeError, match="made from other inputs"):
        quantize.verified_int8_path(tmp_path)
    copy.unlink()
    with pytest.raises(quantize.QuantizeError, match="is not in"):
        quantize.verified_int8_path(tmp_path)


def test_quantizing_again_gives_the_same_bytes(tmp_path: Path) -> None:
    cached = quantize.verified_int8_path()
    again = quantize.build_int8(tmp_path, force=True)
    assert again.name == cached.name
    assert again.read_bytes() == cached.read_bytes()

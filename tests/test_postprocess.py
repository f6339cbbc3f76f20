"""The detector's input and output arithmetic against straightforward references, on real frames.

``postprocess`` thresholds first and decodes only the few anchors that pass; the reference here is
the plain version it replaced (argmax of every anchor, then the filters, then greedy NMS). ``to_blob``
splits planes instead of calling ``cv2.dnn.blobFromImage``; the floats must be the same bits, since
the INT8 model was calibrated on them.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from cameras.config import COCO_CLASSES, ROAD_USER_CLASSES
from detection import detector
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK, bundled_image, verify
from detection.detector import (
    IOU_THRESHOLD,
    MAX_DETECTIONS,
    PRIVACY_CLASSES,
    PRIVACY_CONFIDENCE,
    Box,
    load_session,
    postprocess,
    postprocess_passes,
)
from detection.letterbox import Letterbox, letterbox, to_blob

pytestmark = pytest.mark.slow
Output = npt.NDArray[np.float32]


def reference_postprocess(output: Output, box: Letterbox, *, confidence: float, classes: list[str]) -> list[Box]:
    """Ultralytics' order done the plain way: every anchor's best class, the filters, then greedy NMS
    class by class, highest score first."""
    preds = output[0].T.astype(np.float64)
    best = preds[:, 4:].argmax(axis=1)
    conf = preds[np.arange(len(preds)), 4 + best]
    wanted = [COCO_CLASSES.index(name) for name in classes]
    rows = [i for i in range(len(preds)) if conf[i] > confidence and best[i] in wanted]
    rows.sort(key=lambda i: -conf[i])  # Python's sort is stable: ties keep anchor order

    def xyxy(i: int) -> tuple[float, float, float, float]:
        cx, cy, w, h = preds[i, :4]
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-7)

    kept: list[int] = []
    for i in rows:
        if all(best[k] != best[i] or iou(xyxy(k), xyxy(i)) <= IOU_THRESHOLD for k in kept):
            kept.append(i)
    boxes = []
    for i in kept[:MAX_DETECTIONS]:
        x1, y1, x2, y2 = xyxy(i)
        fx1, fx2 = (min(max((x - box.left) / box.scale, 0), box.width) / box.width for x in (x1, x2))
        fy1, fy2 = (min(max((y - box.top) / box.scale, 0), box.height) / box.height for y in (y1, y2))
        boxes.append(Box(cls=COCO_CLASSES[best[i]], conf=float(conf[i]), xyxy=(fx1, fy1, fx2, fy2)))
    return boxes


def real_frames(step: int = 5) -> list[np.ndarray]:
    frames = [np.asarray(cv2.imread(str(bundled_image())))]
    for clip in (CLIP_CARS_TRUCK, CLIP_CARS_CYCLIST):
        cap = cv2.VideoCapture(str(verify(clip)))
        index = 0
        while (read := cap.read())[0]:
            if index % step == 0:
                frames.append(read[1])
            index += 1
        cap.release()
    return frames


@pytest.fixture(scope="module")
def model_outputs() -> list[tuple[Output, Letterbox]]:
    outputs = []
    for precision in ("int8", "fp32"):
        session = load_session(precision)
        for frame in real_frames():
            canvas, box = letterbox(frame)
            outputs.append((session.run(None, {"images": to_blob(canvas)})[0], box))
    return outputs


@pytest.mark.parametrize("confidence", [0.25, 0.4, 0.7])
@pytest.mark.parametrize("classes", [ROAD_USER_CLASSES, ["car"], ["person", "bus"], COCO_CLASSES])
def test_postprocess_gives_the_boxes_of_the_plain_reference_on_real_frames(
    model_outputs: list[tuple[Output, Letterbox]], confidence: float, classes: list[str]
) -> None:
    total = 0
    for output, box in model_outputs:
        got = postprocess(output, box, confidence=confidence, classes=classes)
        ref = reference_postprocess(output, box, confidence=confidence, classes=classes)
        assert [b.cls for b in got] == [b.cls for b in ref]
        for mine, theirs in zip(got, ref, strict=True):
            assert abs(mine.conf - theirs.conf) < 1e-4
            assert np.allclose(mine.xyxy, theirs.xyxy, atol=2e-5), (mine, theirs)
        total += len(got)
    if confidence < 0.7 and classes != ["person", "bus"]:
        assert total > 20  # the comparison saw real boxes, not only empty frames


@pytest.mark.parametrize(
    ("confidence", "classes"), [(0.1, ROAD_USER_CLASSES), (0.25, ["car"]), (0.4, ["bicycle", "truck"])]
)
def test_the_privacy_pass_shares_one_nms_and_gives_what_it_gives_alone(
    model_outputs: list[tuple[Output, Letterbox]], confidence: float, classes: list[str]
) -> None:
    """The detector filters one output twice (the camera's classes, the privacy pass) with one NMS over
    both: each filter's boxes must be those of postprocess run on that filter alone."""
    total = 0
    for output, box in model_outputs:
        camera, private = postprocess_passes(
            output, box, [(confidence, classes), (PRIVACY_CONFIDENCE, PRIVACY_CLASSES)]
        )
        assert camera == postprocess(output, box, confidence=confidence, classes=classes)
        assert private == postprocess(output, box, confidence=PRIVACY_CONFIDENCE, classes=PRIVACY_CLASSES)
        total += len(camera) + len(private)
    assert total > 100


def test_nms_over_many_candidates_keeps_the_boxes_of_the_matrix_pass(
    model_outputs: list[tuple[Output, Letterbox]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past _NMS_MATRIX_MAX candidates NMS goes box by box (memory); both ways keep the same boxes."""
    many = [postprocess(output, box, confidence=0.01, classes=COCO_CLASSES) for output, box in model_outputs[:6]]
    monkeypatch.setattr(detector, "_NMS_MATRIX_MAX", 0)
    assert [
        postprocess(output, box, confidence=0.01, classes=COCO_CLASSES) for output, box in model_outputs[:6]
    ] == many
    assert sum(map(len, many)) > 6 * 20


def test_an_anchor_whose_best_class_is_not_wanted_is_dropped_not_demoted() -> None:
    output = np.zeros((1, 84, 8400), dtype=np.float32)
    output[0, :4, 10] = (320, 320, 100, 80)
    output[0, 4 + COCO_CLASSES.index("train"), 10] = 0.9
    output[0, 4 + COCO_CLASSES.index("car"), 10] = 0.6
    box = Letterbox.of(640, 640)
    assert postprocess(output, box, confidence=0.4, classes=["car"]) == []
    [train] = postprocess(output, box, confidence=0.4, classes=["car", "train"])
    assert train.cls == "train" and train.conf == 0.9
    assert train.xyxy == pytest.approx((0.421875, 0.4375, 0.578125, 0.5625), abs=1e-5)


def test_to_blob_gives_blob_from_images_floats_bit_for_bit() -> None:
    for frame in real_frames(step=30):
        canvas, _ = letterbox(frame)
        expected = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
        assert to_blob(canvas).tobytes() == expected.tobytes()
        reused = np.full((1, 3, 640, 640), np.nan, dtype=np.float32)
        assert to_blob(canvas, out=reused) is reused
        assert reused.tobytes() == expected.tobytes()


def test_to_blob_refuses_a_buffer_of_another_shape() -> None:
    canvas = np.zeros((640, 640, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="a blob of"):
        to_blob(canvas, out=np.empty((1, 3, 640, 480), dtype=np.float32))

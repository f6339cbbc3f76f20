"""The rect canvas: Ultralytics' minimal-padding letterbox, and the model re-sized to run on it.

The model re-sized to 640x640 must be the model (same output, bit for bit); re-sized to a rect
canvas it must find the boxes the square canvas finds (same class, IoU >= 0.5), with bottom edges
(where speeds are measured) where the square canvas puts them, on real frames of 4:3 and 16:9.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from django.test import override_settings
from onnx import TensorProto, helper

from cameras.config import ROAD_USER_CLASSES
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK
from detection.boxmatch import Agreement, iou
from detection.clipframes import clip_images
from detection.detector import detect, model_path, session_options
from detection.letterbox import Letterbox, letterbox, to_blob
from detection.model_shape import ModelShapeError, anchor_grid, resized_model

CONFIDENCE = 0.25


def clip_frames(every: int = 6) -> list[np.ndarray]:
    """Frames of both bundled clips (800x600), and the same frames cropped to 16:9 (800x450) and
    scaled up to 1280x720, the two shapes cameras come in."""
    frames = [image for clip in (CLIP_CARS_TRUCK, CLIP_CARS_CYCLIST) for i, image in enumerate(clip_images(clip))
              if i % every == 0]  # fmt: skip
    wide = [np.ascontiguousarray(cv2.resize(f[75:525], (1280, 720), interpolation=cv2.INTER_LINEAR)) for f in frames]
    return frames + wide


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 720), (1920, 1080), (800, 600), (640, 480), (704, 576), (1000, 333), (480, 640)]
)
def test_the_rect_letterbox_gives_the_pixels_ultralytics_predictor_gives(width: int, height: int) -> None:
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(width * height)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ours, box = letterbox(image, canvas="rect")
    theirs = LetterBox(new_shape=(640, 640), auto=True, stride=32)(image=image)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert np.array_equal(ours, theirs)
    assert (box.canvas_width, box.canvas_height) == (ours.shape[1], ours.shape[0])
    assert box.canvas_width % 32 == 0 and box.canvas_height % 32 == 0


def test_a_16_9_frame_gets_a_640x384_canvas_and_a_4_3_frame_640x480() -> None:
    for (width, height), canvas in [((1280, 720), (640, 384)), ((800, 600), (640, 480)), ((600, 800), (480, 640))]:
        box = Letterbox.of(width, height, canvas="rect")
        assert (box.canvas_width, box.canvas_height) == canvas
    assert Letterbox.of(1280, 720).canvas_height == 640  # square stays the default of the letterbox itself
    with pytest.raises(ValueError, match="unknown canvas 'round'"):
        Letterbox.of(1280, 720, canvas="round")


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_model_resized_to_its_own_size_is_the_model(precision: str) -> None:
    import onnxruntime as ort

    path = model_path(precision)
    original = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    same = ort.InferenceSession(resized_model(path.read_bytes(), 640, 640), session_options(),
                                providers=["CPUExecutionProvider"])  # fmt: skip
    blob = to_blob(letterbox(next(iter(clip_images(CLIP_CARS_TRUCK))))[0])
    assert np.array_equal(original.run(None, {"images": blob})[0], same.run(None, {"images": blob})[0])


def test_the_resized_model_outputs_one_cell_per_anchor_of_its_canvas() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(resized_model(model_path("fp32").read_bytes(), 640, 384), session_options(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    canvas, _ = letterbox(np.full((720, 1280, 3), 90, dtype=np.uint8), canvas="rect")
    (output,) = session.run(None, {"images": to_blob(canvas)})
    points, _ = anchor_grid(640, 384)
    assert output.shape == (1, 84, points.shape[2]) == (1, 84, 80 * 48 + 40 * 24 + 20 * 12)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_rect_canvas_finds_the_boxes_the_square_canvas_finds(precision: str) -> None:
    """Same class and IoU >= 0.5 for the square canvas's boxes of confidence 0.4 and more (the lowest
    a camera tracks); bottom edges within a pixel on average. Boxes near the threshold may drift across
    it either way, as they do between precisions, so they are matched at the lower threshold."""
    matched = total = 0
    agreement = Agreement()
    for frame in clip_frames():
        boxes = {}
        for canvas in ("square", "rect"):
            with override_settings(DETECT_CANVAS=canvas):
                found = detect(frame, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES, precision=precision)
            boxes[canvas] = found.boxes
        sure = [b for b in boxes["square"] if b.conf >= 0.4]
        total += len(sure)
        matched += sum(any(r.cls == s.cls and iou(r, s) >= 0.5 for r in boxes["rect"]) for s in sure)
        agreement.add(sure, boxes["rect"], frame.shape[1], frame.shape[0])
    bottom = np.abs(agreement.bottom)
    print(f"{precision} rect vs square: {matched}/{total} boxes, bottom |err| mean {bottom.mean():.2f} px")
    assert total > 120, total  # busy enough frames for the share to mean something
    assert matched / total >= 0.97, f"{matched}/{total}"
    assert float(bottom.mean()) < 1.0


def test_a_model_without_yolov8s_decode_is_refused_with_what_is_missing() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["images"], ["output0"])],
        "not-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 640, 640])],
    )
    model = helper.make_model(graph).SerializeToString()
    with pytest.raises(ModelShapeError, match="not a YOLOv8 export at 640x640"):
        resized_model(model, 640, 384)
    with pytest.raises(ValueError, match="not a multiple of the model's stride 32"):
        resized_model(model, 640, 360)

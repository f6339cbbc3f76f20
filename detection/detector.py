"""YOLO object detection: the bundled YOLOv8n, int8 or fp32, on ONNX Runtime directly.

``settings.DETECT_PRECISION`` picks the model (by default int8 where the CPU has an 8-bit dot product,
fp32 elsewhere, core/cpu.py): ``int8`` is the statically quantized model that ``manage.py
quantize_model`` makes from the bundled weights (detection/quantize.py), 1.7x the fp32 throughput on a
VNNI CPU with 97 % of its boxes; ``fp32`` the bundled weights themselves. Both are checked (sha256)
when loaded, once per process (a Celery prefork child), on first use.

``settings.DETECT_CANVAS`` picks the input: ``rect`` (default) pads a frame only to a multiple of 32,
and the model runs re-sized for that canvas (detection/model_shape.py, one session per canvas size
and process); ``square`` pads to the 640x640 the model was exported for.

Pre- and post-processing are the few numpy/OpenCV lines YOLOv8's ONNX output needs (letterbox,
best class per anchor, class-aware greedy NMS, boxes back to the frame), with Ultralytics' rules
and thresholds (IoU 0.7, at most 300 boxes): Ultralytics itself would cost a PyTorch import
(hundreds of MB per worker) and a tensor round trip per frame for the same arithmetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from django.conf import settings

from cameras.config import COCO_CLASSES, VEHICLE_CLASSES
from detection.assets import YOLO_WEIGHTS, verify
from detection.farfield import Tile, merge, to_frame
from detection.letterbox import Blob, Letterbox, letterbox, to_blob
from detection.model_shape import EXPORTED_SIZE, resized_model

Image = npt.NDArray[np.uint8]
IOU_THRESHOLD = 0.7  # Ultralytics' default for predict
MAX_DETECTIONS = 300
_CLASS_OFFSET = 7680.0  # shifts each class's boxes apart so one NMS pass keeps classes separate
# The privacy pass: people (faces) and vehicles (plates) in every detected frame, whatever classes the
# camera tracks, for the pixelation of what goes to the cloud (analysis/privacy.py). From the same
# model output, so it costs a second class filter and NMS, not a second inference. Its threshold is low
# on purpose: a false region only costs a pixelated patch, a missed one shows a face.
PRIVACY_CLASSES = ["person", *sorted(VEHICLE_CLASSES)]
PRIVACY_CONFIDENCE = 0.15


class FrameError(ValueError):
    """The frame cannot be used: missing, empty or not a decodable image. The message says which."""


@dataclass(frozen=True)
class Box:
    cls: str
    conf: float
    xyxy: tuple[float, float, float, float]  # normalized to the frame: x / width, y / height

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies field by field, 25 us a box (20 boxes a frame).
        return {"cls": self.cls, "conf": self.conf, "xyxy": list(self.xyxy)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Box:
        x1, y1, x2, y2 = data["xyxy"]
        return cls(cls=data["cls"], conf=float(data["conf"]), xyxy=(x1, y1, x2, y2))


@dataclass(frozen=True)
class Detection:
    boxes: list[Box]
    width: int
    height: int
    inference_ms: float  # letterbox + model + NMS
    private: list[Box] = field(default_factory=list)  # the privacy pass: people and vehicles, any camera


def decode_jpeg(data: bytes | bytearray | None) -> Image:
    if data is None:
        raise FrameError("the frame is no longer in the frame store (expired before detection)")
    if not data:
        raise FrameError("the frame is empty (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FrameError(f"the frame is not a decodable image ({len(data)} bytes, starting {data[:8].hex()})")
    return np.asarray(image, dtype=np.uint8)


def decode_frame(data: bytes | bytearray | None) -> Image:
    """A frame from the frame store: the camera process's raw pixels, or a JPEG (detection/framecodec.py)."""
    from detection.framecodec import FrameFormatError, decode_raw

    if data:
        try:
            image = decode_raw(data)
        except FrameFormatError as exc:
            raise FrameError(f"the frame is not a usable image: {exc}") from None
        if image is not None:
            return image
    return decode_jpeg(data)


def session_options() -> Any:
    """ONNX Runtime options for a detect worker (and for the benchmark's baseline, to compare alike).

    Spinning is off: by default ORT's idle threads busy-wait between operators, which on a small
    machine steals the CPU that capture, Celery and Redis need on the same cores.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.DETECT_THREADS
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def model_path(precision: str | None = None) -> Path:
    """The verified model file of a precision (default: ``settings.DETECT_PRECISION``)."""
    precision = precision or settings.DETECT_PRECISION
    if precision == "fp32":
        return verify(YOLO_WEIGHTS)
    if precision == "int8":
        from detection.quantize import verified_int8_path

        return verified_int8_path()
    raise ValueError(f"unknown detect precision {precision!r}: expected int8 or fp32")


def load_session(precision: str | None = None, canvas: tuple[int, int] = EXPORTED_SIZE) -> Any:
    """The process's ONNX Runtime session for a precision (default: ``settings.DETECT_PRECISION``) and
    a canvas of (width, height) pixels (default: the 640x640 the model was exported for)."""
    return _session(precision or settings.DETECT_PRECISION, canvas)


_sessions: dict[tuple[str, tuple[int, int]], Any] = {}
_sessions_lock = threading.Lock()


def _session(precision: str, canvas: tuple[int, int]) -> Any:
    """One session per precision, canvas size and process, shared by the detect worker's threads
    (``run`` is thread-safe); the lock keeps two threads' first frames from building two. A camera
    keeps its frame size, so a worker holds a session for each aspect ratio it serves (a few MB each)."""
    import onnxruntime as ort

    with _sessions_lock:
        key = (precision, canvas)
        if key not in _sessions:
            path = model_path(precision)
            model: str | bytes = str(path)
            if canvas != EXPORTED_SIZE:
                model = resized_model(path.read_bytes(), *canvas)
            _sessions[key] = ort.InferenceSession(model, session_options(), providers=["CPUExecutionProvider"])
        return _sessions[key]


def class_ids(classes: Sequence[str]) -> list[int]:
    return [COCO_CLASSES.index(name) for name in classes]


def postprocess(output: npt.NDArray[np.float32], box: Letterbox, *, confidence: float, classes: list[str]) -> list[Box]:
    """YOLOv8's raw output (1 x 84 x anchors) to boxes normalized to the frame, as Ultralytics does it."""
    return postprocess_passes(output, box, [(confidence, classes)])[0]


def postprocess_passes(
    output: npt.NDArray[np.float32], box: Letterbox, passes: Sequence[tuple[float, Sequence[str]]]
) -> list[list[Box]]:
    """The boxes of several (confidence, classes) filters of one model output, each as ``postprocess``
    alone would give them, for the cost of one: the camera's classes and the privacy pass.

    Ultralytics' order (its ``non_max_suppression``): an anchor is a candidate when its best score
    over all 80 classes passes ``confidence``; its class is that best one, and then the classes
    filter it (an anchor whose best class is not wanted is dropped, not demoted to a wanted class).
    The threshold comes first, on the contiguous 80 x anchors block: of 8,400 anchors only a few
    dozen pass the lowest threshold, and only those are argmaxed and decoded (0.1 ms, against 1.5 ms
    for argmax over every anchor).

    One NMS serves every filter: NMS is per class, and within a class each filter keeps the anchors
    above its threshold, i.e. a prefix of the class's anchors by score. Greedy NMS never lets a box
    suppress a higher-scored one, so NMS over the union, restricted to a filter, is NMS of that filter.
    """
    scores = output[0, 4:]  # 80 class scores x anchors
    best_score = scores.max(axis=0)
    candidates = np.flatnonzero(best_score > min(confidence for confidence, _ in passes))
    if not candidates.size:
        return [[] for _ in passes]
    best = scores[:, candidates].argmax(axis=0)
    conf = best_score[candidates]
    wanted = [(conf > confidence) & np.isin(best, class_ids(classes)) for confidence, classes in passes]
    used = np.logical_or.reduce(wanted)
    if not used.any():
        return [[] for _ in passes]
    candidates, best, conf = candidates[used], best[used], conf[used]
    cx, cy, w, h = output[0, :4][:, candidates]  # 4 x candidates: centre and size in model pixels
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kept = _nms(xyxy + best[:, None] * _CLASS_OFFSET, conf)
    frame_xyxy = box.to_frame(xyxy[kept])
    scale = np.array([box.width, box.height, box.width, box.height], dtype=np.float32)
    boxes = [
        Box(cls=COCO_CLASSES[c], conf=round(p, 4),
            xyxy=(round(x1, 5), round(y1, 5), round(x2, 5), round(y2, 5)))
        for (x1, y1, x2, y2), p, c in zip((frame_xyxy / scale).tolist(), conf[kept].tolist(), best[kept].tolist(),
                                          strict=True)
    ]  # fmt: skip
    return [[b for b, keep in zip(boxes, mask[used][kept].tolist(), strict=True) if keep][:MAX_DETECTIONS]
            for mask in wanted]  # fmt: skip


# Up to this many candidates NMS compares them all at once (a 256 x 256 IoU matrix is 0.25 MB);
# beyond it (a low threshold on every class) box by box, so that memory stays small.
_NMS_MATRIX_MAX = 256


def _nms(xyxy: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression, highest score first: the kept indices, in that order.

    The few dozen candidates left after the confidence filter get their IoUs in one matrix; the
    greedy pass then only reads rows (the same float32 arithmetic as box by box, so the same boxes).
    """
    order = scores.argsort(kind="stable")[::-1]
    if order.size > _NMS_MATRIX_MAX:
        return _nms_by_box(xyxy, order)
    boxes = xyxy[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w = (np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])).clip(0)
    h = (np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])).clip(0)
    inter = w * h
    overlaps = inter / (areas[:, None] + areas[None, :] - inter + 1e-7) > IOU_THRESHOLD
    keep = np.ones(order.size, dtype=bool)
    for i in range(order.size):
        if keep[i]:
            keep[i + 1 :] &= ~overlaps[i, i + 1 :]
    return order[keep]


def _nms_by_box(xyxy: npt.NDArray[np.float32], order: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    kept: list[int] = []
    while order.size:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        w = (np.minimum(xyxy[i, 2], xyxy[rest, 2]) - np.maximum(xyxy[i, 0], xyxy[rest, 0])).clip(0)
        h = (np.minimum(xyxy[i, 3], xyxy[rest, 3]) - np.maximum(xyxy[i, 1], xyxy[rest, 1])).clip(0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-7)
        order = rest[iou <= IOU_THRESHOLD]
    return np.array(kept, dtype=np.intp)


_buffers = threading.local()


def _blob_buffer(canvas: Image) -> Blob:
    """This thread's model input array, reused frame after frame (``session.run`` is done with it
    when it returns; a thread runs one frame at a time)."""
    shape = (1, 3, *canvas.shape[:2])
    buffer: Blob | None = getattr(_buffers, "blob", None)
    if buffer is None or buffer.shape != shape:
        buffer = _buffers.blob = np.empty(shape, dtype=np.float32)
    return buffer


def detect_letterboxed(
    canvas: Image, box: Letterbox, *, confidence: float, classes: list[str], precision: str | None = None
) -> Detection:
    """Detect on a frame already letterboxed to the model's input (by ``detect``); the session is the
    one for the canvas's size."""
    started = time.perf_counter()
    boxes, private = _run(canvas, box, [(confidence, classes), (PRIVACY_CONFIDENCE, PRIVACY_CLASSES)], precision)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Detection(boxes=boxes, width=box.width, height=box.height, inference_ms=elapsed_ms, private=private)


def _run(canvas: Image, box: Letterbox, passes: Sequence[tuple[float, Sequence[str]]],
         precision: str | None) -> list[list[Box]]:  # fmt: skip
    session = load_session(precision, (canvas.shape[1], canvas.shape[0]))
    (output,) = session.run(None, {"images": to_blob(canvas, out=_blob_buffer(canvas))})
    return postprocess_passes(output, box, passes)


def detect(
    image: Image, *, confidence: float, classes: list[str], precision: str | None = None, tile: Tile | None = None
) -> Detection:
    """The boxes of a frame; with a far-field ``tile`` (detection/farfield.py), also those of that crop
    of the frame, enlarged, merged with the full view's."""
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 16:
        raise FrameError(f"the frame has an unusable shape {image.shape}")
    started = time.perf_counter()
    canvas, box = letterbox(image, canvas=settings.DETECT_CANVAS)
    result = detect_letterboxed(canvas, box, confidence=confidence, classes=classes, precision=precision)
    boxes = result.boxes
    if tile is not None:
        x1, y1, x2, y2 = tile.pixels(box.width, box.height)
        tile_canvas, tile_box = letterbox(image[y1:y2, x1:x2], tile.size, canvas=settings.DETECT_CANVAS)
        (found,) = _run(tile_canvas, tile_box, [(confidence, classes)], precision)
        boxes = merge(boxes, to_frame(found, tile, (box.width, box.height), tile_box.scale), tile)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Detection(boxes=boxes, width=box.width, height=box.height, inference_ms=elapsed_ms,
                     private=result.private)  # fmt: skip

"""YOLO object detection: the bundled YOLOv8n ONNX weights through Ultralytics and ONNX Runtime.

The model is loaded once per process (a Celery prefork child) on first use. Ultralytics is kept
offline: no hub look-ups, no auto-installs, settings in a writable folder.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from django.conf import settings

from cameras.config import COCO_CLASSES
from detection.assets import YOLO_WEIGHTS, verify

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

Image = npt.NDArray[np.uint8]


class FrameError(ValueError):
    """The frame cannot be used: missing, empty or not a decodable image. The message says which."""


@dataclass(frozen=True)
class Box:
    cls: str
    conf: float
    xyxy: tuple[float, float, float, float]  # normalized to the frame: x / width, y / height

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Box:
        x1, y1, x2, y2 = data["xyxy"]
        return cls(cls=data["cls"], conf=float(data["conf"]), xyxy=(x1, y1, x2, y2))


@dataclass(frozen=True)
class Detection:
    boxes: list[Box]
    width: int
    height: int
    inference_ms: float  # preprocess + model + NMS, as Ultralytics measures them


def decode_jpeg(data: bytes | None) -> Image:
    if data is None:
        raise FrameError("the frame is no longer in the frame store (expired before detection)")
    if not data:
        raise FrameError("the frame is empty (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FrameError(f"the frame is not a decodable image ({len(data)} bytes, starting {data[:8].hex()})")
    return np.asarray(image, dtype=np.uint8)


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


@functools.cache
def load_model() -> Any:
    import onnxruntime as ort
    from ultralytics import YOLO  # type: ignore[attr-defined]

    config_dir = settings.DATA_DIR / "ultralytics"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    if settings.DETECT_THREADS:
        import torch

        # Ultralytics pre- and post-processes in PyTorch, whose thread pool would otherwise take every
        # core in every pool process and fight the ONNX Runtime threads for them.
        torch.set_num_threads(settings.DETECT_THREADS)
    weights = str(verify(YOLO_WEIGHTS))
    model: Any = YOLO(weights, task="detect")
    # The first call builds the predictor; do it now, not on a camera's first frame.
    model.predict(np.zeros((64, 64, 3), dtype=np.uint8), verbose=False)
    # Ultralytics has no way to pass session options: swap in a session on the same file with ours.
    backend = model.predictor.model.backend
    backend.session = ort.InferenceSession(weights, session_options(), providers=["CPUExecutionProvider"])
    return model


def class_ids(classes: list[str]) -> list[int]:
    return [COCO_CLASSES.index(name) for name in classes]


def detect(image: Image, *, confidence: float, classes: list[str]) -> Detection:
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 16:
        raise FrameError(f"the frame has an unusable shape {image.shape}")
    started = time.perf_counter()
    result = load_model().predict(image, conf=confidence, classes=class_ids(classes), verbose=False)[0]
    elapsed_ms = (time.perf_counter() - started) * 1000
    height, width = image.shape[:2]
    boxes = [
        Box(cls=COCO_CLASSES[int(c)], conf=round(float(p), 4),
            xyxy=(round(float(x1) / width, 5), round(float(y1) / height, 5),
                  round(float(x2) / width, 5), round(float(y2) / height, 5)))
        for (x1, y1, x2, y2), p, c in zip(
            result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist(), strict=True
        )
    ]  # fmt: skip
    return Detection(boxes=boxes, width=width, height=height, inference_ms=elapsed_ms)

"""The INT8 detector model: made on this machine from the bundled weights and clip, cached, checked.

Recipe (measured in ARCHITECTURE.md, "INT8 that keeps its accuracy"): ONNX Runtime's static QDQ
quantization, per-channel int8 weights, uint8 activations, MinMax calibration on 40 frames of the
bundled intersection clip letterboxed as the detector does. The detection head's decode stays in
float: its output concatenates box coordinates in pixels with 0-1 class scores, which one int8
scale cannot hold (quantizing it gives zero detections). So every ``/model.22/`` node except the
``cv2.*``/``cv3.*`` branch convolutions is excluded, and so is the last convolution of each branch.

The file name carries the sha256 of the inputs (weights, clip, recipe, ONNX Runtime version); a
sidecar JSON records that key and the sha256 of the model produced. Loading checks both, so a
changed input, a changed recipe or a corrupt file is refused with the command that fixes it.
Calibration with MinMax over fixed frames is deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detection.assets import ASSETS, CLIP_CARS_TRUCK, YOLO_WEIGHTS, AssetError, asset_dir, verify
from detection.letterbox import Blob, letterbox, to_blob

CALIBRATION_CLIP = CLIP_CARS_TRUCK
CALIBRATION_FRAMES = 40
HEAD = "/model.22/"
# The last convolution of each of the head's six branches: their outputs are the raw box and class
# logits, whose ranges differ too much to share the scales int8 gives them.
HEAD_LAST_CONVS = tuple(f"/model.22/{b}.{i}/{b}.{i}.2/Conv" for b in ("cv2", "cv3") for i in range(3))
RECIPE_VERSION = 1


class QuantizeError(AssetError):
    """The INT8 model is missing, stale or corrupt; the message says how to make it."""


def recipe() -> dict[str, Any]:
    import onnxruntime

    return {
        "version": RECIPE_VERSION,
        "weights_sha256": ASSETS[YOLO_WEIGHTS].sha256,
        "clip_sha256": ASSETS[CALIBRATION_CLIP].sha256,
        "frames": CALIBRATION_FRAMES,
        "format": "QDQ",
        "weights": "QInt8 per-channel",
        "activations": "QUInt8",
        "calibration": "MinMax",
        "onnxruntime": onnxruntime.__version__,
    }


def inputs_key() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()


def int8_path(folder: Path | None = None) -> Path:
    return (folder or asset_dir()) / f"yolov8n-int8-{inputs_key()[:16]}.onnx"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecar(model: Path) -> Path:
    return model.with_suffix(".json")


def verified_int8_path(folder: Path | None = None) -> Path:
    """The cached INT8 model after checking its inputs key and its own sha256."""
    path = int8_path(folder)
    fix = "Run `python manage.py quantize_model` to make it from the bundled weights and clip."
    if not path.is_file() or not _sidecar(path).is_file():
        raise QuantizeError(f"The INT8 detector model {path.name} is not in {path.parent}. {fix}")
    record = json.loads(_sidecar(path).read_text())
    if record.get("inputs_sha256") != inputs_key():
        raise QuantizeError(f"{path} was made from other inputs than the current weights, clip and recipe. {fix}")
    actual = _sha256(path)
    if actual != record.get("sha256"):
        raise QuantizeError(f"{path} is corrupt: sha256 {actual}, recorded {record.get('sha256')}. {fix}")
    return path


def calibration_blobs() -> list[Blob]:
    """40 frames spread evenly over the calibration clip, letterboxed and normalised like the detector's."""
    cap = cv2.VideoCapture(str(verify(CALIBRATION_CLIP)))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    if len(frames) < CALIBRATION_FRAMES:
        raise QuantizeError(f"{CALIBRATION_CLIP} has {len(frames)} frames, calibration needs {CALIBRATION_FRAMES}.")
    picks = np.linspace(0, len(frames) - 1, CALIBRATION_FRAMES).round().astype(int)
    return [to_blob(letterbox(frames[i])[0]) for i in picks]


def excluded_nodes(model_path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model_path)).graph
    head = [node.name for node in graph.node if node.name.startswith(HEAD)]
    missing = [name for name in HEAD_LAST_CONVS if name not in head]
    if missing:
        raise QuantizeError(f"{model_path.name} is not the expected YOLOv8 graph: no node {missing[0]}.")
    return [name for name in head if not name.startswith((f"{HEAD}cv2.", f"{HEAD}cv3.")) or name in HEAD_LAST_CONVS]


def build_int8(folder: Path | None = None, *, force: bool = False) -> Path:
    """Make (or keep, when valid) the INT8 model in ``folder`` (default: the asset folder)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    target = int8_path(folder)
    if not force:
        try:
            return verified_int8_path(folder)
        except QuantizeError:
            pass
    weights = verify(YOLO_WEIGHTS)
    blobs = calibration_blobs()

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[Blob] = iter(blobs)

        def get_next(self) -> dict[str, Blob] | None:
            blob = next(self._it, None)
            return None if blob is None else {"images": blob}

    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so a reader never sees half a model; the quantizer's own
    # scratch files go to a private folder.
    with tempfile.TemporaryDirectory(prefix="quantize-", dir=target.parent) as tmp:
        part = Path(tmp) / target.name
        quantize_static(
            str(weights),
            str(part),
            Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=excluded_nodes(weights),
        )
        record = {"inputs_sha256": inputs_key(), "sha256": _sha256(part), "recipe": recipe()}
        part.replace(target)
        _sidecar(target).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    logging.getLogger(__name__).info("stored %s (sha256 %s)", target, record["sha256"])
    return verified_int8_path(folder)

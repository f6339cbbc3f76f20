"""The INT8 detector model: made on this machine from the bundled weights and clips, cached, checked.

Recipe (``RECIPE``; the variants tried and their box geometry in bench/int8_boxes.py): ONNX Runtime's
static QDQ quantization, per-channel int8 weights, uint8 activations, MinMax calibration on 40 frames
of the bundled intersection clip letterboxed as the detector does. The detection head's decode stays in
float: its output concatenates box coordinates in pixels with 0-1 class scores, which one int8
scale cannot hold (quantizing it gives zero detections). So every ``/model.22/`` node except the
``cv2.*``/``cv3.*`` branch convolutions is excluded, and so is the last convolution of each branch.

The file name carries the sha256 of the inputs (weights, clips, recipe, ONNX Runtime version); a
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.cpu import int8_dot_product
from detection.assets import ASSETS, CLIP_CARS_TRUCK, YOLO_WEIGHTS, AssetError, asset_dir, verify
from detection.clipframes import clip_images
from detection.letterbox import Blob, letterbox, to_blob

HEAD = "/model.22/"
# The last convolution of each of the head's six branches: their outputs are the raw box and class
# logits, whose ranges differ too much to share the scales int8 gives them.
HEAD_LAST_CONVS = tuple(f"/model.22/{b}.{i}/{b}.{i}.2/Conv" for b in ("cv2", "cv3") for i in range(3))


@dataclass(frozen=True)
class Recipe:
    """How the INT8 model is made; every field goes into the cached model's inputs key."""

    version: int
    clips: tuple[str, ...]  # calibration clips, frames spread evenly over each
    frames_per_clip: int
    calibration: str  # an onnxruntime.quantization.CalibrationMethod name: MinMax, Percentile, Entropy
    # Node-name prefixes kept in float besides the head's decode and the branches' last convolutions.
    float_prefixes: tuple[str, ...] = ()
    reduce_range: bool = False
    percentile: float = 99.999  # only for Percentile calibration
    weight_type: str = "QInt8"  # an onnxruntime.quantization.QuantType name (in the key as "weights")

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["weight_type"]  # recipe() names it, as it did before the field existed
        return fields


RECIPE_V1 = Recipe(version=1, clips=(CLIP_CARS_TRUCK,), frames_per_clip=40, calibration="MinMax")
# For a CPU without an 8-bit dot product (core/cpu.py): ONNX Runtime's x86 kernels pair uint8 activations
# with int8 weights through 16-bit sums that saturate; uint8 weights do not (its quantization docs give
# the two remedies, this and reduce_range). On a Xeon without VNNI, v1 found 169 of fp32's 178 boxes on
# tests/test_int8.py's frames, reduce_range 167, this 174 (v1 on a VNNI EPYC: 175).
RECIPE_U8U8 = Recipe(version=3, clips=(CLIP_CARS_TRUCK,), frames_per_clip=40, calibration="MinMax",
                     weight_type="QUInt8")  # fmt: skip
RECIPE = RECIPE_V1 if int8_dot_product() else RECIPE_U8U8
RECIPE_VERSION = RECIPE.version


class QuantizeError(AssetError):
    """The INT8 model is missing, stale or corrupt; the message says how to make it."""


def recipe(r: Recipe | None = None) -> dict[str, Any]:
    """Everything the model is made from: the recipe, the sha256 of each input file, the quantizer's version."""
    r = r or RECIPE
    import onnxruntime

    return {
        **r.as_dict(),
        "weights_sha256": ASSETS[YOLO_WEIGHTS].sha256,
        "clips_sha256": [ASSETS[clip].sha256 for clip in r.clips],
        "format": "QDQ",
        "weights": f"{r.weight_type} per-channel",
        "activations": "QUInt8",
        "onnxruntime": onnxruntime.__version__,
    }


def inputs_key(r: Recipe | None = None) -> str:
    r = r or RECIPE
    return hashlib.sha256(json.dumps(recipe(r), sort_keys=True).encode()).hexdigest()


def int8_path(folder: Path | None = None, r: Recipe | None = None) -> Path:
    r = r or RECIPE
    return (folder or asset_dir()) / f"yolov8n-int8-{inputs_key(r)[:16]}.onnx"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecar(model: Path) -> Path:
    return model.with_suffix(".json")


def verified_int8_path(folder: Path | None = None, r: Recipe | None = None) -> Path:
    """The cached INT8 model after checking its inputs key and its own sha256."""
    r = r or RECIPE
    path = int8_path(folder, r)
    fix = "Run `python manage.py quantize_model` to make it from the bundled weights and clips."
    if not path.is_file() or not _sidecar(path).is_file():
        raise QuantizeError(f"The INT8 detector model {path.name} is not in {path.parent}. {fix}")
    record = json.loads(_sidecar(path).read_text())
    if record.get("inputs_sha256") != inputs_key(r):
        raise QuantizeError(f"{path} was made from other inputs than the current weights, clips and recipe. {fix}")
    actual = _sha256(path)
    if actual != record.get("sha256"):
        raise QuantizeError(f"{path} is corrupt: sha256 {actual}, recorded {record.get('sha256')}. {fix}")
    return path


def calibration_blobs(r: Recipe | None = None) -> list[Blob]:
    """``frames_per_clip`` frames spread evenly over each calibration clip, letterboxed and normalised
    like the detector's."""
    r = r or RECIPE
    blobs = []
    for clip in r.clips:
        frames = list(clip_images(clip))
        if len(frames) < r.frames_per_clip:
            raise QuantizeError(f"{clip} has {len(frames)} frames, calibration needs {r.frames_per_clip}.")
        picks = np.linspace(0, len(frames) - 1, r.frames_per_clip).round().astype(int)
        blobs += [to_blob(letterbox(frames[i])[0]) for i in picks]
    return blobs


def excluded_nodes(model_path: Path, r: Recipe | None = None) -> list[str]:
    r = r or RECIPE
    import onnx

    graph = onnx.load(str(model_path)).graph
    names = [node.name for node in graph.node]
    head = [name for name in names if name.startswith(HEAD)]
    missing = [name for name in HEAD_LAST_CONVS if name not in head]
    if missing:
        raise QuantizeError(f"{model_path.name} is not the expected YOLOv8 graph: no node {missing[0]}.")
    unknown = [prefix for prefix in r.float_prefixes if not any(name.startswith(prefix) for name in names)]
    if unknown:
        raise QuantizeError(f"{model_path.name} is not the expected YOLOv8 graph: no node under {unknown[0]}.")
    decode = [name for name in head if not name.startswith((f"{HEAD}cv2.", f"{HEAD}cv3.")) or name in HEAD_LAST_CONVS]
    kept_float = [name for name in names if r.float_prefixes and name.startswith(r.float_prefixes)]
    return sorted(set(decode) | set(kept_float), key=names.index)


def build_int8(folder: Path | None = None, *, force: bool = False, r: Recipe | None = None) -> Path:
    """Make (or keep, when valid) the INT8 model in ``folder`` (default: the asset folder)."""
    r = r or RECIPE
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    target = int8_path(folder, r)
    if not force:
        try:
            return verified_int8_path(folder, r)
        except QuantizeError:
            pass
    weights = verify(YOLO_WEIGHTS)
    blobs = calibration_blobs(r)

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[Blob] = iter(blobs)

        def get_next(self) -> dict[str, Blob] | None:
            blob = next(self._it, None)
            return None if blob is None else {"images": blob}

    extra_options: dict[str, Any] = {}
    if r.calibration == "Percentile":
        extra_options["CalibPercentile"] = r.percentile
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
            weight_type=QuantType[r.weight_type],
            per_channel=True,
            reduce_range=r.reduce_range,
            calibrate_method=CalibrationMethod[r.calibration],
            nodes_to_exclude=excluded_nodes(weights, r),
            extra_options=extra_options,
        )
        record = {"inputs_sha256": inputs_key(r), "sha256": _sha256(part), "recipe": recipe(r)}
        part.replace(target)
        _sidecar(target).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    logging.getLogger(__name__).info("stored %s (sha256 %s)", target, record["sha256"])
    return verified_int8_path(folder, r)

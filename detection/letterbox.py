"""Letterboxing a frame to the detector's input, and mapping boxes back to the frame.

The arithmetic is Ultralytics' ``LetterBox`` (centered, grey 114 padding, INTER_LINEAR, rounding
of the padding by -0.1/+0.1), so that the detector, the quantizer's calibration frames and the
benchmark's bare loop all feed the model the same pixels that Ultralytics would.

Two canvases: ``square`` pads the frame to the 640x640 the model was exported for (what the
quantizer calibrates on and the benchmark's bare loop runs); ``rect`` pads only up to the next
multiple of the model's largest stride, as Ultralytics' predictor does (``LetterBox(auto=True)``):
640x384 for a 16:9 frame, 640x480 for 4:3. The detector runs the model re-sized for that canvas
(detection/model_shape.py), so a 16:9 camera costs 40 % fewer operations for the same boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

MODEL_SIZE = 640
STRIDE = 32  # the model's largest stride: a rect canvas's sides are multiples of it
PAD_VALUE = 114
CANVASES = ("rect", "square")
_UNIT = np.float32(1 / 255.0)  # what blobFromImage multiplies each byte by

Image = npt.NDArray[np.uint8]
Blob = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Letterbox:
    """Where a frame of ``width`` x ``height`` lies inside the model input of ``canvas_width`` x
    ``canvas_height``."""

    width: int
    height: int
    scale: float
    left: int
    top: int
    canvas_width: int = MODEL_SIZE
    canvas_height: int = MODEL_SIZE

    @classmethod
    def of(cls, width: int, height: int, size: int = MODEL_SIZE, canvas: str = "square") -> Letterbox:
        """The letterbox of a frame: scaled so its longer side is ``size``, padded to ``size`` square
        or, for ``rect``, each side up to the next multiple of STRIDE."""
        if canvas not in CANVASES:
            raise ValueError(f"unknown canvas {canvas!r}: expected one of {', '.join(CANVASES)}")
        scale = min(size / height, size / width)
        new_w, new_h = max(round(width * scale), 1), max(round(height * scale), 1)
        canvas_w, canvas_h = size, size
        if canvas == "rect":
            canvas_w, canvas_h = new_w + (size - new_w) % STRIDE, new_h + (size - new_h) % STRIDE
        return cls(
            width, height, scale, round((canvas_w - new_w) / 2 - 0.1), round((canvas_h - new_h) / 2 - 0.1),
            canvas_w, canvas_h,
        )  # fmt: skip

    def to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Model-input pixel boxes (N x 4) to frame pixels, clipped to the frame."""
        out = xyxy.copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) / self.scale).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) / self.scale).clip(0, self.height)
        return out


def letterbox(image: Image, size: int = MODEL_SIZE, canvas: str = "square") -> tuple[Image, Letterbox]:
    """The frame resized into the canvas (``Letterbox.of``) with its aspect kept, and where it went."""
    height, width = image.shape[:2]
    box = Letterbox.of(width, height, size, canvas)
    new_w, new_h = max(round(width * box.scale), 1), max(round(height * box.scale), 1)
    resized = image
    if (new_w, new_h) != (width, height):
        resized = np.asarray(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    bottom, right = box.canvas_height - new_h - box.top, box.canvas_width - new_w - box.left
    padded = cv2.copyMakeBorder(
        resized, box.top, bottom, box.left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE, PAD_VALUE, PAD_VALUE)
    )
    return np.asarray(padded, dtype=np.uint8), box


def to_blob(canvas: Image, out: Blob | None = None) -> Blob:
    """A letterboxed BGR canvas as the model's input: 1 x 3 x H x W, RGB, 0-1 floats.

    The same floats as ``cv2.dnn.blobFromImage(canvas, 1 / 255, swapRB=True)`` (each byte times the
    float32 of 1/255), at a tenth of its cost: split into planes once, then one multiply per plane
    straight into its slot of the blob. ``out`` reuses a blob of the right shape (the detector keeps
    one per thread: a fresh 4.9 MB array costs its page faults on every frame).
    """
    height, width = canvas.shape[:2]
    blob = np.empty((1, 3, height, width), dtype=np.float32) if out is None else out
    if blob.shape != (1, 3, height, width) or blob.dtype != np.float32:
        raise ValueError(f"a blob of {blob.shape} {blob.dtype} for a {width}x{height} canvas")
    for channel, plane in enumerate(reversed(cv2.split(canvas))):  # BGR planes, taken as RGB
        np.multiply(plane, _UNIT, out=blob[0, channel])
    return blob

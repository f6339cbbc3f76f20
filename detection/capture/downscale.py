"""Shrinking a frame cheaply without aliasing, for the pictures a camera process makes of every frame.

OpenCV's INTER_AREA, the textbook choice for shrinking, is fast only for whole-number ratios: at a
ratio like 800 -> 448 it takes a general path that cost 2.5 ms of one core for an 800x600 frame
(6.8 ms for 1920x1080), against 0.3-0.4 ms for INTER_LINEAR. Below a ratio of 2, bilinear sampling
already reads every source pixel, so it loses nothing worth 2 ms; above it, a whole-number INTER_AREA
step (its fast path) first averages the pixels bilinear sampling would skip.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def downscale(image: Image, size: tuple[int, int]) -> Image:
    """``image`` (grey or colour) shrunk to ``size`` = (width, height): an area average by the largest
    whole factor that does not overshoot, then bilinear for the rest."""
    width, height = size
    factor = max(1, min(image.shape[1] // width, image.shape[0] // height))
    if factor > 1:
        reduced = (image.shape[1] // factor, image.shape[0] // factor)
        image = np.asarray(cv2.resize(image, reduced, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)

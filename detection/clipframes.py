"""Every frame of a bundled clip, decoded: calibration, benchmarks and tests read the clips this way."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from detection.assets import verify


def clip_images(clip: str) -> Iterator[np.ndarray]:
    """The clip's frames in order (BGR), after checking the file against its sha256."""
    cap = cv2.VideoCapture(str(verify(clip)))
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            yield image
    finally:
        cap.release()

"""Imported by every detect worker (``celery worker --include``, see core/processes.py).

Celery imports ``--include`` modules in the pool's parent process, before it forks its children,
so the detector's imports (ONNX Runtime, OpenCV, NumPy: seconds on a busy 2-core machine) are done
once and inherited. Otherwise each child pays them inside its first ``detect_frame`` task, whose
soft time limit could interrupt an import half-way and leave the process broken for good. The
model itself is not loaded here: an ONNX Runtime session must not cross a fork, and building it
takes well under a second.
"""

from __future__ import annotations

import cv2  # noqa: F401
import numpy  # noqa: F401
import onnxruntime  # noqa: F401

from detection import detector  # noqa: F401

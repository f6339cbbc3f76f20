"""Imported by every detect worker (``celery worker --include``, see core/processes.py).

Celery imports ``--include`` modules at start, before the pool takes tasks, so the detector's
imports (ONNX Runtime, OpenCV, NumPy: seconds on a busy 2-core machine) are not paid inside the
first ``detect_frame`` task. With a prefork pool (the tests' workers) they are done once in the
parent and inherited by the children, where an import inside a task could be cut half-way by the
soft time limit and leave the process broken for good. The model itself is not loaded here: an
ONNX Runtime session must not cross a fork, and building it takes well under a second.
"""

from __future__ import annotations

import cv2  # noqa: F401
import numpy  # noqa: F401
import onnx  # noqa: F401  (the model is re-sized for rect canvases on first use, detection/model_shape.py)
import onnxruntime  # noqa: F401

from detection import detector  # noqa: F401

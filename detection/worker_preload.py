"""Imported by every detect worker (``celery worker --include``, see core/processes.py).

Celery imports ``--include`` modules in the pool's parent process, before it forks its children,
so the heavy imports of the detector (PyTorch, Ultralytics, ONNX Runtime: 10-30 s on a busy
2-core machine) are done once and inherited. Otherwise each child pays them inside its first
``detect_frame`` task, whose 20 s soft time limit can interrupt an import half-way and leave the
process with a broken ``torch`` for good. The model itself is not loaded here: an ONNX Runtime
session must not cross a fork, and building it takes well under a second.
"""

from __future__ import annotations

import os

from django.conf import settings

# The same configuration folder the detector gives Ultralytics (detection/detector.py).
os.environ.setdefault("YOLO_CONFIG_DIR", str(settings.DATA_DIR / "ultralytics"))

import onnxruntime  # noqa: F401
import torch
import torch.fx  # noqa: F401
import ultralytics  # noqa: F401
from ultralytics.engine import predictor  # noqa: F401
from ultralytics.nn import autobackend  # noqa: F401

"""The detector model at another input size: YOLOv8's ONNX graph re-sized for a rectangular canvas.

The bundled model (and the INT8 model made from it) was exported for a 640x640 input. A 16:9
camera's frame fills only 640x360 of that square; the rest is grey padding the model convolves all
the same. Ultralytics' own predictor pads a frame only up to the next multiple of the model's
largest stride (its ``LetterBox(auto=True)``: 640x384 for 16:9, 640x480 for 4:3), which costs
40 % and 25 % fewer operations for the same boxes. The convolutions and the upsampling (by scale)
do not care about the input size; what an export fixes is the head's decode: the anchor points and
strides of the 8,400 cells of a 640x640 input, and the reshapes that name that count. This module
replaces those constants with the ones of another size, so the same weights (fp32 or quantized; the
quantization's scales do not depend on the size) run on the smaller canvas.

Only the layout the bundled exports have is accepted: every constant that must change is found by
its value (the 640x640 anchor grid, its strides, reshape shapes ending in 8,400), and a model that
lacks one of them is refused rather than run with a decode that would misplace every box.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

STRIDES = (8, 16, 32)  # YOLOv8's three detection levels
EXPORTED_SIZE = (640, 640)  # (width, height) the bundled exports were made for

# What the head of a YOLOv8 export at EXPORTED_SIZE holds: the anchor grid (twice: one for the boxes'
# top-left, one for their bottom-right), the stride of each cell, and two DFL reshapes.
_EXPECTED = {"anchors": 2, "strides": 1, "shapes": 2}


class ModelShapeError(ValueError):
    """The model's graph is not the YOLOv8 layout this module knows how to re-size."""


def anchor_grid(width: int, height: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """YOLOv8's anchor points (1 x 2 x cells, cell centres in grid units) and strides (1 x cells) for
    an input of ``width`` x ``height``, in the order of its output (stride 8 row by row, then 16, 32);
    Ultralytics' ``make_anchors`` with offset 0.5."""
    points, strides = [], []
    for stride in STRIDES:
        gx, gy = np.meshgrid(np.arange(width // stride) + 0.5, np.arange(height // stride) + 0.5)
        points.append(np.stack([gx.ravel(), gy.ravel()]))
        strides.append(np.full(gx.size, stride))
    return (
        np.concatenate(points, axis=1).astype(np.float32)[None],
        np.concatenate(strides).astype(np.float32)[None],
    )


def resized_model(model: bytes, width: int, height: int) -> bytes:
    """The serialized ONNX ``model`` (exported at 640x640) re-sized for a ``width`` x ``height`` input.

    Both must be multiples of the largest stride (32). The result is checked with ONNX's checker; the
    weights are untouched. At 640x640 it is the same graph (tests/test_model_shape.py runs both).
    """
    import onnx
    from onnx import numpy_helper

    if width % STRIDES[-1] or height % STRIDES[-1] or width <= 0 or height <= 0:
        raise ValueError(f"{width}x{height} is not a multiple of the model's stride {STRIDES[-1]}")
    proto = onnx.load_from_string(model)
    graph = proto.graph
    old_points, old_strides = anchor_grid(*EXPORTED_SIZE)
    new_points, new_strides = anchor_grid(width, height)
    old_cells, new_cells = old_points.shape[2], new_points.shape[2]
    found = dict.fromkeys(_EXPECTED, 0)
    for index, initializer in enumerate(graph.initializer):
        value = numpy_helper.to_array(initializer)
        if value.dtype == np.int64 and value.ndim == 1 and 2 < value.size <= 4 and value[-1] == old_cells:
            replacement, kind = value.copy(), "shapes"
            replacement[-1] = new_cells
        elif value.shape == old_points.shape and np.array_equal(value, old_points):
            replacement, kind = new_points, "anchors"
        elif value.shape == old_strides.shape and np.array_equal(value, old_strides):
            replacement, kind = new_strides, "strides"
        else:
            continue
        found[kind] += 1
        graph.initializer[index].CopyFrom(numpy_helper.from_array(replacement.astype(value.dtype), initializer.name))
    if found != _EXPECTED:
        raise ModelShapeError(
            f"not a YOLOv8 export at {EXPORTED_SIZE[0]}x{EXPORTED_SIZE[1]} with its decode in the graph: "
            f"found {found} of the head's constants, expected {_EXPECTED}"
        )
    images = graph.input[0].type.tensor_type.shape.dim
    if len(images) != 4 or (images[2].dim_value, images[3].dim_value) != (EXPORTED_SIZE[1], EXPORTED_SIZE[0]):
        raise ModelShapeError(f"the model's input is not 1 x 3 x {EXPORTED_SIZE[1]} x {EXPORTED_SIZE[0]}")
    images[2].dim_value, images[3].dim_value = height, width
    graph.output[0].type.tensor_type.shape.dim[2].dim_value = new_cells
    # The shapes ONNX inferred for intermediate tensors at 640x640 would contradict the new ones.
    del graph.value_info[:]
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())

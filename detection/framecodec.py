"""How a sampled frame travels from the camera process to a detect worker: small, and cheap to unpack.

The camera process shrinks the frame to the size the detector feeds the model (the letterbox's
inner rectangle, 640x480 for an 800x600 camera), so the worker only pads it. Then either:

- ``raw``: the pixels as they are, behind a 10-byte header (magic, width, height). On one host
  (camera process, Redis and worker together) this skips a JPEG encode in capture and a decode in
  the worker, about 6 ms of CPU per frame together, for 0.9 MB through a local Redis;
- ``jpeg``: a JPEG at quality 90 (about 60 KB), for workers on other hosts, where bytes cost more
  than the codec.

Boxes come back normalized to the frame, so the shrinking changes nothing for the camera process.
A camera with a far field (detection/farfield.py) sends its frames whole instead: the worker crops
the far road out of the full-resolution frame, where its road users have the pixels the shrunk
frame lost.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import numpy.typing as npt

from detection.letterbox import MODEL_SIZE, Letterbox

Image = npt.NDArray[np.uint8]
RAW_MAGIC = b"TSRAW1"
_HEADER = struct.Struct("<6sHH")
FORMATS = ("raw", "jpeg")


class FrameFormatError(ValueError):
    """A frame payload that is neither a well-formed raw frame nor a JPEG."""


def shrunk_size(image: Image, size: int = MODEL_SIZE) -> tuple[int, int] | None:
    """(width, height) the letterbox would resize the frame to; None when it stays as it is (never
    enlarged: the worker pads it)."""
    height, width = image.shape[:2]
    box = Letterbox.of(width, height, size)
    new_w, new_h = max(round(width * box.scale), 1), max(round(height * box.scale), 1)
    if (new_w, new_h) == (width, height) or box.scale > 1:
        return None
    return new_w, new_h


def shrink(image: Image, size: int = MODEL_SIZE) -> Image:
    """The frame resized as the letterbox would resize it (never enlarged: the worker pads it)."""
    target = shrunk_size(image, size)
    if target is None:
        return image
    return np.asarray(cv2.resize(image, target, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def encode(image: Image, fmt: str, *, full: bool = False) -> bytes | bytearray | None:
    """The shrunk frame in ``fmt`` (``full``: the frame as it is, for a worker that also crops the
    far field out of it, detection/farfield.py); None when JPEG encoding fails."""
    if fmt == "raw":
        return _encode_raw(image, full)
    if fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", image if full else shrink(image), [cv2.IMWRITE_JPEG_QUALITY, 90])
        return bytes(buf) if ok else None
    raise ValueError(f"unknown frame format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _encode_raw(image: Image, full: bool) -> bytearray:
    """Header and shrunk pixels in one buffer, the resize writing straight into it: no 0.9 MB copy
    for the bytes of the array and another for the header in front (Redis takes a bytearray as is)."""
    target = None if full else shrunk_size(image)
    width, height = target or (image.shape[1], image.shape[0])
    payload = bytearray(_HEADER.size + width * height * 3)
    _HEADER.pack_into(payload, 0, RAW_MAGIC, width, height)
    pixels = np.frombuffer(payload, dtype=np.uint8, offset=_HEADER.size).reshape(height, width, 3)
    if target is None:
        pixels[...] = image
    else:
        resized = cv2.resize(image, target, dst=pixels, interpolation=cv2.INTER_LINEAR)
        if resized is not pixels and not np.shares_memory(resized, pixels):  # OpenCV allocated after all
            pixels[...] = resized
    return payload


def decode_raw(data: bytes | bytearray) -> Image | None:
    """The pixels of a raw frame; None when ``data`` is not one (a JPEG, say)."""
    if not data.startswith(RAW_MAGIC):
        return None
    if len(data) < _HEADER.size:
        raise FrameFormatError(f"a raw frame cut short in its header ({len(data)} bytes)")
    _, width, height = _HEADER.unpack_from(data)
    expected = _HEADER.size + width * height * 3
    if len(data) != expected or not width or not height:
        raise FrameFormatError(f"a raw {width}x{height} frame of {len(data)} bytes, expected {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size).reshape(height, width, 3)

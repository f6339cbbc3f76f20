"""The camera process's cheap shrink (detection/capture/downscale.py) against OpenCV's INTER_AREA."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detection.assets import CLIP_CARS_TRUCK
from detection.capture.downscale import downscale
from detection.capture.strip import STRIP_SIDE, strip_jpeg
from detection.clipframes import clip_images


@pytest.fixture(scope="module")
def street() -> np.ndarray:
    return next(iter(clip_images(CLIP_CARS_TRUCK)))


@pytest.mark.parametrize("source", [(800, 600), (1280, 720), (1920, 1080), (320, 240)])
def test_a_real_frame_shrinks_to_what_inter_area_makes_of_it(street: np.ndarray, source: tuple[int, int]) -> None:
    frame = cv2.resize(street, source, interpolation=cv2.INTER_CUBIC)
    scale = STRIP_SIDE / max(source) if max(source) > STRIP_SIDE else 0.3
    size = (round(source[0] * scale), round(source[1] * scale))
    ours = downscale(frame, size)
    area = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    assert ours.shape == area.shape
    assert np.abs(ours.astype(int) - area).mean() < 3.0  # grey levels of 255


def test_detail_finer_than_the_target_is_averaged_not_aliased() -> None:
    # One-pixel stripes shrunk 5x: every output pixel covers both colours, so it must be mid-grey.
    # Bilinear sampling alone lands on every fifth source pixel, all of one colour.
    stripes = np.zeros((540, 720), dtype=np.uint8)
    stripes[:, ::2] = 255
    ours = downscale(stripes, (144, 108))
    linear = cv2.resize(stripes, (144, 108), interpolation=cv2.INTER_LINEAR)
    assert np.abs(ours.astype(int) - 127.5).max() <= 26  # two or three white pixels of five
    assert np.abs(linear.astype(int) - 127.5).max() > 100  # the aliasing the area step prevents


def test_a_history_frame_is_the_strip_size_jpeg_of_the_frame(street: np.ndarray) -> None:
    decoded = cv2.imdecode(np.frombuffer(strip_jpeg(street), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert max(decoded.shape[:2]) == STRIP_SIDE
    area = cv2.resize(street, (decoded.shape[1], decoded.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(decoded.astype(int) - area).mean() < 3.0  # JPEG at quality 85 on top

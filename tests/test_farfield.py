"""The far field: where the tile goes, how its boxes come back to the frame and merge, and that on
real pixels it finds far road users the full view misses."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from cameras.config import ROAD_USER_CLASSES
from cameras.geometry import Homography, fit_homography
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.detector import Box, detect
from detection.farfield import MAX_COST, MIN_GAIN, SMALL_PX, FarField, Tile, far_tile, merge, object_px, to_frame
from detection.scenarios.camera_model import CameraGeometry

# A 1280x720 camera 6 m up, looking down a two-lane road that it sees out to about 150 m.
RIG = CameraGeometry("t", 1280, 720, 25.0, mount_m=6.0, tilt_deg=4.0, yaw_deg=3.0, hfov_deg=60.0, x_m=-2.0)


def homography() -> Homography:
    calibration = RIG.calibration()
    return fit_homography(calibration["image_points"], calibration["world_points"])


def lane(near_m: float, far_m: float, x1: float = 0.0, x2: float = 8.0) -> dict[str, Any]:
    corners = RIG.ground_to_image([[x1, near_m], [x2, near_m], [x2, far_m], [x1, far_m]])
    return {"name": "road", "kind": "lane", "polygon": np.clip(corners, 0, 1).tolist()}


def test_the_tile_covers_the_far_road_and_enlarges_it() -> None:
    tile = far_tile(homography(), [lane(5.0, 150.0)], (RIG.width, RIG.height))
    assert tile is not None
    full_scale = 640 / RIG.width
    crop = max((tile.x2 - tile.x1) * RIG.width, (tile.y2 - tile.y1) * RIG.height) * full_scale
    assert tile.size / crop >= MIN_GAIN
    # A car 100 m away is in it, body and all; one 15 m away is not.
    (x1, y1, x2, y2), near = RIG.boxes("car", [[2.0, 100.0], [2.0, 15.0]], [[0.0, 1.0], [0.0, 1.0]])
    assert tile.x1 * RIG.width <= x1 and x2 <= tile.x2 * RIG.width
    assert tile.y1 * RIG.height <= y1 and y2 <= tile.y2 * RIG.height
    assert near[3] > tile.y2 * RIG.height
    # Its nearest edge is where a car's width falls under SMALL_PX on the full view's canvas.
    below = object_px(homography(), np.array([[0.5 * (tile.x1 + tile.x2), tile.y2]]), RIG.width)[0]
    assert below * full_scale == pytest.approx(SMALL_PX, rel=0.5)


def test_no_tile_without_a_calibration_zones_or_a_far_road() -> None:
    size = (RIG.width, RIG.height)
    assert far_tile(None, [lane(5.0, 150.0)], size) is None
    assert far_tile(homography(), [], size) is None
    assert far_tile(homography(), [lane(5.0, 20.0)], size) is None  # all of it near
    assert FarField(homography(), [lane(5.0, 150.0)], enabled=False).tile(size) is None
    assert FarField(homography(), [lane(5.0, 150.0)], enabled=True).tile(size) is not None


def test_a_far_road_as_wide_as_the_picture_gets_no_tile() -> None:
    # The far road across the whole frame: a crop of it could not enlarge it.
    assert far_tile(homography(), [lane(60.0, 150.0, -400.0, 400.0)], (RIG.width, RIG.height)) is None


def test_a_tile_costs_at_most_half_the_full_view() -> None:
    # The demo street's far road fills half its picture: 2x of it would be a second full view.
    from detection.letterbox import Letterbox
    from detection.scenarios import library

    block = library.camera_block()
    street = fit_homography(block["calibration"]["image_points"], block["calibration"]["world_points"])
    assert far_tile(street, block["zones"], (800, 600)) is None
    tile = far_tile(homography(), [lane(5.0, 150.0)], (RIG.width, RIG.height))
    assert tile is not None
    crop = Letterbox.of(
        round((tile.x2 - tile.x1) * RIG.width), round((tile.y2 - tile.y1) * RIG.height), tile.size, "rect"
    )
    full = Letterbox.of(RIG.width, RIG.height, 640, "rect")
    assert crop.canvas_width * crop.canvas_height <= MAX_COST * full.canvas_width * full.canvas_height


def test_a_tile_from_the_wire_is_checked() -> None:
    tile = Tile(0.25, 0.1, 0.75, 0.5, 352)
    assert Tile.from_list(tile.as_list()) == tile
    for bad in ([0.5, 0.1, 0.25, 0.5, 352], [0.25, 0.1, 0.75, 1.5, 352], [0.25, 0.1, 0.75, 0.5, 4096], [0.1, 0.2]):
        with pytest.raises(ValueError, match="not a far-field tile"):
            Tile.from_list(bad)


def test_tile_boxes_come_back_to_the_frame_without_those_the_crop_cut() -> None:
    tile = Tile(0.25, 0.0, 0.75, 0.5, 320)  # 320x180 pixels of a 640x360 frame, its top the frame's
    boxes = [
        Box("car", 0.8, (0.5, 0.5, 0.6, 0.6)),  # well inside
        Box("car", 0.7, (0.0, 0.4, 0.1, 0.5)),  # on the crop's left side, inside the frame: cut
        Box("car", 0.6, (0.4, 0.0, 0.5, 0.1)),  # on the crop's top side, which is the frame's: whole
    ]
    back = to_frame(boxes, tile, (640, 360), scale=1.0)
    assert [b.conf for b in back] == [0.8, 0.6]
    assert back[0].xyxy == pytest.approx((0.5, 0.25, 0.55, 0.3))
    assert back[1].xyxy == pytest.approx((0.45, 0.0, 0.5, 0.05))


def test_inside_the_tile_its_boxes_replace_the_full_views_where_they_cover_it() -> None:
    tile = Tile(0.25, 0.0, 0.75, 0.5, 320)
    merged_pair = Box("truck", 0.4, (0.40, 0.20, 0.50, 0.30))  # two far cars, one box in the full view
    unseen_by_tile = Box("car", 0.5, (0.60, 0.10, 0.65, 0.15))
    crossing = Box("bus", 0.9, (0.60, 0.40, 0.90, 0.70))  # reaches out of the crop
    tiled = [Box("car", 0.7, (0.40, 0.20, 0.45, 0.30)), Box("car", 0.6, (0.45, 0.20, 0.50, 0.30))]
    merged = merge([crossing, merged_pair, unseen_by_tile], tiled, tile)
    assert [(b.cls, b.conf) for b in merged] == [("bus", 0.9), ("car", 0.7), ("car", 0.6), ("car", 0.5)]


def test_on_real_pixels_the_tile_finds_far_cars_the_full_view_misses() -> None:
    """The bundled street, shrunk to a quarter (its cars 10-20 px high) into the middle of a 1280x720
    frame: the full view, shrunk again to the model's 640, finds no car; the tile around it does, at
    the confidence the tracker starts tracks at."""
    cap = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    for _ in range(40):
        ok, image = cap.read()
    cap.release()
    assert ok
    small = cv2.resize(image, (image.shape[1] // 4, image.shape[0] // 4), interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    frame[200 : 200 + small.shape[0], 600 : 600 + small.shape[1]] = small
    tile = Tile(500 / 1280, 150 / 720, 900 / 1280, 400 / 720, 352)

    full = detect(frame, confidence=0.1, classes=ROAD_USER_CLASSES)
    both = detect(frame, confidence=0.1, classes=ROAD_USER_CLASSES, tile=tile)
    assert not [b for b in full.boxes if b.cls == "car" and b.conf >= 0.25]
    cars = [b for b in both.boxes if b.cls == "car" and b.conf >= 0.35]
    assert cars, [(b.cls, b.conf) for b in both.boxes]
    for car in cars:  # where the street was pasted, in frame coordinates
        x1, y1, x2, y2 = car.xyxy
        assert 600 <= x1 * 1280 < x2 * 1280 <= 800
        assert 200 <= y1 * 720 < y2 * 720 <= 350

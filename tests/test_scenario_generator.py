"""The scenario generator: truth from scripted trajectories, camera rigs, the fixed dev/test split."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cameras import config as camera_config
from cameras.geometry import fit_homography
from detection.scenarios import scene_set, traffic
from detection.scenarios.camera_model import DIMENSIONS, CameraGeometry
from detection.scenarios.compose import Sprite, detectable
from detection.scenarios.contract import MIN_BOX_PX, THRESHOLDS
from detection.scenarios.format import load_scenario
from detection.scenarios.render import render_video
from detection.scenarios.rigs import SPLITS, rigs
from detection.scenarios.script import Actor, RoadBox, TrueEvent, Visibility, box_view, true_events

LANE = RoadBox("up", "lane", 0.0, 4.0, 0.0, 200.0, flow=1)
CROSSING = RoadBox("crossing", "crosswalk", 0.0, 8.0, 30.0, 33.0)
EVERYWHERE = box_view(RoadBox("view", "view", -10.0, 20.0, -100.0, 300.0))


def events(
    actors: list[Actor], duration: float, zones: list[RoadBox] | None = None, view: Visibility = EVERYWHERE
) -> list[TrueEvent]:
    return true_events(actors, zones if zones is not None else [LANE], view, duration, 50.0)


def kinds(found: list[TrueEvent]) -> list[str]:
    return [e.type for e in found]


def test_a_speeder_is_speeding_half_a_second_after_it_comes_into_view() -> None:
    # 72 km/h = 20 m/s from y = 0; the view is y 10-50: in view from 0.5 s to 2.5 s.
    view = box_view(RoadBox("view", "view", -10.0, 20.0, 10.0, 50.0))
    found = events([Actor("car", (2.0, 0.0), (0.0, 1.0), 72.0)], 4.0, view=view)
    assert kinds(found) == ["speeding"]
    assert found[0].start == pytest.approx(1.0, abs=0.01) and found[0].end == pytest.approx(2.5, abs=0.01)
    assert found[0].speed_kmh == pytest.approx(72.0)


def test_the_speeding_threshold_is_the_formats_not_the_engines() -> None:
    # The format's 1.10 x 50 = 55 km/h: 54.9 is not speeding, 55.1 is.
    assert THRESHOLDS["speeding"]["over_limit_factor"] == 1.10
    assert kinds(events([Actor("car", (2.0, 0.0), (0.0, 1.0), 54.9)], 3.0)) == []
    assert kinds(events([Actor("car", (2.0, 0.0), (0.0, 1.0), 55.1)], 3.0)) == ["speeding"]


def test_hard_braking_lasts_from_the_first_moment_of_braking_to_the_standstill() -> None:
    # 54 km/h = 15 m/s, braking at 8 m/s^2 from 1.0 s: stands at 1.0 + 15 / 8 = 2.875 s.
    car = Actor("car", (2.0, 0.0), (0.0, 1.0), 54.0, changes=[(1.0, -8.0)])
    found = events([car], 4.0)
    assert kinds(found) == ["hard_braking"]
    assert found[0].start == pytest.approx(1.0, abs=0.01) and found[0].end == pytest.approx(2.875, abs=0.01)
    # Braking at 5 m/s^2 (under 6) is normal; so is 8 m/s^2 from 25 km/h (under 30).
    assert events([Actor("car", (2.0, 0.0), (0.0, 1.0), 54.0, changes=[(1.0, -5.0)])], 5.0) == []
    assert events([Actor("car", (2.0, 0.0), (0.0, 1.0), 25.0, changes=[(1.0, -8.0)])], 3.0) == []


def test_standing_still_is_a_stall_after_10_s_in_a_lane_and_a_crosswalk_stop_after_3_s() -> None:
    parked = Actor("car", (2.0, 100.0), (0.0, 1.0), 0.0)
    found = events([parked], 12.0, [LANE, CROSSING])
    assert kinds(found) == ["stalled_vehicle"] and found[0].start == pytest.approx(10.0, abs=0.01)
    on_crossing = Actor("car", (2.0, 31.5), (0.0, 1.0), 0.0)
    assert kinds(events([on_crossing], 9.9, [CROSSING])) == ["crosswalk_stop"]
    assert events([on_crossing], 9.9, [CROSSING])[0].start == pytest.approx(3.0, abs=0.01)
    assert events([on_crossing], 2.9, [CROSSING]) == []  # just under 3 s: nothing


def test_a_follower_half_a_second_behind_is_tailgating_after_one_second() -> None:
    leader = Actor("car", (2.0, 10.0), (0.0, 1.0), 72.0)
    follower = Actor("car", (2.0, 0.0), (0.0, 1.0), 72.0)  # 10 m at 20 m/s: 0.5 s
    found = [e for e in events([leader, follower], 3.0) if e.type == "tailgating"]
    assert len(found) == 1 and found[0].start == pytest.approx(1.0, abs=0.01)
    relaxed = Actor("car", (2.0, -8.0), (0.0, 1.0), 72.0)  # 18 m: 0.9 s
    assert [e for e in events([leader, relaxed], 3.0) if e.type == "tailgating"] == []


def test_a_car_passing_one_metre_from_a_pedestrian_is_a_near_miss_from_ttc_under_1_5_s() -> None:
    # The car at 10 m/s passes 1 m beside a standing person at y = 50: within 1.5 m while the
    # gap along the road is under sqrt(1.5^2 - 1) = 1.118 m, so TTC < 1.5 s from y = 50 - 16.118.
    car = Actor("car", (2.0, 0.0), (0.0, 1.0), 36.0)
    person = Actor("person", (3.0, 50.0), (1.0, 0.0), 0.0)
    found = events([car, person], 8.0)
    assert kinds(found) == ["near_miss"]
    assert found[0].start == pytest.approx((50 - 16.118) / 10, abs=0.01)
    assert found[0].end == pytest.approx((50 + 1.118) / 10, abs=0.01)
    far_person = Actor("person", (6.0, 50.0), (1.0, 0.0), 0.0)  # 4 m aside: never within 1.5 m
    assert events([car, far_person], 8.0) == []


def test_driving_5_m_against_the_lane_is_wrong_way() -> None:
    found = events([Actor("car", (2.0, 90.0), (0.0, -1.0), 36.0)], 2.0)
    assert kinds(found) == ["wrong_way"] and found[0].start == pytest.approx(0.5, abs=0.01)


RIG = CameraGeometry("t", 1280, 720, 25.0, mount_m=8.0, tilt_deg=14.0, yaw_deg=10.0, hfov_deg=60.0, x_m=-3.0)


def test_the_visibility_rule_is_ground_point_in_frame_and_a_box_of_12_px() -> None:
    heading = [[0.0, 1.0]]
    assert RIG.in_view("car", [[4.0, 30.0]], heading)[0]
    assert not RIG.in_view("car", [[4.0, -5.0]], heading)[0]  # behind the bottom of the frame
    # Far away the box shrinks under 12 px: find where, and check both sides of it.
    ys = np.arange(30.0, 400.0, 0.5)
    boxes = RIG.boxes("car", np.stack([np.full_like(ys, 4.0), ys], axis=1), np.tile([0.0, 1.0], (len(ys), 1)))
    first_small = ys[np.argmax(boxes[:, 3] - boxes[:, 1] < MIN_BOX_PX)]
    assert RIG.in_view("car", [[4.0, first_small - 1.0]], heading)[0]
    assert not RIG.in_view("car", [[4.0, first_small + 1.0]], heading)[0]


def test_the_written_calibration_is_the_camera_that_made_the_pictures() -> None:
    calibration = RIG.calibration()
    homography = fit_homography(calibration["image_points"], calibration["world_points"])
    road = np.array([[0.5, 20.0], [7.5, 55.0], [4.0, 70.0]])
    assert np.allclose(homography.to_world(RIG.ground_to_image(road)), road, atol=0.01)


@pytest.mark.parametrize("split", SPLITS)
def test_every_rig_is_valid_and_the_splits_cover_the_required_cameras(split: str) -> None:
    cameras = rigs(split)
    for rig in cameras:
        camera_config.validate_calibration(rig.calibration())
        assert (3.5 if split in ("dev2", "dev4") else 4.0) <= rig.mount_m <= 12.0 and 10.0 <= rig.fps <= 30.0
        near, far = rig.road_span()
        assert far - near >= 30.0
    ratios = {round(r.width / r.height, 2) for r in cameras}
    assert {1.33, 1.78} <= ratios
    assert {25.0, 30.0} <= {r.fps for r in cameras}
    assert min(r.mount_m for r in cameras) < 6.0 and max(r.mount_m for r in cameras) > 10.0


def test_a_gantry_rig_hangs_over_the_lanes_and_looks_along_the_road() -> None:
    cameras = rigs("dev5")
    gantries = [r for r in cameras if 0.0 < r.x_m < 8.0]
    assert len(gantries) == 3 and all(abs(r.yaw_deg) <= 4.0 for r in gantries)
    assert all(not 0.0 <= r.x_m <= 8.0 for s in SPLITS if s != "dev5" for r in rigs(s))  # beside the road


@pytest.mark.parametrize("tuned", ["dev", "dev2", "dev3", "dev4", "dev5"])
def test_the_split_is_fixed_and_test_shares_no_camera_and_no_scene_with_the_tuning_splits(tuned: str) -> None:
    assert scene_set.plan(tuned) == scene_set.plan(tuned)
    dev, test = rigs(tuned), rigs("test")
    assert not {(r.mount_m, r.tilt_deg, r.hfov_deg) for r in dev} & {(r.mount_m, r.tilt_deg, r.hfov_deg) for r in test}
    assert not {n for n, _, _ in scene_set.plan(tuned)} & {n for n, _, _ in scene_set.plan("test")}
    assert len(scene_set.plan("dev")) + len(scene_set.plan("test")) + 2 >= 120


@pytest.mark.parametrize("index", [0, 20, 28, 63])  # speeding, near miss, stalled, leader stopping
def test_a_drawn_scene_is_deterministic_and_its_truth_is_what_the_template_meant(index: int, tmp_path: Path) -> None:
    name, template, rig = scene_set.plan("dev")[index]
    first = scene_set.draw("dev", name, template, rig)
    again = scene_set.draw("dev", name, template, rig)
    assert first.seed == again.seed and first.events == again.events
    assert {e.type for e in first.events} == first.scene.expect
    # The written document is the format, read back by the evaluator's reader.
    folder = tmp_path / name
    folder.mkdir()
    (folder / "scenario.json").write_text(json.dumps(scene_set.scenario_document(first)))
    (folder / "video.mp4").write_bytes(b"")
    scenario = load_scenario(folder)
    assert [e.type for e in scenario.events] == [e.type for e in first.events]
    assert scenario.speed_limit_kmh == rig.speed_limit_kmh
    assert {z["kind"] for z in scenario.zones} == {"lane", "crosswalk"}


@pytest.mark.parametrize("split", SPLITS)
def test_a_tailgater_keeps_two_metres_to_the_car_ahead_bumper_to_bumper(split: str) -> None:
    # Cars nearer than that would touch, and their boxes merge into one: no camera could tell the pair.
    for name, template, rig in scene_set.plan(split):
        if template is traffic.tailgating:
            leader, follower = scene_set.draw(split, name, template, rig).scene.actors[:2]
            front_to_front = abs(leader.start[1] - follower.start[1])
            assert front_to_front - DIMENSIONS["car"][0] >= traffic.MIN_BUMPER_GAP_M - 1e-9, name


def test_rendered_video_has_the_rigs_size_and_rate_and_the_road_user_where_the_script_puts_it(tmp_path: Path) -> None:
    rig = CameraGeometry("t", 800, 600, 25.0, mount_m=6.0, tilt_deg=12.0, yaw_deg=8.0, hfov_deg=60.0, x_m=-3.0)
    rgb = np.full((40, 80, 3), 30, np.uint8)
    sprite = Sprite("car", rgb, np.ones((40, 80), np.float32), 0)
    plate = np.full((600, 800, 3), 200, np.uint8)
    car = Actor("car", (2.0, 30.0), (0.0, 1.0), 0.0)  # parked 30 m ahead
    frames = render_video(rig, [car], 1.0, plate, {"car": [sprite]}, tmp_path / "video.mp4")
    cap = cv2.VideoCapture(str(tmp_path / "video.mp4"))
    assert frames == 25 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    ok, image = cap.read()
    cap.release()
    assert ok and image.shape == (600, 800, 3)
    dark = np.argwhere(image.mean(axis=2) < 100)
    foot = rig.ground_to_image([[2.0, 30.0]])[0] * [800, 600]
    box = rig.boxes("car", [[2.0, 30.0]], [[0.0, 1.0]])[0]
    assert dark[:, 0].max() == pytest.approx(foot[1], abs=2)  # bottom of the car on its ground point
    assert dark[:, 0].max() - dark[:, 0].min() == pytest.approx(box[3] - box[1], abs=2)


def test_only_cut_outs_the_detector_recognizes_alone_are_used() -> None:
    from cameras.config import ROAD_USER_CLASSES
    from detection.assets import bundled_image
    from detection.detector import detect

    def find(image: np.ndarray) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        return [(b.cls, b.conf, b.xyxy) for b in detect(image, confidence=0.25, classes=ROAD_USER_CLASSES).boxes]

    photo = np.asarray(cv2.imread(str(bundled_image())), dtype=np.uint8)
    height, width = photo.shape[:2]
    x1, y1, x2, y2 = next(box for cls, conf, box in find(photo) if cls == "person" and conf > 0.8)
    crop = photo[int(y1 * height) : int(y2 * height), int(x1 * width) : int(x2 * width)].copy()
    person = Sprite("person", crop, np.ones(crop.shape[:2], np.float32), 0)
    blob = Sprite("car", np.full((50, 90, 3), 90, np.uint8), np.ones((50, 90), np.float32), 0)
    assert detectable([person, blob], find) == [person]

"""The dev-only replay harness gives the live path's reports, from detections made once and cached."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from cameras.models import Camera
from detection import farfield, quantize
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.farfield import FarField
from detection.scenarios.format import load_scenario
from detection.scenarios.replay import cache_key, cached_detections, replay, scenario_camera


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_replay_gives_the_reports_of_the_live_evaluate_path(celery_worker, tmp_path: Path, monkeypatch) -> None:
    scenes, cache = tmp_path / "scenes", tmp_path / "cache"
    call_command("make_scenarios", str(scenes), "--only", "speeding-03-95kmh", stdout=io.StringIO())
    scenario = load_scenario(scenes / "speeding-03-95kmh")
    # With a far-field tile on both paths: the demo street's is over the cost cap, so lift the cap (the
    # camera loop of evaluate runs in this process and sends the tile; the worker only obeys it).
    monkeypatch.setattr(farfield, "MAX_COST", 1.0)
    assert FarField(scenario_camera(scenario).homography, scenario.zones, True).tile((800, 600)) is not None

    out = io.StringIO()
    call_command("evaluate", str(scenes), "--json", "--no-worker", stdout=out)
    live = json.loads(out.getvalue())["scenarios"][0]["reports"]

    camera = scenario_camera(scenario)
    frames = cached_detections(scenario, camera, cache)
    assert list(cache.glob(f"*{cache_key(scenario, camera)}.json")), "the detections are cached"
    replayed = replay(scenario, cached_detections(scenario, camera, cache), camera)  # the second read: from the cache
    assert replayed.frames == len(frames) > 0
    assert [(r.type, round(r.trigger, 3), list(r.track_ids), r.speed_kmh) for r in replayed.reports] == [
        (r["type"], r["trigger"], r["track_ids"], r["speed_kmh"]) for r in live
    ]
    assert [r["type"] for r in live] == ["speeding"]


def test_the_cache_key_changes_with_the_settings_that_change_detections(tmp_path: Path, settings, monkeypatch) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(asset_path(CLIP_CARS_TRUCK), folder / "video.mp4")  # a real video: unreadable ones are refused
    (folder / "scenario.json").write_text(
        json.dumps(
            {
                "format": 1,
                "camera": {
                    "calibration": {
                        "image_points": [[0.1, 0.4], [0.9, 0.38], [0.95, 0.95], [0.05, 0.97]],
                        "world_points": [[0.0, 30.0], [20.0, 30.0], [20.0, 0.0], [0.0, 0.0]],
                    }
                },
            }
        )
    )
    scenario = load_scenario(folder)
    settings.DETECT_PRECISION = "fp32"
    camera = Camera(source_url=str(scenario.video), detect_fps=10.0, calibration=scenario.calibration)
    key = cache_key(scenario, camera)
    assert cache_key(scenario, Camera(source_url=str(scenario.video), detect_fps=5.0)) != key
    # Detections are cached down to the tracking floor: a threshold above it (applied by the tracker at
    # replay) detects the same boxes, one under it detects more.
    camera.confidence_threshold = 0.5
    assert cache_key(scenario, camera) == key
    camera.confidence_threshold = 0.05
    assert cache_key(scenario, camera) != key
    changed = cache_key(scenario, camera)
    # The model: int8 detects other boxes than fp32, and another quantization recipe other boxes again.
    settings.DETECT_PRECISION = "int8"
    int8 = cache_key(scenario, camera)
    assert int8 != changed
    monkeypatch.setattr(quantize, "RECIPE", dataclasses.replace(quantize.RECIPE, version=quantize.RECIPE.version + 1))
    assert cache_key(scenario, camera) != int8
    settings.DETECT_PRECISION = "fp32"
    assert cache_key(scenario, camera) == changed
    (folder / "video.mp4").write_bytes(b"another video")
    assert cache_key(scenario, camera) != changed

"""Scenarios: the format of ../shared/SCENARIOS.md, its scoring rules, and the live path end to end."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from django.core.management import CommandError, call_command

from cameras.config import EVENT_TYPES
from core.processes import DETECT_PRELOAD as PRELOAD
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.events import CandidateEvent
from detection.scenarios import library
from detection.scenarios.explain import explain
from detection.scenarios.format import Scenario, ScenarioError, TruthEvent, load_scenario
from detection.scenarios.runner import RunResult, TrackHistory
from detection.scenarios.score import Report, match, score, total
from detection.tracking import TrackPoint
from tests.workers import WorkerProcess

CAMERA: dict[str, Any] = {
    "calibration": {
        "image_points": [[0.1, 0.4], [0.9, 0.38], [0.95, 0.95], [0.05, 0.97]],
        "world_points": [[0.0, 30.0], [20.0, 30.0], [20.0, 0.0], [0.0, 0.0]],
    },
    "speed_limit_kmh": 50,
    "zones": [
        {
            "name": "eastbound",
            "kind": "lane",
            "polygon": [[0.0, 0.5], [1.0, 0.45], [1.0, 0.6], [0.0, 0.7]],
            "flow": [[0.1, 0.62], [0.9, 0.52]],
        }
    ],
    "rules": {"tailgating": {"headway_s": 0.8}},
}


def write(folder: Path, document: object, video: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.json").write_text(json.dumps(document))
    if video:
        (folder / "video.mp4").write_bytes(b"")
    return folder


def test_the_example_of_the_format_reads_with_extra_keys_ignored(tmp_path: Path) -> None:
    doc = {
        "format": 1,
        "name": "speeding-east-01",
        "camera": CAMERA,
        "extra": {"anything": 1},
        "events": [{"type": "speeding", "start": 1.25, "end": 2.90, "class": "car", "speed_kmh": 78.0}],
    }
    scenario = load_scenario(write(tmp_path / "s", doc))
    assert scenario.name == "speeding-east-01" and scenario.speed_limit_kmh == 50
    assert scenario.events == [TruthEvent("speeding", 1.25, 2.9, "car", 78.0)]


def test_unknown_keys_anywhere_are_ignored_and_known_ones_still_checked(tmp_path: Path) -> None:
    camera = {
        **CAMERA,
        "calibration": {**CAMERA["calibration"], "lens": "wide"},
        "zones": [{**CAMERA["zones"][0], "colour": "red"}],
        "rules": {
            "tailgating": {"headway_s": 0.9, "headway_s_sigma": 0.1},  # a setting this engine lacks
            "u_turn": {"enabled": True},  # a rule this engine lacks
        },
        "mounting": {"height_m": 8},
    }
    doc = {
        "format": 1,
        "camera": camera,
        "events": [{"type": "wrong_way", "start": 1, "end": 2, "class": "car", "lane": "eastbound"}],
        "generator": {"seed": 3},
    }
    scenario = load_scenario(write(tmp_path / "s", doc))
    assert scenario.rules == {"tailgating": {"headway_s": 0.9}}
    assert set(scenario.calibration) == {"image_points", "world_points"}
    assert "colour" not in scenario.zones[0] and scenario.zones[0]["flow"]
    assert scenario.events == [TruthEvent("wrong_way", 1.0, 2.0, "car")]
    camera["rules"] = {"tailgating": {"headway_s": -1}}
    with pytest.raises(ScenarioError, match="must be a positive number"):
        load_scenario(write(tmp_path / "t", {"format": 1, "camera": camera}))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": 2, "camera": CAMERA}, "format must be 1"),
        ({"format": 1}, "camera.calibration is required"),
        ({"format": 1, "camera": {**CAMERA, "zones": [{"name": "x", "kind": "road", "polygon": []}]}}, "kind must be"),
        ({"format": 1, "camera": CAMERA, "events": [{"type": "drifting", "start": 0, "end": 1}]}, "type must be"),
        ({"format": 1, "camera": CAMERA, "events": [{"type": "speeding", "start": 0, "end": 1}]}, "needs speed_kmh"),
        ({"format": 1, "camera": CAMERA, "events": [{"type": "wrong_way", "start": 3, "end": 1}]}, "is before start"),
    ],
)
def test_a_malformed_scenario_says_what_is_wrong(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path / "s", document))


def test_a_scenario_without_its_video_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"no video\.mp4"):
        load_scenario(write(tmp_path / "s", {"format": 1, "camera": CAMERA}, video=False))


def test_scoring_matches_within_the_window_once_and_counts_duplicates() -> None:
    truth = [TruthEvent("speeding", 2.0, 4.0, "car", 80.0), TruthEvent("near_miss", 5.0, 5.5, "car")]
    reports = [
        Report("speeding", 1.6, (1,), 84.0),  # 0.4 s early: inside [start - 0.5, end + 2]
        Report("speeding", 3.0, (1,), 83.0),  # the same track again: a duplicate
        Report("speeding", 3.0, (9,), 70.0),  # another track: a false positive
        Report("near_miss", 7.6, (2, 3)),  # 2.1 s after the end: too late, a false positive
        Report("tailgating", 1.0, (4, 5)),  # nothing of that type happened
    ]
    scores = score(truth, reports)
    assert (scores["speeding"].tp, scores["speeding"].fp, scores["speeding"].duplicates) == (1, 1, 1)
    assert scores["speeding"].time_to_alert == [pytest.approx(-0.4)]
    assert scores["speeding"].speed_errors == [pytest.approx(0.05)]
    assert (scores["near_miss"].tp, scores["near_miss"].fp, scores["near_miss"].fn) == (0, 1, 1)
    assert scores["tailgating"].fp == 1 and scores["tailgating"].precision == 0.0
    overall = total(scores)
    assert (overall.tp, overall.fp, overall.fn, overall.duplicates) == (1, 3, 1, 1)
    assert overall.f1 == pytest.approx(2 * 0.25 * 0.5 / 0.75)


def test_match_gives_each_report_its_verdict_and_the_missed_events() -> None:
    truth = [TruthEvent("speeding", 2.0, 4.0, "car", 80.0), TruthEvent("stalled_vehicle", 12.0, 15.0, "car")]
    reports = [
        Report("speeding", 2.2, (1,), 81.0),
        Report("speeding", 2.6, (1,), 82.0),
        Report("hard_braking", 3.0, (2,)),
    ]
    verdicts, missed = match(truth, reports)
    assert [(v.report.trigger, v.outcome) for v in verdicts] == [(2.2, "tp"), (2.6, "duplicate"), (3.0, "fp")]
    assert verdicts[0].event == truth[0] and missed == [truth[1]]


def _explained_run(folder: Path) -> tuple[Scenario, RunResult]:
    """A car tracked at 20 m/s along the calibrated road of CAMERA that is reported as braking
    hard (a false alert), and a speeding event nobody reported."""
    homography = library.HOMOGRAPHY  # any calibrated view: the street of the shipped set
    points = []
    for i in range(40):  # 4 s at 10 fps, y from 5 to 83 m along the near lane
        ts = i / 10
        u, v = homography.to_image([[6.0, 5.0 + 20.0 * ts * 0.95]])[0]
        points.append(TrackPoint(ts, (u - 0.02, v - 0.05, u + 0.02, v), 0.8))
    history = {7: TrackHistory(7, "car", points)}
    measurements = {
        "deceleration_mps2": 7.4,
        "deceleration_mps2_lo": 2.1,
        "deceleration_mps2_hi": 12.7,
        "speed_kmh": 68.4,
    }
    event = CandidateEvent(1, "hard_braking", (7,), 2.9, 3.0, measurements)
    run = RunResult([Report("hard_braking", 3.0, (7,))], [event], 40, 1.0, history, (800, 600), 10.0)
    scenario = load_scenario(
        write(
            folder,
            {
                "format": 1,
                "name": "explained",
                "camera": library.camera_block(),
                "events": [{"type": "speeding", "start": 1.0, "end": 3.5, "class": "car", "speed_kmh": 68.4}],
            },
        )
    )
    return scenario, run


def test_explain_shows_the_verdict_the_uncertainty_and_the_tracks_kinematics(tmp_path: Path) -> None:
    scenario, run = _explained_run(tmp_path / "explained")
    text = explain(scenario, run)
    assert "FALSE POSITIVE: hard_braking triggered at 3.00 s by track(s) 7" in text
    assert "uncertainty:  deceleration_mps2_hi=12.7, deceleration_mps2_lo=2.1" in text
    assert "MISSED speeding 1.00-3.50 s (car, 68.4 km/h)" in text
    rows = [line for line in text.splitlines() if line.startswith("      ") and line.strip()[0].isdigit()]
    speeds = [float(line.split()[5]) for line in rows]
    assert speeds and all(abs(s - 68.4) < 1.0 for s in speeds)  # 19 m/s: what the track really did
    assert any(line.startswith("      >") for line in text.splitlines())  # the trigger frame is marked


def test_explain_shows_a_road_user_over_every_track_fragment_the_rules_joined_to_it(tmp_path: Path) -> None:
    # The tracker gave the car a new id (9) at 2.0 s; the rules joined it to the road user 7, which the
    # event names. Its kinematics after the switch are on track 9.
    scenario, run = _explained_run(tmp_path / "explained")
    points = run.history[7].points
    history = {7: TrackHistory(7, "car", points[:20]), 9: TrackHistory(9, "car", points[20:])}
    joined = RunResult(run.reports, run.events, 40, 1.0, history, (800, 600), 10.0, {7: 7, 9: 7})
    text = explain(scenario, joined)
    assert "track 7 (car, seen 0.00-3.90 s in 40 frames, tracks 7, 9 joined)" in text
    rows = [line for line in text.splitlines() if line.startswith("      ") and line.strip().lstrip(">")[:1].isdigit()]
    assert any(line.lstrip(" >").startswith("2.90") for line in rows)  # after the switch, around the trigger
    alone = explain(scenario, RunResult(run.reports, run.events, 40, 1.0, history, (800, 600), 10.0))
    assert "seen 0.00-1.90 s in 20 frames" in alone  # without the join, only the first fragment


SCORE_KEYS = {"tp", "fp", "fn", "duplicates", "precision", "recall", "f1", "tta_mean_s", "tta_p95_s"} | {
    "speed_error_mean",
    "speed_error_max",
}
SCENARIO_KEYS = {"name", "frames", "seconds", "truth", "reports", "tp", "fp", "fn"}


@pytest.fixture(scope="module")
def detect_worker(test_database_url: str) -> Iterator[WorkerProcess]:
    """A detect worker like the one ``evaluate`` starts: the detector's heavy imports are done
    before the pool forks (worker_preload), so a busy machine does not time out a first task."""
    worker = WorkerProcess(queues="detect", name="scenarios", database_url=test_database_url)
    index = worker.argv.index("--include") + 1
    worker.argv[index] += f",{PRELOAD}"
    worker.start()
    try:
        worker.wait_ready(("detect",))
        yield worker
    finally:
        worker.stop()


def _sixty_fps_clip(folder: Path) -> None:
    """The real clip (20 fps) with every frame three times: 60 fps, nothing happens in it."""
    folder.mkdir(parents=True)
    cap = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    writer = cv2.VideoWriter(str(folder / "video.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 60.0, (800, 600))
    while (read := cap.read())[0]:
        for _ in range(3):
            writer.write(read[1])
    writer.release()
    cap.release()
    document = {"format": 1, "name": "sixty-fps", "camera": library.camera_block(), "events": []}
    (folder / "scenario.json").write_text(json.dumps(document))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_evaluate_scores_the_rest_names_broken_scenarios_and_reads_60_fps(detect_worker, tmp_path: Path) -> None:
    _sixty_fps_clip(tmp_path / "sixty-fps")
    truth = [{"type": "wrong_way", "start": 1.0, "end": 2.0, "class": "car"}]
    broken = write(tmp_path / "broken-video", {"format": 1, "name": "broken-video", "camera": CAMERA, "events": truth})
    (broken / "video.mp4").write_bytes(b"not a video at all")
    (write(tmp_path / "bad-json", {}) / "scenario.json").write_text("{ not json")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("evaluate", str(tmp_path), "--json", "--no-worker", stdout=out, stderr=err)
    assert "2 of 3 scenario(s) failed" in str(failure.value)
    assert "bad-json" in str(failure.value) and "broken-video: " in str(failure.value)
    assert "OpenCV cannot open this video" in str(failure.value) or "no frame OpenCV can decode" in str(failure.value)
    result = json.loads(out.getvalue())
    assert set(result) == {"scenarios", "summary"}
    assert set(result["summary"]) == {*EVENT_TYPES, "overall"}
    assert all(set(row) == SCORE_KEYS for row in result["summary"].values())
    by_name = {s["name"]: s for s in result["scenarios"]}
    sixty = by_name["sixty-fps"]
    assert set(sixty) == SCENARIO_KEYS  # scored, no error
    assert sixty["frames"] == 180  # every frame read, sampled down to 30 fps for detection
    assert set(by_name["broken-video"]) == SCENARIO_KEYS | {"error"} and by_name["broken-video"]["fn"] == 1
    assert result["summary"]["wrong_way"]["fn"] == 1  # a crash misses its events


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_generated_scenarios_through_the_live_path(detect_worker, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("make_scenarios", str(tmp_path), "--only", "speeding-03-95kmh", "normal-01", stdout=out)
    assert "speeding-03-95kmh: speeding" in out.getvalue() and "normal-01: no event" in out.getvalue()
    truth = load_scenario(tmp_path / "speeding-03-95kmh").events
    assert [e.type for e in truth] == ["speeding"] and truth[0].speed_kmh == pytest.approx(95, abs=0.1)

    out = io.StringIO()
    call_command("evaluate", str(tmp_path), "--json", "--no-worker", stdout=out)
    result = json.loads(out.getvalue())
    by_name = {s["name"]: s for s in result["scenarios"]}
    speeding = by_name["speeding-03-95kmh"]["reports"]
    assert [r["type"] for r in speeding] == ["speeding"]
    assert speeding[0]["speed_kmh"] == pytest.approx(95, rel=0.05)
    assert by_name["normal-01"]["reports"] == []
    summary = result["summary"]["speeding"]
    assert (summary["tp"], summary["fp"], summary["fn"]) == (1, 0, 0)
    assert summary["tta_mean_s"] < 1.0
    assert set(speeding[0]) == {"type", "trigger", "track_ids", "speed_kmh"}

    out = io.StringIO()
    call_command("evaluate", str(tmp_path), "--explain", "speeding-03-95kmh", "--no-worker", stdout=out)
    text = out.getvalue()
    assert "normal-01" not in text  # only the explained scenario ran
    assert "TRUE POSITIVE of truth speeding" in text and "measurements: " in text and "speed_kmh=" in text
    rows = [line for line in text.splitlines() if line.startswith("      ") and line.strip().lstrip(">")[:1].isdigit()]
    assert len(rows) >= 5
    assert any(abs(float(line.lstrip(" >").split()[5]) - 95) < 10 for line in rows)

"""Scenarios: the format of ../shared/SCENARIOS.md, its scoring rules, and the live path end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from detection.scenarios.format import ScenarioError, TruthEvent, load_scenario
from detection.scenarios.score import Report, score, total

CAMERA = {
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


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_generated_scenarios_through_the_live_path(celery_worker, tmp_path: Path) -> None:
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

"""Multi-frame verification: the camera keeps its last frames, an event carries a strip of them, and the
LLM step sends them pixelated in one multi-image message (real dashscope SDK against the local stub)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque

import cv2
import numpy as np
import pytest

from analysis import analyze
from analysis.models import LLMAnalysis
from analysis.stub import DashScopeStub
from core.redisclient import get_redis
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture import dispatch
from detection.capture.strip import FrameHistory
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.tracking import Track, TrackPoint
from tests.factories import make_camera
from tests.support.dashscope_helpers import KEY_A, clear_llm_state

pytestmark = pytest.mark.django_db

CAR_BOX = (0.30, 0.40, 0.55, 0.70)


def clip_frames(indices: list[int]) -> list[bytes]:
    """JPEGs of the real intersection clip at these frame numbers (20 fps: cars move between them)."""
    capture = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    frames: list[bytes] = []
    index = 0
    while len(frames) < len(indices):
        ok, image = capture.read()
        assert ok, f"the clip ended before frame {indices[len(frames)]}"
        if index in indices:
            frames.append(bytes(cv2.imencode(".jpg", image)[1]))
        index += 1
    capture.release()
    return frames


def car(ts: float, box: tuple[float, float, float, float] = CAR_BOX) -> Track:
    return Track(3, "car", deque([TrackPoint(ts, box, 0.9)]))


def history_of(jpegs: list[bytes], fps: float = 4.0) -> FrameHistory:
    history = FrameHistory()
    for seq, jpeg in enumerate(jpegs):
        history.add(seq, seq / fps, 1000.0 + seq / fps, jpeg, [car(seq / fps)])
    return history


def event_payload(camera_id: int, history: FrameHistory, event_type: str = "hard_braking") -> dict:
    last = history.frames[-1]
    context = CameraContext(camera_id, 50.0, [], {}, None)
    frame = FrameTracks(context, last.seq, last.ts, time.time(), (800, 600), [car(last.ts)], [])
    event = CandidateEvent(camera_id, event_type, (3,), started_at=last.ts - 1.5, triggered_at=last.ts,
                           measurements={"from_speed_kmh": 42.0, "speed_kmh": 12.0}, severity=2)  # fmt: skip
    strip = history.pick(event.started_at, event.triggered_at)
    return dict(dispatch.build_payload(event, frame, last.jpeg, uuid.uuid4().hex, strip))


def test_the_strip_spreads_over_the_event_and_ends_with_the_trigger() -> None:
    history = history_of([b"x%d" % i for i in range(40)], fps=10.0)  # 4 s of frames, 0.1 s apart
    picked = history.pick(started_at=2.0, triggered_at=3.9)
    assert len(picked) == 5
    assert picked[0].ts == pytest.approx(1.5) and picked[-1].ts == pytest.approx(3.9)
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(picked)]
    assert max(gaps) - min(gaps) <= 0.11  # evenly spread
    assert len(history_of([b"x"] * 200, fps=10.0).frames) <= 81  # bounded: the last 8 s only


def test_the_payload_lists_the_strip_frames_stored_in_redis() -> None:
    camera = make_camera()
    jpegs = clip_frames([0, 5, 10, 15, 20, 25, 30, 35])
    payload = event_payload(camera.pk, history_of(jpegs))
    strip = payload["strip"]
    assert len(strip) == 5 and strip[-1]["offset_s"] == 0.0 and strip[0]["offset_s"] == pytest.approx(-1.75)
    assert get_redis().get(strip[-1]["key"]) == jpegs[-1]
    assert strip[0]["boxes"] == [{"track_id": 3, "cls": "car", "xyxy": list(CAR_BOX)}]


@pytest.fixture
def stub(settings):
    server = DashScopeStub().start()
    clear_llm_state()
    settings.DASHSCOPE_API_KEYS = [KEY_A]
    settings.DASHSCOPE_BASE_URL = server.base_url
    yield server
    server.stop()


@pytest.mark.slow
def test_the_llm_gets_the_pixelated_strip_in_one_multi_image_message(stub: DashScopeStub) -> None:
    camera = make_camera(name="Ring Road")
    payload = event_payload(camera.pk, history_of(clip_frames([0, 5, 10, 15, 20, 25, 30, 35])))
    outcome = analyze.analyze_event(payload, task_id="strip-moving")
    assert outcome.outcome == "confirmed"
    (call,) = stub.calls_snapshot()
    # Five frames of 448 px (800 x 600 scaled) and the crop, then the text, in one user turn.
    assert call.frames == 5 and len(call.images) == 6 and call.images[:5] == [[448, 336]] * 5
    assert "Images 1 to 5 are 5 frames" in call.text and "Frame times: [-1.75, -1.25, -1.0, -0.5, 0.0]" in call.text
    assert '"from_speed_kmh": 42.0' in call.text
    # Pixelated from each frame's own boxes: the car's lower band is a mosaic, the rest is not.
    sent = cv2.imdecode(np.frombuffer(call.uploads[0], np.uint8), cv2.IMREAD_GRAYSCALE)
    x1, y1, x2, y2 = (round(CAR_BOX[0] * 448), round(0.40 * 336 + 0.30 * 336 * 0.55), round(CAR_BOX[2] * 448),
                      round(CAR_BOX[3] * 336))  # fmt: skip
    plate_band = sent[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
    assert len(np.unique(plate_band)) < len(np.unique(sent[10:40, 10:100]))
    row = LLMAnalysis.objects.get(event_key=payload["event_key"])
    assert row.prompt_version == "v2-strip" and row.verdict["dangerous"] is True
    assert row.verdict["description"].endswith("hard braking confirmed across 5 frames.")
    assert row.tokens_image == sum((w + 27) // 28 * ((h + 27) // 28) + 2 for w, h in call.images) and row.cost > 0


@pytest.mark.slow
def test_the_stub_verdict_depends_on_the_frames_it_is_sent(stub: DashScopeStub) -> None:
    camera = make_camera()
    frozen = clip_frames([0]) * 8  # a frozen picture: nothing moves across the strip
    payload = event_payload(camera.pk, history_of(frozen))
    assert analyze.analyze_event(payload, task_id="strip-frozen").outcome == "rejected"
    (call,) = stub.calls_snapshot()
    assert call.frames == 5 and call.motion == pytest.approx(0.0, abs=0.01)
    row = LLMAnalysis.objects.get(event_key=payload["event_key"])
    assert row.verdict["dangerous"] is False and "show no movement" in row.verdict["description"]


@pytest.mark.slow
def test_expired_strip_frames_fall_back_to_the_keyframe(stub: DashScopeStub) -> None:
    camera = make_camera()
    payload = event_payload(camera.pk, history_of(clip_frames([0, 5, 10, 15, 20, 25, 30, 35])))
    get_redis().delete(*[frame["key"] for frame in payload["strip"]])
    assert analyze.analyze_event(payload, task_id="strip-expired").outcome == "confirmed"
    (call,) = stub.calls_snapshot()
    assert call.frames == 0 and len(call.images) == 2
    assert LLMAnalysis.objects.get(event_key=payload["event_key"]).prompt_version == "v1"

"""The privacy pass: faces and plates are pixelated before upload whatever classes the camera tracks.

A camera that tracks only buses (or cars) still sees pedestrians; before this pass the LLM step knew
only the tracked boxes, so their faces went to the cloud as captured (issue 12, Low). The detect job
now also reports the people and vehicles of every frame (same inference, a lower threshold), and the
camera loop hands them to the event's keyframe and strip, where analysis/privacy.py pixelates them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import cv2
import numpy as np
import pytest

from analysis.privacy import HEAD_SHARE, prepare_images, prepare_strip
from cameras.payload import EventPayload
from cameras.sources import parse_source
from detection import framestore
from detection.assets import bundled_image
from detection.capture import dispatch
from detection.capture.camera import CameraLoop, CaptureSettings
from detection.capture.reader import Frame, FrameReader, ReaderConfig
from detection.capture.strip import FrameHistory
from detection.detect_job import run_detect_job
from detection.detector import PRIVACY_CONFIDENCE
from detection.events import CandidateEvent, FrameTracks
from tests.factories import make_camera

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def detect_bus_jpg(classes: list[str], confidence: float = 0.4) -> dict[str, Any]:
    """bus.jpg (a bus and four people) through the real detect job and YOLOv8n weights."""
    key, reply = framestore.frame_key(91, uuid.uuid4().hex, 0), framestore.reply_key(91, "privacy")
    framestore.put_frame(key, bundled_image().read_bytes())
    return run_detect_job(camera_id=91, seq=0, frame_key=key, reply_key=reply, confidence=confidence, classes=classes)


def test_the_detect_job_reports_people_and_vehicles_whatever_the_camera_tracks() -> None:
    result = detect_bus_jpg(["bus"], confidence=0.8)
    assert [box["cls"] for box in result["boxes"]] == ["bus"]  # tracking still sees the camera's classes only
    private = result["private"]
    people = [box for box in private if box["cls"] == "person"]
    assert len(people) >= 4 and any(box["cls"] == "bus" for box in private)
    assert all(box["conf"] > PRIVACY_CONFIDENCE for box in private)
    assert {box["cls"] for box in private} <= {"person", "car", "motorcycle", "bus", "truck"}


def head_change(sent: np.ndarray, captured: np.ndarray, box: list[float]) -> float:
    """Mean grey-level change of a person's head region between what is sent and what was captured.

    A pixelated head changes by tens of grey levels (a face becomes a few flat cells); a region left
    as it was changes only by JPEG re-encoding, about one level."""
    height, width = captured.shape[:2]
    x1, y1, x2, y2 = box
    rows = slice(int(y1 * height), int((y1 + (y2 - y1) * HEAD_SHARE) * height))
    cols = slice(int(x1 * width), int(np.ceil(x2 * width)))
    return float(np.abs(sent[rows, cols].astype(np.int16) - captured[rows, cols].astype(np.int16)).mean())


def test_a_bus_only_camera_sends_the_llm_its_frames_with_every_face_pixelated() -> None:
    """The real path from detection to upload, for a camera that does not track people."""
    camera = make_camera(classes=["bus"], detect_fps=5, motion_gate=False)
    sent: list[EventPayload] = []
    history = FrameHistory()

    class OneEvent:  # a rule that fires on the bus in the first frame
        def process(self, frame: FrameTracks) -> list[CandidateEvent]:
            ids = tuple(t.track_id for t in frame.tracks)
            return [CandidateEvent(camera.pk, "stalled_vehicle", ids, frame.ts - 0.2, frame.ts, {"stopped_s": 11.0})]

    def sink(event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None:
        strip = history.pick(event.started_at, event.triggered_at)
        sent.append(dispatch.build_payload(event, frame, jpeg, uuid.uuid4().hex, strip))

    reader = FrameReader(parse_source(camera.source_url), ReaderConfig(fps=5), str(camera.pk))
    loop = CameraLoop(camera, session="privacy", reader=reader, dispatch=lambda kwargs: None, rules=OneEvent(),
                      sink=sink, history=history,
                      capture=CaptureSettings(max_in_flight=4, result_timeout_s=5, motion_keepalive_s=1,
                                              stall_timeout_s=5))  # fmt: skip
    image = cv2.imread(str(bundled_image()))
    result = detect_bus_jpg(list(camera.classes), confidence=camera.confidence_threshold)
    assert {box["cls"] for box in result["boxes"]} == {"bus"}
    loop.handle(Frame(0, 0.0, time.time(), image), result, b"")
    (payload,) = sent

    people = [box for box in payload["boxes"] if box["cls"] == "person"]
    assert len(people) >= 4 and all(box["track_id"] == 0 for box in people)  # seen, not tracked
    assert [b["cls"] for b in payload["strip"][0]["boxes"] if b["track_id"]] == ["bus"]
    assert len([b for b in payload["strip"][0]["boxes"] if b["cls"] == "person"]) == len(people)

    from core.redisclient import get_redis

    keyframe = get_redis().get(payload["keyframe_key"])
    assert isinstance(keyframe, bytes)
    (frame_upload, *_) = prepare_images(keyframe, None, boxes=payload["boxes"], group_box=None, blur=True,
                                        max_side=2000)  # fmt: skip
    uploaded = cv2.imdecode(np.frombuffer(frame_upload.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    original = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    # Every head is a mosaic of a few cells in what leaves; the sky above the bus is left alone.
    changes = [head_change(uploaded, original, person["xyxy"]) for person in people]
    assert min(changes) > 4.0, changes
    assert head_change(uploaded, original, [0.3, 0.0, 0.7, 0.4]) < 2.0
    strip_frame = get_redis().get(payload["strip"][0]["key"])
    assert isinstance(strip_frame, bytes)
    (strip_upload,) = prepare_strip([(strip_frame, payload["strip"][0]["boxes"], 0.0)], blur=True, max_side=448)
    small = cv2.imdecode(np.frombuffer(strip_upload.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    unblurred = cv2.imdecode(np.frombuffer(strip_frame, np.uint8), cv2.IMREAD_GRAYSCALE)
    strip_changes = [head_change(small, unblurred, person["xyxy"]) for person in people]
    assert min(strip_changes) > 4.0, strip_changes
    # The player's overlay still draws only what was tracked.
    assert {box[1] for frame in history.track(0.0) for box in frame["boxes"]} == {"bus"}

"""Metric families of capture and detection. Labels are bounded: camera ids, class names, reasons."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)

FRAMES_READ = Counter("trafficsite_frames_read", "Frames decoded from the camera source", ["camera"])
FRAMES_SAMPLED = Counter("trafficsite_frames_sampled", "Frames kept by the detect-fps sampler", ["camera"])
FRAMES_SKIPPED_MOTION = Counter(
    "trafficsite_frames_skipped_motion", "Sampled frames not sent to detection: no motion", ["camera"]
)
FRAMES_DROPPED = Counter(
    "trafficsite_frames_dropped",
    "Frames given up on: backpressure (K detections in flight), reader (consumer too slow), lost (no result "
    "in time), error (detection failed on the frame)",
    ["camera", "reason"],
)
RECONNECTS = Counter("trafficsite_camera_reconnects", "Stream reconnect attempts", ["camera"])
CAMERA_UP = Gauge("trafficsite_camera_up", "1 when the camera delivers frames", ["camera"], multiprocess_mode="livemax")
FRAME_AGE = Gauge(
    "trafficsite_frame_age_seconds", "Age of the newest frame read", ["camera"], multiprocess_mode="livemax"
)
IN_FLIGHT = Gauge(
    "trafficsite_detect_in_flight", "Frames sent to detection, result pending", ["camera"], multiprocess_mode="livemax"
)
TRACKS = Gauge("trafficsite_tracks_active", "Tracked road users in view", ["camera"], multiprocess_mode="livemax")
TRAFFIC_GROUPS = Gauge(
    "trafficsite_traffic_groups",
    "Groups of road users close enough to interact",
    ["camera"],
    multiprocess_mode="livemax",
)
ROUND_TRIP = Histogram(
    "trafficsite_detect_round_trip_seconds", "Frame sent to result received, seen from the camera", ["camera"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip

DETECTIONS = Counter(
    "trafficsite_detections", "Objects detected, by class (weak ones kept for tracking included)", ["cls"]
)
DETECT_LATENCY = Histogram(
    "trafficsite_detect_latency_seconds", "Model time per frame in the detect worker", buckets=LATENCY_BUCKETS
)
DETECT_TOTAL = Counter("trafficsite_detect_frames", "Frames processed by the detect worker", ["outcome"])

# Counted by the camera process as it sends each candidate event on (the metric's name predates the move).
TASKS_GENERATED = Counter(
    "trafficsite_llm_tasks_generated", "Candidate events sent on, by task: analysis.analyze_event (LLM) or "
    "alerts.record_alert (rules only)", ["task"],
)  # fmt: skip

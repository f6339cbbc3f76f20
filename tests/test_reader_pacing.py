"""A video file played as a camera: in real time for the frames the sampler keeps, and no wake-up for
the others (each cost more CPU than decoding the frame: bench/detect_throughput.py --only-idle)."""

from __future__ import annotations

import contextlib
import queue
import threading
import time

import pytest

from cameras.sources import parse_source
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.reader import Frame, FrameReader, ReaderConfig

CLIP_FRAMES, CLIP_FPS = 60, 20.0  # the bundled intersection clip


class CountedWaits(threading.Event):
    """The reader's stop event, counting the timed waits the reader sleeps in."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            self.waits += 1
        return super().wait(timeout)


def play(detect_fps: float) -> tuple[list[Frame], float, int]:
    """The clip once through a real reader in real time: the frames kept, when it started, the waits."""
    config = ReaderConfig(fps=detect_fps, loop_files=False, drop_when_busy=False)
    reader = FrameReader(parse_source(str(asset_path(CLIP_CARS_TRUCK))), config, "pacing")
    reader.stop_event = stop = CountedWaits()
    started = time.time()
    reader.start()
    frames: list[Frame] = []
    while not (reader.finished.is_set() and reader.frames.empty()) and time.time() - started < 30:
        with contextlib.suppress(queue.Empty):
            frames.append(reader.frames.get(timeout=0.1))
    reader.stop()
    reader.join(5)
    return frames, started, stop.waits


def test_a_file_camera_waits_only_for_the_frames_it_keeps_and_hands_each_over_at_its_time() -> None:
    frames, started, waits = play(detect_fps=5.0)
    kept = int(CLIP_FRAMES * 5.0 / CLIP_FPS)
    assert [f.seq for f in frames] == list(range(kept))
    assert [f.ts for f in frames] == pytest.approx([i / 5.0 for i in range(kept)])
    # Still real time for what the camera loop sees: no kept frame comes before its time in the clip.
    assert all(f.wall_time >= started + f.ts for f in frames)
    # One sleep per kept frame at most (the first is due at once); a sleep per frame read was 59.
    assert waits <= kept


def test_a_file_camera_sampling_every_frame_still_waits_for_each() -> None:
    frames, started, waits = play(detect_fps=CLIP_FPS)
    assert len(frames) == CLIP_FRAMES
    assert all(f.wall_time >= started + f.ts for f in frames)
    assert frames[-1].wall_time - started >= (CLIP_FRAMES - 1) / CLIP_FPS
    assert waits >= CLIP_FRAMES // 2  # a frame already late (a loaded machine) is not waited for

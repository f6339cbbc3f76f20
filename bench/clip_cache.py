"""CPU, disk and Redis cost per camera of the rolling clip cache (detection/capture/recorder.py).

    .venv/bin/python bench/clip_cache.py [--seconds 30]

Runs the real recorder for ``--seconds`` on a camera-like source played in real time (a looping
file), three ways: the H.264 intersection clip (packets copied, ``-c copy``), the same clip in
MPEG-4 part 2 (what the demo street is; re-encoded to H.264 with libx264 ultrafast), and, for
scale, what the camera loop's own reader pays to decode the same H.264 stream in real time (OpenCV).
For each: CPU seconds per second of video (ffmpeg child + this process's recorder thread), the
most bytes the cache folder held on disk, and the bytes per second kept in Redis (times
CLIP_CACHE_S: the cache's memory per camera). The clip's latency (detection to clip available) is
printed by tests/test_clip_browser.py, which runs the whole path.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/14); uses a throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
WORK = Path(tempfile.mkdtemp(prefix="trafficsite-bench-"))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("TRAFFICSITE_DATA_DIR", str(WORK))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")

import cv2  # noqa: E402
import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from cameras.sources import Source, SourceKind  # noqa: E402
from detection.assets import CLIP_CARS_TRUCK, asset_path  # noqa: E402
from detection.capture.recorder import Recorder, RecorderConfig  # noqa: E402


def child_cpu_s(pid: int) -> float:
    """utime + stime of a live process, from /proc (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_recorder(camera_id: int, source: Source, seconds: float) -> dict[str, float]:
    recorder = Recorder(camera_id, source, RecorderConfig(segment_s=settings.CLIP_SEGMENT_S, keep_s=120.0))
    started_self = self_cpu_s()
    recorder.start()
    while recorder.process is None:
        time.sleep(0.05)
    pid = recorder.process.pid
    started = time.monotonic()
    disk_peak = 0
    ffmpeg_cpu = 0.0
    while time.monotonic() - started < seconds:
        folder = recorder._folder
        disk_peak = max(disk_peak, sum(p.stat().st_size for p in folder.glob("*.ts") if p.exists()))
        with contextlib.suppress(OSError, IndexError):  # ffmpeg restarting: keep the last reading
            ffmpeg_cpu = child_cpu_s(pid)
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    recorder.stop()
    recorder.join(timeout=15)
    own_cpu = self_cpu_s() - started_self  # the recorder thread (and this sampling loop: an upper bound)
    return {
        "ffmpeg_cpu_per_s": ffmpeg_cpu / elapsed,
        "python_cpu_per_s": own_cpu / elapsed,
        "disk_peak_bytes": float(disk_peak),
        "redis_bytes_per_s": recorder.bytes_stored / elapsed,
        "segments": float(recorder.segments_stored),
        "copied": float(bool(recorder.copied)),
    }


def decode_cost(path: Path, seconds: float) -> float:
    """CPU seconds per second of the loop's reader decoding the same stream in real time (grab + retrieve)."""
    stop = threading.Event()
    started_self = self_cpu_s()

    def read() -> None:
        while not stop.is_set():
            capture = cv2.VideoCapture(str(path))
            fps = capture.get(cv2.CAP_PROP_FPS) or 20.0
            begin, index = time.monotonic(), 0
            while not stop.is_set() and capture.grab():
                capture.retrieve()
                index += 1
                delay = begin + index / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            capture.release()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return (self_cpu_s() - started_self) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    h264 = asset_path(CLIP_CARS_TRUCK)
    mpeg4 = WORK / "mpeg4.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(h264), "-c:v", "mpeg4", "-q:v", "5", str(mpeg4)], check=True)
    print(f"rolling clip cache, {args.seconds:.0f} s per run, segments of {settings.CLIP_SEGMENT_S} s, "
          f"800x600 at 20 fps, {os.cpu_count()} cores")  # fmt: skip
    for camera_id, label, path in ((990001, "H.264, copied (-c copy)", h264),
                                   (990002, "MPEG-4 part 2, re-encoded (libx264 ultrafast)", mpeg4)):  # fmt: skip
        result = run_recorder(camera_id, Source(SourceKind.FILE, str(path)), args.seconds)
        print(f"{label}:")
        print(f"  CPU: ffmpeg {100 * result['ffmpeg_cpu_per_s']:.1f} % of a core, "
              f"recorder thread (upper bound) {100 * result['python_cpu_per_s']:.1f} %")  # fmt: skip
        print(f"  disk: at most {result['disk_peak_bytes'] / 1024:.0f} KiB in the cache folder")
        print(f"  Redis: {result['redis_bytes_per_s'] * 8 / 1000:.0f} kbit/s -> "
              f"{result['redis_bytes_per_s'] * settings.CLIP_CACHE_S / 1e6:.1f} MB for CLIP_CACHE_S="
              f"{settings.CLIP_CACHE_S:.0f} s ({result['segments']:.0f} segments)")  # fmt: skip
    print(f"for scale, the camera loop decoding the H.264 stream: {100 * decode_cost(h264, args.seconds):.1f} % "
          "of a core")  # fmt: skip


if __name__ == "__main__":
    main()

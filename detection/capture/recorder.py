"""The camera's rolling video cache: an ffmpeg child remuxes the camera's packets into short segments.

Started by the camera loop beside the frame reader. ffmpeg opens the source a second time and, for an
H.264 source, copies its compressed packets (``-c copy``) into MPEG-TS segments of about
``segment_s`` (cut at the camera's keyframes): nothing is decoded, so the loop's decoding cost is not
doubled. A source a browser cannot play once copied into MP4 (MJPEG over HTTP, MPEG-4 part 2 files)
is re-encoded to H.264 (libx264 ultrafast, a keyframe every segment), which costs real CPU:
bench/clip_cache.py measures both. Each finished segment goes to Redis (cameras/clipcache.py) and
its file is deleted, so the disk holds at most the segment being written and one finished one.

Segment times: ffmpeg reports each segment's start and end in stream time when it closes the
segment, which is when the first packet of the next one arrives. The wall clock of stream time 0 is
estimated as the smallest (now - end) seen in a run, so a late poll never shifts the clip later.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cameras import clipcache
from cameras.sources import Source, SourceKind

logger = logging.getLogger(__name__)

# Codecs that browsers play from an MP4: their packets are copied, anything else is re-encoded.
COPYABLE_CODECS = {"h264"}


@dataclass(frozen=True)
class RecorderConfig:
    segment_s: float = 0.5  # target segment length; copied streams can only be cut at their keyframes
    keep_s: float = 90.0  # how long segments stay in the cache (pre-roll + event + post-roll + a margin)
    poll_s: float = 0.2
    probe_timeout_s: float = 10.0
    backoff_max_s: float = 30.0


def probe_codec(source: Source, timeout_s: float) -> str:
    """The codec name of the source's first video stream ('' when it cannot be read now)."""
    command = ["ffprobe", "-v", "error", *input_options(source, probing=True), "-select_streams", "v:0",
               "-show_entries", "stream=codec_name", "-of", "default=nw=1:nk=1", source.url]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else ""


def input_options(source: Source, *, probing: bool = False) -> list[str]:
    if source.kind is SourceKind.RTSP:
        if probing:
            return ["-rtsp_transport", "tcp", "-timeout", "5000000"]
        # As Frigate reads RTSP: TCP, a socket timeout, corrupt packets dropped, missing pts generated.
        return ["-avoid_negative_ts", "make_zero", "-fflags", "+genpts+discardcorrupt", "-rtsp_transport", "tcp",
                "-timeout", "5000000"]  # fmt: skip
    if source.kind is SourceKind.HTTP:
        # An MJPEG stream has no timestamps of its own: each frame gets its arrival time.
        return [] if probing else ["-use_wallclock_as_timestamps", "1"]
    # A file plays like a camera: at its own rate, looping (as the frame reader does).
    return [] if probing else ["-re", "-stream_loop", "-1"]


def ffmpeg_command(source: Source, folder: Path, config: RecorderConfig, *, copy: bool) -> list[str]:
    if copy:
        codec = ["-c:v", "copy"]
        if source.kind is SourceKind.RTSP:
            # RTP carries no decoding times: with B-frames the first packets have neither pts nor dts, which
            # the MPEG-TS muxer refuses ("first pts and dts value must be set"). Fill each from the other.
            codec += ["-bsf:v", "setts=dts=if(eq(DTS\\,NOPTS)\\,PTS\\,DTS):pts=if(eq(PTS\\,NOPTS)\\,DTS\\,PTS)"]
    else:
        # A keyframe every segment: clips can then be cut to within a segment of any time.
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                 "-force_key_frames", f"expr:gte(t,n_forced*{config.segment_s})"]  # fmt: skip
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        *input_options(source), "-i", source.url,
        "-map", "0:v:0", "-an", *codec,
        "-f", "segment", "-segment_time", str(config.segment_s), "-segment_format", "mpegts",
        "-segment_list", str(folder / "list.csv"), "-segment_list_type", "csv", "-segment_list_size", "10",
        str(folder / "seg%09d.ts"),
    ]  # fmt: skip


def _die_with_parent() -> None:
    """In the ffmpeg child: get SIGTERM when the capture process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Recorder(threading.Thread):
    """Keeps one camera's rolling cache filled while the camera loop runs; restarts ffmpeg on failure."""

    def __init__(self, camera_id: int, source: Source, config: RecorderConfig | None = None) -> None:
        super().__init__(name=f"recorder-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.source = source
        self.config = config or RecorderConfig()
        self.stop_event = threading.Event()
        self.copied: bool | None = None  # decided by probing the source
        self.segments_stored = 0
        self.bytes_stored = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._folder = Path(tempfile.mkdtemp(prefix=f"clipcache-{camera_id}-"))
        self._done_names: set[str] = set()
        self._anchor = float("inf")
        self._run = ""

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
            # ./run needs nothing but Python; clips need ffmpeg (scripts/system-deps.sh, the compose image).
            logger.warning("camera %s: ffmpeg is not installed: no rolling clip cache, alerts come without clips",
                           self.camera_id)  # fmt: skip
            shutil.rmtree(self._folder, ignore_errors=True)
            return
        failures = 0
        try:
            while not self.stop_event.is_set():
                if self.copied is None:
                    codec = probe_codec(self.source, self.config.probe_timeout_s)
                    if not codec:
                        failures += 1
                        self._pause(failures, "cannot read the source's video codec")
                        continue
                    self.copied = codec in COPYABLE_CODECS
                    logger.info("camera %s: rolling clip cache %s (%s source)", self.camera_id,
                                "copies the packets" if self.copied else "re-encodes to H.264", codec)  # fmt: skip
                got = self._one_run()
                if self.stop_event.is_set():
                    break
                failures = 0 if got else failures + 1
                self._pause(max(failures, 1), "ffmpeg stopped")
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _pause(self, failures: int, why: str) -> None:
        delay = min(self.config.backoff_max_s, 0.5 * 2 ** (failures - 1))
        logger.warning("camera %s: clip cache: %s; trying again in %.1f s", self.camera_id, why, delay)
        self.stop_event.wait(delay)

    def _one_run(self) -> bool:
        """Run ffmpeg until it exits or we stop; returns whether it produced any segment."""
        assert self.copied is not None
        self._run, self._anchor, self._done_names = uuid.uuid4().hex[:8], float("inf"), set()
        for stale in self._folder.iterdir():
            stale.unlink(missing_ok=True)
        stored_before = self.segments_stored
        log = (self._folder / "ffmpeg.log").open("wb")
        try:
            self.process = subprocess.Popen(
                ffmpeg_command(self.source, self._folder, self.config, copy=self.copied),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, preexec_fn=_die_with_parent,
            )  # fmt: skip
            while not self.stop_event.wait(self.config.poll_s):
                self.collect()
                if self.process.poll() is not None:
                    break
            if self.process.poll() is None:
                self.process.terminate()  # ffmpeg closes the segment it is writing and lists it
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.collect()
        finally:
            log.close()
        if self.process.returncode not in (0, 255, -signal.SIGTERM):
            tail = (self._folder / "ffmpeg.log").read_bytes()[-500:].decode(errors="replace").strip()
            logger.warning("camera %s: clip cache ffmpeg exited %s: %s", self.camera_id, self.process.returncode,
                           tail.replace(self.source.url, self.source.masked))  # fmt: skip
        return self.segments_stored > stored_before

    def collect(self) -> int:
        """Move the segments ffmpeg has finished into the cache; returns how many."""
        listing = self._folder / "list.csv"
        if not listing.exists():
            return 0
        now = time.time()
        moved = 0
        for line in listing.read_text().splitlines():
            name, _, rest = line.partition(",")
            if not name or name in self._done_names:
                continue
            start_pts, _, end_pts = rest.partition(",")
            path = self._folder / name
            try:
                start, end = float(start_pts), float(end_pts)
                data = path.read_bytes()
            except (ValueError, OSError):
                continue
            self._done_names.add(name)
            path.unlink(missing_ok=True)
            self._anchor = min(self._anchor, now - end)
            segment = clipcache.Segment(self._run, self._anchor + start, self._anchor + end, bool(self.copied))
            clipcache.put_segment(self.camera_id, segment, data, self.config.keep_s)
            self.segments_stored += 1
            self.bytes_stored += len(data)
            moved += 1
        return moved

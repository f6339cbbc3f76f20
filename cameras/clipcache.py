"""A camera's rolling cache of compressed video: short MPEG-TS segments in Redis, indexed by wall time.

The camera's capture process writes it (detection/capture/recorder.py); the alerts worker reads it to
cut an alert's clip (alerts/clips.py), on whatever host either runs. Each segment is stored once with a
TTL (the cache's length), and a sorted set per camera indexes them by their start time, so reading a
time window is one range query. Segments of one ffmpeg run (``run``) have continuous timestamps and
can be joined byte for byte; a reconnect starts a new run.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.redisclient import get_redis, key


@dataclass(frozen=True)
class Segment:
    run: str  # one ffmpeg process: segments of a run join into one stream
    start: float  # wall-clock seconds (epoch) of the segment's first frame
    end: float
    copied: bool  # the camera's packets as they came (True) or re-encoded to H.264 (False)

    @property
    def member(self) -> str:
        return f"{self.run}:{self.start:.3f}:{self.end:.3f}:{int(self.copied)}"

    @classmethod
    def from_member(cls, member: str) -> Segment:
        run, start, end, copied = member.rsplit(":", 3)
        return cls(run, float(start), float(end), copied == "1")


def index_key(camera_id: int) -> str:
    return key("clipcache", camera_id, "index")


def data_key(camera_id: int, segment: Segment) -> str:
    return key("clipcache", camera_id, "seg", segment.member)


def put_segment(camera_id: int, segment: Segment, data: bytes, keep_s: float) -> None:
    """Store one finished segment for ``keep_s`` seconds and forget index entries older than that."""
    pipe = get_redis().pipeline()
    pipe.set(data_key(camera_id, segment), data, ex=max(1, round(keep_s)))
    pipe.zadd(index_key(camera_id), {segment.member: segment.start})
    pipe.zremrangebyscore(index_key(camera_id), "-inf", segment.end - keep_s)
    pipe.expire(index_key(camera_id), max(1, round(keep_s)))
    pipe.execute()


def segments(camera_id: int, start: float, end: float) -> list[Segment]:
    """The cached segments that overlap [start, end], oldest first."""
    members = get_redis().zrangebyscore(index_key(camera_id), start - 120.0, end)
    found = [Segment.from_member(m.decode() if isinstance(m, bytes) else str(m)) for m in members]
    return sorted((s for s in found if s.end > start and s.start < end), key=lambda s: s.start)


def latest_end(camera_id: int) -> float | None:
    """Wall time up to which the cache has video (the end of its newest segment)."""
    newest = get_redis().zrange(index_key(camera_id), -1, -1)
    if not newest:
        return None
    raw = newest[0]
    return Segment.from_member(raw.decode() if isinstance(raw, bytes) else str(raw)).end


def read(camera_id: int, segment: Segment) -> bytes | None:
    data = get_redis().get(data_key(camera_id, segment))
    return data if isinstance(data, bytes) else None

"""ByteTrack (Zhang et al., 2022) on numpy and ``lap`` only: a port of Ultralytics' ``BYTETracker``.

Why a port and not a package: importing Ultralytics' tracker imports PyTorch (~750 MB resident in
every camera process), and the torch-free packagings all bring a heavier problem. Roboflow's
``supervision`` dropped its ByteTrack (0.27+); ``trackers`` (its successor) and ``supervision``
<= 0.26 require the GUI ``opencv-python``, which pip installs beside the headless OpenCV we use (both
own ``cv2/``), and import about 1,100 modules (+76 MB PSS a process); ``bytetracker`` imports torch;
``norfair`` is not ByteTrack and pins numpy < 2. The port keeps Ultralytics 8.4's algorithm step for
step, with the options we use (axis-aligned boxes, no camera-motion compensation, no appearance
features), so tracking behaves exactly as before; tests/test_tracking.py checks it against
Ultralytics' tracker frame by frame where Ultralytics is installed. Ultralytics is AGPL-3.0, as is
this project.

The Kalman filter tracks (centre x, centre y, aspect ratio, height) and their velocities, one step per
update; the matching is IoU (optionally fused with the detection score) solved by ``lap.lapjv``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

import lap
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]


REFIND_WEAK_IOU = 0.8  # see ByteTrackConfig.refind_weak


@dataclass(frozen=True)
class ByteTrackConfig:
    track_high_thresh: float = 0.25  # first association: detections at least this confident
    track_low_thresh: float = 0.1  # second association: the rest above this
    new_track_thresh: float = 0.25  # an unmatched detection starts a track from this confidence
    # Not in ByteTrack: a lost track may also be found again by a weak detection over its predicted box
    # (IoU > REFIND_WEAK_IOU). A far car standing still is often detected at 0.1-0.2 only: one frame
    # under the floor loses its track, and ByteTrack would then wait for a confident detection that
    # never comes.
    refind_weak: bool = False
    # Not in ByteTrack either: a track seen once (unconfirmed) of one of these classes (COCO ids) may be
    # confirmed by a weak detection over it (IoU >= 0.5, as the second association), not only by a
    # confident one. A cyclist the detector sees at 0.45 in one frame and at 0.2-0.3 in the next (its
    # confidence split between person, bicycle and motorcycle) otherwise never gets a track. Not for
    # vehicles: a weak sliver box beside a car would become a track and take the car's identity.
    confirm_weak_classes: frozenset[int] = frozenset()
    track_buffer: int = 30  # frames a lost track is kept for re-identification
    match_thresh: float = 0.8  # first association: the highest cost (1 - IoU, score-fused) matched
    fuse_score: bool = True  # weigh IoU by the detection's confidence in the first association


class State(IntEnum):
    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


class KalmanFilterXYAH:
    """Constant-velocity Kalman filter on (x, y, a, h): noise scaled by the box height (as DeepSORT's)."""

    std_weight_position = 1.0 / 20
    std_weight_velocity = 1.0 / 160

    def __init__(self) -> None:
        self.motion_mat = np.eye(8)
        for i in range(4):
            self.motion_mat[i, 4 + i] = 1.0

    def initiate(self, measurement: FloatArray) -> tuple[FloatArray, FloatArray]:
        measurement = np.asarray(measurement, dtype=np.float64)
        mean = np.r_[measurement, np.zeros_like(measurement)]
        h = measurement[3]
        pos, vel = 2 * self.std_weight_position * h, 10 * self.std_weight_velocity * h
        std = [pos, pos, 1e-2, pos, vel, vel, 1e-5, vel]
        return mean, np.diag(np.square(std))

    def multi_predict(self, mean: FloatArray, covariance: FloatArray) -> tuple[FloatArray, FloatArray]:
        h = mean[:, 3]
        pos, vel = self.std_weight_position * h, self.std_weight_velocity * h
        std = [pos, pos, 1e-2 * np.ones_like(h), pos, vel, vel, 1e-5 * np.ones_like(h), vel]
        sqr = np.square(np.asarray(std)).T
        motion_cov = np.zeros((sqr.shape[0], 8, 8))
        motion_cov[:, range(8), range(8)] = sqr
        mean = np.dot(mean, self.motion_mat.T)
        left = np.dot(self.motion_mat, covariance).transpose((1, 0, 2))
        return mean, np.dot(left, self.motion_mat.T) + motion_cov

    def update(
        self, mean: FloatArray, covariance: FloatArray, measurement: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        h = mean[3]
        innovation_cov = np.diag(np.square([self.std_weight_position * h, self.std_weight_position * h, 1e-1,
                                            self.std_weight_position * h]))  # fmt: skip
        projected_mean, projected_cov = mean[:4].copy(), covariance[:4, :4] + innovation_cov
        gain = np.linalg.solve(projected_cov, covariance[:, :4].T).T
        new_mean = mean + np.dot(measurement - projected_mean, gain.T)
        new_cov = covariance - np.linalg.multi_dot((gain, projected_cov, gain.T))
        return new_mean, new_cov


def _tlwh_to_xyah(tlwh: FloatArray) -> FloatArray:
    ret = np.asarray(tlwh).copy()
    ret[:2] += ret[2:] / 2
    ret[2] /= ret[3]
    return ret


class STrack:
    """One track: its filter state, and the detection (index, score, class) that last updated it."""

    def __init__(self, xywh: FloatArray, score: float, cls: float, idx: int) -> None:
        tlwh = np.copy(xywh[:4])
        tlwh[0] = xywh[0] - xywh[2] / 2
        tlwh[1] = xywh[1] - xywh[3] / 2
        self._tlwh = np.asarray(tlwh, dtype=np.float32)
        self.mean: FloatArray | None = None
        self.covariance: FloatArray | None = None
        self.state = State.NEW
        self.is_activated = False
        self.track_id = 0
        self.score = score
        self.cls = cls
        self.idx = idx
        self.frame_id = 0
        self.start_frame = 0

    @property
    def tlwh(self) -> FloatArray:
        if self.mean is None:
            return self._tlwh.copy()
        ret = self.mean[:4].copy()
        ret[2] *= ret[3]
        ret[:2] -= ret[2:] / 2
        return ret

    @property
    def xyxy(self) -> FloatArray:
        ret = self.tlwh
        ret[2:] += ret[:2]
        return ret

    def activate(self, kf: KalmanFilterXYAH, frame_id: int, track_id: int) -> None:
        self.track_id = track_id
        self.mean, self.covariance = kf.initiate(_tlwh_to_xyah(self._tlwh))
        self.state = State.TRACKED
        self.is_activated = frame_id == 1  # later tracks are confirmed by a second detection
        self.frame_id = self.start_frame = frame_id

    def update(self, kf: KalmanFilterXYAH, det: STrack, frame_id: int) -> None:
        """A match: the filter takes the detection in (re-finding a lost track is the same step)."""
        assert self.mean is not None and self.covariance is not None
        self.mean, self.covariance = kf.update(self.mean, self.covariance, _tlwh_to_xyah(det.tlwh))
        self.frame_id = frame_id
        self.state = State.TRACKED
        self.is_activated = True
        self.score, self.cls, self.idx = det.score, det.cls, det.idx


def _iou_distance(a: list[STrack], b: list[STrack]) -> npt.NDArray[np.float32]:
    ious = np.zeros((len(a), len(b)), dtype=np.float32)
    if a and b:
        box1 = np.ascontiguousarray([t.xyxy for t in a], dtype=np.float32)
        box2 = np.ascontiguousarray([t.xyxy for t in b], dtype=np.float32)
        b1_x1, b1_y1, b1_x2, b1_y2 = box1.T
        b2_x1, b2_y1, b2_x2, b2_y2 = box2.T
        inter = (np.minimum(b1_x2[:, None], b2_x2) - np.maximum(b1_x1[:, None], b2_x1)).clip(0) * (
            np.minimum(b1_y2[:, None], b2_y2) - np.maximum(b1_y1[:, None], b2_y1)
        ).clip(0)
        union = (b2_x2 - b2_x1) * (b2_y2 - b2_y1) + ((b1_x2 - b1_x1) * (b1_y2 - b1_y1))[:, None] - inter
        ious = inter / (union + 1e-7)
    return np.asarray(1 - ious, dtype=np.float32)


def _fuse_score(cost: npt.NDArray[np.float32], detections: list[STrack]) -> npt.NDArray[np.float32]:
    if cost.size == 0:
        return cost
    scores = np.array([d.score for d in detections])[None].repeat(cost.shape[0], axis=0)
    return np.asarray(1 - (1 - cost) * scores, dtype=cost.dtype)


def _linear_assignment(
    cost: npt.NDArray[np.floating], thresh: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Matches (row, column) with cost <= thresh; the unmatched rows and columns."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    matches = [(int(ix), int(mx)) for ix, mx in enumerate(x) if mx >= 0]
    return matches, [int(i) for i in np.where(x < 0)[0]], [int(i) for i in np.where(y < 0)[0]]


def _joint(a: list[STrack], b: Iterable[STrack]) -> list[STrack]:
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def _sub(a: list[STrack], b: Iterable[STrack]) -> list[STrack]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]


def _remove_duplicates(a: list[STrack], b: list[STrack]) -> tuple[list[STrack], list[STrack]]:
    """A tracked and a lost track on the same object: keep the older one."""
    pairs = np.where(_iou_distance(a, b) < 0.15)
    dup_a, dup_b = set(), set()
    for p, q in zip(*pairs, strict=True):
        if a[p].frame_id - a[p].start_frame > b[q].frame_id - b[q].start_frame:
            dup_b.add(int(q))
        else:
            dup_a.add(int(p))
    return [t for i, t in enumerate(a) if i not in dup_a], [t for i, t in enumerate(b) if i not in dup_b]


class ByteTracker:
    """Feed one frame's detections per call, in frame order; returns the tracks confirmed in it."""

    REMOVED_KEPT = 1000  # removed tracks remembered (by id) so a late duplicate never comes back

    def __init__(self, config: ByteTrackConfig) -> None:
        self.config = config
        self.kf = KalmanFilterXYAH()
        self.frame_id = 0
        self.tracked: list[STrack] = []
        self.lost: list[STrack] = []
        self.removed: list[STrack] = []
        self._next_id: Callable[[], int] = itertools.count(1).__next__

    def update(self, xyxy: FloatArray, scores: FloatArray, classes: FloatArray) -> npt.NDArray[np.float32]:
        """Rows of (x1, y1, x2, y2, track id, score, class, detection index) for the confirmed tracks.

        The box is the filter's estimate; the detection index says which input row updated the track.
        """
        self.frame_id += 1
        cfg = self.config
        activated: list[STrack] = []
        refind: list[STrack] = []
        lost: list[STrack] = []
        removed: list[STrack] = []

        xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        classes = np.asarray(classes, dtype=np.float32).reshape(-1)
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        xywh = np.hstack([xyxy[:, 0:2] + wh / 2, wh]).astype(np.float64)  # as Ultralytics' (bit for bit)
        valid = (wh[:, 0] > 0) & (wh[:, 1] > 0)  # a zero height would put inf in the filter's aspect ratio
        high = valid & (scores >= cfg.track_high_thresh)
        low = valid & (scores > cfg.track_low_thresh) & (scores < cfg.track_high_thresh)
        detections = [STrack(xywh[i], scores[i], classes[i], int(i)) for i in np.flatnonzero(high)]
        detections_second = [STrack(xywh[i], scores[i], classes[i], int(i)) for i in np.flatnonzero(low)]

        unconfirmed = [t for t in self.tracked if not t.is_activated]
        pool = _joint([t for t in self.tracked if t.is_activated], self.lost)
        self._multi_predict(pool)

        # First association: confident detections with every tracked and lost track.
        dists = self._dists(pool, detections)
        matches, u_track, u_detection = _linear_assignment(dists, cfg.match_thresh)
        for it, idet in matches:
            (activated if pool[it].state == State.TRACKED else refind).append(pool[it])
            pool[it].update(self.kf, detections[idet], self.frame_id)

        # Second association: the weak detections with the tracked ones left over (not the lost).
        remaining = [pool[i] for i in u_track if pool[i].state == State.TRACKED]
        u_second = list(range(len(detections_second)))
        if remaining and detections_second:
            matches, u_remaining, u_second = _linear_assignment(_iou_distance(remaining, detections_second), 0.5)
            for it, idet in matches:
                (activated if remaining[it].state == State.TRACKED else refind).append(remaining[it])
                remaining[it].update(self.kf, detections_second[idet], self.frame_id)
        else:
            u_remaining = list(range(len(remaining)))
        lost_left = [pool[i] for i in u_track if pool[i].state != State.TRACKED] if cfg.refind_weak else []
        weak_left = list(u_second)  # weak detections no track has taken
        if lost_left and u_second:
            # Only a weak box almost exactly where the lost track was: two overlapping road users give
            # weak in-between boxes that a looser match would follow from one to the other.
            weak = [detections_second[i] for i in u_second]
            matches, _, u_weak = _linear_assignment(_iou_distance(lost_left, weak), 1 - REFIND_WEAK_IOU)
            for it, idet in matches:
                refind.append(lost_left[it])
                lost_left[it].update(self.kf, weak[idet], self.frame_id)
            weak_left = [u_second[i] for i in u_weak]
        for it in u_remaining:
            remaining[it].state = State.LOST
            lost.append(remaining[it])

        # Tracks seen in one frame only: confirmed by a match now, or dropped.
        detections = [detections[i] for i in u_detection]
        u_detection = list(range(len(detections)))
        if unconfirmed:
            matches, u_unconfirmed, u_detection = _linear_assignment(self._dists(unconfirmed, detections), 0.7)
            for it, idet in matches:
                unconfirmed[it].update(self.kf, detections[idet], self.frame_id)
                activated.append(unconfirmed[it])
            # A weak detection over it confirms one of the confirm_weak_classes (see ByteTrackConfig).
            candidates = [i for i in u_unconfirmed if int(unconfirmed[i].cls) in cfg.confirm_weak_classes]
            confirmed: set[int] = set()
            if candidates and weak_left:
                weak_boxes = [detections_second[i] for i in weak_left]
                cost = _iou_distance([unconfirmed[i] for i in candidates], weak_boxes)
                for it, idet in _linear_assignment(cost, 0.5)[0]:
                    track = unconfirmed[candidates[it]]
                    track.update(self.kf, weak_boxes[idet], self.frame_id)
                    activated.append(track)
                    confirmed.add(candidates[it])
            for it in u_unconfirmed:
                if it in confirmed:
                    continue
                unconfirmed[it].state = State.REMOVED
                removed.append(unconfirmed[it])

        for inew in u_detection:
            track = detections[inew]
            if track.score < cfg.new_track_thresh:
                continue
            track.activate(self.kf, self.frame_id, self._next_id())
            activated.append(track)

        for track in self.lost:
            if self.frame_id - track.frame_id > cfg.track_buffer:
                track.state = State.REMOVED
                removed.append(track)

        self.tracked = [t for t in self.tracked if t.state == State.TRACKED]
        self.tracked = _joint(_joint(self.tracked, activated), refind)
        self.lost = _sub(self.lost, self.tracked)
        self.lost.extend(lost)
        self.lost = _sub(self.lost, self.removed)
        self.tracked, self.lost = _remove_duplicates(self.tracked, self.lost)
        self.removed.extend(removed)
        del self.removed[: -self.REMOVED_KEPT]

        rows = [[*t.xyxy.tolist(), t.track_id, t.score, t.cls, t.idx] for t in self.tracked if t.is_activated]
        return np.asarray(rows, dtype=np.float32).reshape(-1, 8)

    def _dists(self, tracks: list[STrack], detections: list[STrack]) -> npt.NDArray[np.float32]:
        dists = _iou_distance(tracks, detections)
        return _fuse_score(dists, detections) if self.config.fuse_score else dists

    def _multi_predict(self, tracks: list[STrack]) -> None:
        if not tracks:
            return
        mean = np.asarray([t.mean for t in tracks])
        covariance = np.asarray([t.covariance for t in tracks])
        for i, t in enumerate(tracks):
            if t.state != State.TRACKED:
                mean[i][7] = 0  # a lost track's height stops changing
        mean, covariance = self.kf.multi_predict(mean, covariance)
        for t, m, c in zip(tracks, mean, covariance, strict=True):
            t.mean, t.covariance = m, c

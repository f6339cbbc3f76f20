"""Box geometry of INT8 recipes against fp32 on real frames, and what each recipe costs in speed.

    flock /work/notes/bench.lock .venv/bin/python bench/int8_boxes.py [--recipes v1,current] [--per-scene 3]

Speeds are measured from the bottom-centre of a road user's box across frames, so what matters in a
quantized detector is not only whether it finds fp32's boxes (IoU) but how far its bottom edge and
centre x move. For every recipe (the variants below; "current" is detection.quantize.RECIPE) the model
is made (cached under --models by its inputs key), run beside fp32 on the same letterboxed frames, and
each fp32 box is matched to the int8 box of its class with the highest IoU (>= 0.5). Per matched box,
in frame pixels: the bottom edge's error and the centre x's error (mean of the absolute value, its
p95, and the signed mean, a bias); and the same for the motion of a road user's box between two
consecutive frames (int8's against fp32's), which is what a speed is made of. Two frame sets, reported
apart: the bundled clips (pairs of consecutive frames, every 4th) with bus.jpg, and pairs of
consecutive frames spread evenly over each dev scenario (never the test split).

Speed: bare ONNX Runtime loops (one intra-op thread, spinning off, normalise + run) over the same
frames, fp32 and the recipe taking turns, with the load average; fps and the ratio int8 / fp32.

Measured 2026-11-30 on clips+bus 61 frames (359 fp32 boxes) / dev 450 frames (783 boxes), errors in
pixels; the machine was loaded by other jobs (load average 7-9 on 2 cores), so the fps ratios are
rough: two runs, v1 and cv2float in turn, at load 7.1-7.6; cv2float+m0 once at 8.3.
    recipe        agree clips/dev  bottom mean/p95 dev  motion bottom p95 clips/dev  motion cx p95 dev  int8/fp32
    v1            0.975 / 0.951    0.43 / 1.24          1.23 / 1.78                   1.37              2.05-2.18x
    cv2float      0.975 / 0.950    0.40 / 1.20          1.10 / 1.56                   1.23              1.71-1.82x
    m0float       0.972 / 0.939    0.42 / 1.46          1.04 / 1.94                   1.28              -
    cv2float+m0   0.972 / 0.939    0.40 / 1.49          1.03 / 1.94                   1.25              (2.09x)
    2clips60      0.955 / 0.944    0.46 / 1.51          1.19 / 1.57                   1.55              -
    reduce_range  0.916 / -        clips 0.51 / 1.29    1.37 / -                      -                 -
    percentile    0.950 / -        clips 0.35 / 1.51    1.70 / -                      -                 -
No variant moves the geometry by more than the sampling noise except for the worse (reduce_range,
Percentile); keeping the box branch (cv2) in float gains 5-12 % on dev for 15 % of int8's speed, and
on the dev split's speeding scenes its speeds differ from v1's by at most 0.43 km/h (error max 3.1 %
against v1's 2.5 %), so the recipe stays v1.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import cv2  # noqa: E402
import django  # noqa: E402
import numpy as np  # noqa: E402

django.setup()

import onnxruntime as ort  # noqa: E402

from cameras.config import ROAD_USER_CLASSES  # noqa: E402
from detection import quantize  # noqa: E402
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK, YOLO_WEIGHTS, bundled_image, verify  # noqa: E402
from detection.boxmatch import Agreement, Pair  # noqa: E402
from detection.clipframes import clip_images  # noqa: E402
from detection.detector import Box, postprocess  # noqa: E402
from detection.letterbox import Image, Letterbox, letterbox, to_blob  # noqa: E402
from detection.scenarios.format import scenario_folders  # noqa: E402

CONFIDENCE = 0.25  # as tests/test_int8.py: low, where a quantized model drifts first
_FLOAT_CV2 = ("/model.22/cv2.",)  # the box branch: DFL logits of the four box sides
_BOTH_CLIPS = (CLIP_CARS_TRUCK, CLIP_CARS_CYCLIST)
V1 = quantize.RECIPE_V1
VARIANTS: dict[str, quantize.Recipe] = {
    "v1": V1,
    "cv2float": dataclasses.replace(V1, version=2, float_prefixes=_FLOAT_CV2),
    "cv2float+m0": dataclasses.replace(V1, version=2, float_prefixes=(*_FLOAT_CV2, "/model.0/")),
    "m0float": dataclasses.replace(V1, version=2, float_prefixes=("/model.0/",)),
    "2clips60": dataclasses.replace(V1, version=2, clips=_BOTH_CLIPS, frames_per_clip=60),
    "cv2float+2clips60": dataclasses.replace(V1, version=2, clips=_BOTH_CLIPS, frames_per_clip=60,
                                             float_prefixes=_FLOAT_CV2),
    "reduce_range": dataclasses.replace(V1, version=2, reduce_range=True),
    # Histogram calibration keeps every activation of every frame in memory: 16 frames per clip.
    "percentile": dataclasses.replace(V1, version=2, frames_per_clip=16, calibration="Percentile"),
    "percentile99.99": dataclasses.replace(V1, version=2, frames_per_clip=16, calibration="Percentile",
                                           percentile=99.99),
    "percentile+2clips": dataclasses.replace(V1, version=2, clips=_BOTH_CLIPS, frames_per_clip=16,
                                             calibration="Percentile"),
    "current": quantize.RECIPE,
}  # fmt: skip


@dataclass(frozen=True)
class Frame:
    canvas: Image
    box: Letterbox
    follows: bool = False  # the next frame of the same video after the frame before it in its list


def clip_frames(every: int) -> list[Frame]:
    """bus.jpg, and from each bundled clip every ``every``-th frame with the frame after it."""
    frames = [Frame(*letterbox(np.asarray(cv2.imread(str(bundled_image())), dtype=np.uint8)))]
    for clip in _BOTH_CLIPS:
        for index, image in enumerate(clip_images(clip)):
            if index % every in (0, 1):
                frames.append(Frame(*letterbox(np.asarray(image, dtype=np.uint8)), follows=index % every == 1))
    return frames


def dev_frames(split: Path, per_scene: int) -> list[Frame]:
    """``per_scene`` frames spread evenly over each scenario's video (the first and last excluded:
    road users are often still entering or gone), each with the frame after it."""
    frames = []
    for folder in scenario_folders([str(split)]):
        cap = cv2.VideoCapture(str(folder / "video.mp4"))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for pick in np.linspace(0, count - 1, per_scene + 2).round().astype(int)[1:-1]:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(pick))
            for follows in (False, True):
                ok, image = cap.read()
                if ok:
                    frames.append(Frame(*letterbox(np.asarray(image, dtype=np.uint8)), follows=follows))
        cap.release()
    return frames


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def detections(model: ort.InferenceSession, frames: list[Frame]) -> list[list[Box]]:
    out = []
    for frame in frames:
        (output,) = model.run(None, {"images": to_blob(frame.canvas)})
        out.append(postprocess(output, frame.box, confidence=CONFIDENCE, classes=ROAD_USER_CLASSES))
    return out


def fps(fp32_path: Path, int8_path: Path, frames: list[Frame], rounds: int = 3) -> tuple[float, float]:
    """Bare loops, one thread each: letterboxed canvas to blob to run, as the detector does per frame.
    fp32 and int8 take turns in ``rounds`` rounds, so that load from other processes falls on both alike."""
    models = [session(fp32_path, 1), session(int8_path, 1)]
    seconds = [0.0, 0.0]
    for model in models:
        for frame in frames[:3]:
            model.run(None, {"images": to_blob(frame.canvas)})
    for _ in range(rounds):
        for index, model in enumerate(models):
            started = time.perf_counter()
            for frame in frames:
                model.run(None, {"images": to_blob(frame.canvas)})
            seconds[index] += time.perf_counter() - started
    return rounds * len(frames) / seconds[0], rounds * len(frames) / seconds[1]


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--recipes",
        default="v1,current",
        help=f"comma-separated: {', '.join(VARIANTS)}, "
        "or float:PREFIX[+PREFIX] (v1 with the nodes under those name prefixes in float)",
    )
    parser.add_argument("--dev", type=Path, default=Path("/work/scenes/dev"), help="the dev split's folder")
    parser.add_argument(
        "--per-scene", type=int, default=3, help="pairs of consecutive frames per dev scenario (0: none)"
    )
    parser.add_argument("--no-clips", action="store_true", help="only the dev frames")
    parser.add_argument("--clip-every", type=int, default=4, help="every Nth frame pair of the bundled clips")
    parser.add_argument("--fps-frames", type=int, default=20, help="frames per timed round (0: no timing)")
    parser.add_argument("--fps-only", action="store_true", help="only the timing, no comparison of boxes")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for the accuracy pass")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "trafficsite" / "bench-int8")
    args = parser.parse_args()
    if "scenes/test" in str(args.dev.resolve()):
        parser.error("the test split is held out: measure on the dev split")
    names = args.recipes.split(",")
    for name in names:
        if name.startswith("float:"):
            VARIANTS[name] = dataclasses.replace(V1, version=2, float_prefixes=tuple(name[6:].split("+")))
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}: one of {', '.join(VARIANTS)}")

    sets = {"dev": dev_frames(args.dev, args.per_scene)} if args.per_scene else {}
    if not args.no_clips:
        sets = {"clips+bus": clip_frames(args.clip_every), **sets}
    print(f"frames: {', '.join(f'{name} {len(frames)}' for name, frames in sets.items())}")
    fp32_path = verify(YOLO_WEIGHTS)
    fp32 = session(fp32_path, args.threads)
    reference = {} if args.fps_only else {name: detections(fp32, frames) for name, frames in sets.items()}
    every = [frame for frames in sets.values() for frame in frames]
    timed = every[:: max(1, len(every) // max(args.fps_frames, 1))][: args.fps_frames]
    for name in names:
        recipe = VARIANTS[name]
        started = time.perf_counter()
        path = quantize.build_int8(args.models, r=recipe)
        print(f"\n{name}: {path.name} (made or checked in {time.perf_counter() - started:.0f} s) {recipe}")
        int8 = session(path, args.threads)
        for set_name, refs in reference.items():  # none with --fps-only
            frames, errors = sets[set_name], Agreement()
            before: list[Pair] = []
            for frame, ref, got in zip(frames, refs, detections(int8, frames), strict=True):
                pairs = errors.add(ref, got, frame.box.width, frame.box.height)
                if frame.follows:
                    errors.add_step(before, pairs, frame.box.width, frame.box.height)
                before = pairs
            print(f"  {set_name}: " + "\n    ".join(errors.lines()))
        if timed:
            fp32_fps, int8_fps = fps(fp32_path, path, timed)
            print(
                f"  speed, 1 thread, {len(timed)} frames x 3: int8 {int8_fps:.1f} fps, fp32 {fp32_fps:.1f} fps, "
                f"{int8_fps / fp32_fps:.2f}x ({load()})"
            )


if __name__ == "__main__":
    main()

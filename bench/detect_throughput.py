"""Throughput of the whole detect path against bare ONNX Runtime loops, and cameras per box, in one run.

    .venv/bin/python bench/detect_throughput.py [--passes 3] [--cameras 4,8,10,12,16] [--seconds 20]
    .venv/bin/python bench/detect_throughput.py --only-idle [--seconds 10] [--repeat 3]   (part 4 alone)

1. Where a frame's time goes: each step of the path timed alone, in one process, on the clip frames.
2. Baselines: ``onnxruntime.InferenceSession.run`` over the same frames (letterbox + normalise +
   run; no NMS), one process per core with one thread each, for the fp32 and the int8 model on the
   640x640 canvas they were exported for (the issue's "bare" loops), and for the precision and canvas
   our path runs (by default the machine's precision, core/cpu.py, on the rect canvas: the frame
   padded to a multiple of 32 only, detection/model_shape.py): the limit of what we run, so that
   ``ratio ours / bare fp32 rect parallel`` (or int8 rect) says what share of it we reach.
3. Ours: the camera loop (the frame shrunk and stored in Redis, a Celery task per frame, a real
   detect worker as deployed (core/processes.py) with the default precision, results back and reordered, then the
   tracker), over the same frames, one worker slot per core with one ONNX Runtime thread each; with
   the CPU each side spent per frame (a measure that load from other processes disturbs less).
4. The CPU share of one idle camera (a static 800x600 20 fps H.264 scene, motion gate on) over 10 s: a
   street with parked road users (a still frame detected every second) and an empty one (every 10 s).
5. Cameras per box: N cameras on the demo street clip as H.264 (looped in real time, 5 detect fps, motion gate
   on) under the real capture supervisor against one detect worker, for fp32 and int8; the most N with
   under 1 % of the sampled frames dropped, and the PSS of capture, of one camera process, of the
   worker, and of the whole system (with the other processes of ./run, measured idle once).
Prints the load average with the numbers: on a shared machine, numbers under load mean little.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/14); uses a throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
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
import numpy as np  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from cameras.config import ROAD_USER_CLASSES  # noqa: E402
from cameras.models import Camera  # noqa: E402
from cameras.sources import parse_source  # noqa: E402
from core.health import ping_queues  # noqa: E402
from core.processes import DETECT_PREFETCH, PROCESSES, Options, detect_processes, detect_worker_argv  # noqa: E402
from core.redisclient import get_redis  # noqa: E402
from core.topology import QUEUES  # noqa: E402
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK  # noqa: E402
from detection.capture.camera import CameraLoop, CaptureSettings  # noqa: E402
from detection.capture.reader import FrameReader, ReaderConfig  # noqa: E402
from detection.clipframes import clip_images  # noqa: E402
from detection.detector import decode_frame, detect, detect_letterboxed, load_session, model_path  # noqa: E402
from detection.farfield import Tile  # noqa: E402
from detection.framecodec import encode  # noqa: E402
from detection.letterbox import Letterbox, to_blob  # noqa: E402
from detection.letterbox import letterbox as letterbox_frame  # noqa: E402
from detection.model_shape import EXPORTED_SIZE, resized_model  # noqa: E402
from detection.tracking import CameraTracker  # noqa: E402


def decoded_frames(passes: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    for clip in (CLIP_CARS_TRUCK, CLIP_CARS_CYCLIST):
        frames += clip_images(clip)
    return frames * passes


def blob(image: np.ndarray, canvas: str = "square") -> np.ndarray:
    return to_blob(letterbox_frame(image, canvas=canvas)[0])


def session_for(precision: str, canvas: str, frame: np.ndarray, options: object) -> object:
    """An ONNX Runtime session of the model for the canvas a frame of this size gets."""
    import onnxruntime as ort

    box = Letterbox.of(frame.shape[1], frame.shape[0], canvas=canvas)
    path = model_path(precision)
    model: str | bytes = str(path)
    if (box.canvas_width, box.canvas_height) != EXPORTED_SIZE:
        model = resized_model(path.read_bytes(), box.canvas_width, box.canvas_height)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def profile(frames: list[np.ndarray]) -> list[tuple[str, float]]:
    """Milliseconds per frame of each step of the path, timed alone (one process, one thread)."""
    from detection.capture.motion import MotionGate

    sample = frames[: min(len(frames), 60)]
    redis = get_redis()
    steps: list[tuple[str, float]] = []

    def timed(name: str, fn: object) -> list[object]:
        started = time.perf_counter()
        out = [fn(item) for item in inputs]  # type: ignore[operator]
        steps.append((name, (time.perf_counter() - started) * 1000 / len(inputs)))
        return out

    inputs: list[object] = list(sample)
    gate = MotionGate(0.002)
    timed("motion gate (96x72 thumbnail)", gate.has_motion)
    timed("JPEG encode, full frame q90 (before)", lambda im: cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90]))
    jpegs = [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for im in sample]
    raws = timed("shrink to 640 + raw pack (now)", lambda im: encode(im, "raw"))
    inputs = list(jpegs)
    timed("Redis SET+GET/DEL, full JPEG (before)", lambda b: (redis.set("bench:p", b), redis.getdel("bench:p")))
    timed("JPEG decode, full frame (before)", decode_frame)
    inputs = list(raws)
    timed("Redis SET+GET/DEL, raw 640 (now)", lambda b: (redis.set("bench:p", b), redis.getdel("bench:p")))
    smalls = timed("raw unpack (now)", decode_frame)
    inputs = list(sample)
    timed("letterbox full frame (before: in the worker)", letterbox_frame)
    inputs = list(smalls)
    squares = timed("letterbox = pad the 640 frame to 640x640", letterbox_frame)
    boxed = timed("letterbox = pad the 640 frame to rect (now)", lambda im: letterbox_frame(im, canvas="rect"))
    for canvas, padded in (("640x640", squares), ("rect", boxed)):
        inputs = [b[0] for b in padded]  # type: ignore[index]
        blobs = timed(f"to blob (RGB, CHW, /255), {canvas}", to_blob)
        for precision in ("fp32", "int8"):
            first = padded[0][1]  # type: ignore[index]
            session = load_session(precision, (first.canvas_width, first.canvas_height))
            inputs = list(blobs)
            timed(f"model, {precision}, {canvas}", lambda b, s=session: s.run(None, {"images": b}))
    inputs = [(b[0], b[1]) for b in boxed]  # type: ignore[index]
    detections = timed(
        f"model + NMS + boxes, {settings.DETECT_PRECISION}, rect",
        lambda cb: detect_letterboxed(cb[0], cb[1], confidence=0.4, classes=ROAD_USER_CLASSES),
    )
    # A calibrated camera's far field (detection/farfield.py): the same frames whole, with the tile of a
    # generated scene's 4:3 rig (its far road enlarged 2.1x, a 352x352 canvas), against without.
    inputs = list(sample)
    timed(f"detect, full frame, no far field, {settings.DETECT_PRECISION}, rect",
          lambda im: detect(im, confidence=0.4, classes=ROAD_USER_CLASSES))  # fmt: skip
    tile = Tile(0.3415, 0.1489, 0.6059, 0.4776, 352)
    timed(f"detect, full frame + far-field tile, {settings.DETECT_PRECISION}, rect",
          lambda im: detect(im, confidence=0.4, classes=ROAD_USER_CLASSES, tile=tile))  # fmt: skip
    tracker = CameraTracker(20.0)
    inputs = [(i / 20, d.boxes) for i, d in enumerate(detections)]  # type: ignore[attr-defined]
    timed("ByteTrack update", lambda tb: tracker.update(tb[0], tb[1]))
    return steps


def _bare_share(args: tuple[str, str, str, int, int]) -> tuple[float, float]:
    """One process of the parallel baseline: its share of the clip's frames, one ORT thread.
    Returns (frames per second, CPU seconds per frame)."""
    import onnxruntime as ort

    precision, canvas, clip, index, count = args
    cap = cv2.VideoCapture(clip)
    frames = []
    while (read := cap.read())[0]:
        frames.append(read[1])
    frames = frames[index::count]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session: ort.InferenceSession = session_for(precision, canvas, frames[0], options)
    session.run(None, {"images": blob(frames[0], canvas)})
    started, cpu = time.perf_counter(), time.process_time()
    for image in frames:
        session.run(None, {"images": blob(image, canvas)})
    return len(frames) / (time.perf_counter() - started), (time.process_time() - cpu) / len(frames)


def bare_parallel(clip: Path, precision: str, processes: int, canvas: str = "square") -> tuple[float, float]:
    """Bare ORT loops, one per core at once, one thread each: the most this machine gets from the model.
    Returns (frames per second of them all, CPU milliseconds per frame)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        shares = list(pool.map(_bare_share, [(precision, canvas, str(clip), i, processes) for i in range(processes)]))
    return sum(fps for fps, _ in shares), 1000 * sum(cpu for _, cpu in shares) / len(shares)


def write_clip(frames: list[np.ndarray], path: Path, fps: float = 20.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def write_camera_clip(image: np.ndarray, path: Path, seconds: float = 20.0, fps: float = 20.0) -> Path:
    """A still scene encoded as an IP camera streams it: H.264 without B-frames, a key frame every 2 s."""
    still = path.with_suffix(".png")
    cv2.imwrite(str(still), image)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(still), "-t", str(seconds), "-r", str(fps),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0", "-g", str(round(2 * fps)), str(path)],
                   check=True)  # fmt: skip
    return path


def empty_street() -> np.ndarray:
    """The cyclist clip's street with nobody on it: the median of its frames (each road user passes, the
    road stays), in which YOLO finds no road user at the default threshold."""
    median = np.median(np.stack(list(clip_images(CLIP_CARS_CYCLIST))), axis=0)
    return np.asarray(median, dtype=np.uint8)


def idle_stills(first_frame: np.ndarray) -> dict[str, Path]:
    """The two idle cameras: a still street with parked road users (they must stay tracked, so a still
    frame goes every MOTION_KEEPALIVE_S) and an empty one (every MOTION_KEEPALIVE_EMPTY_S)."""
    return {
        "road users parked in view": write_camera_clip(first_frame, WORK / "videos" / "still.mp4"),
        "empty street": write_camera_clip(empty_street(), WORK / "videos" / "empty.mp4"),
    }


def start_worker(processes: int, threads: int, prefetch: int, precision: str) -> subprocess.Popen[bytes]:
    """The detect worker as deployed (core/processes.py: its pool, preload and prefetch)."""
    argv = detect_worker_argv(f"bench-{precision}", processes, "--without-gossip", "--without-mingle",
                              loglevel="WARNING")  # fmt: skip
    if prefetch != DETECT_PREFETCH:
        argv += ["--prefetch-multiplier", str(prefetch)]  # the last one given wins
    env = {**os.environ, "DETECT_THREADS": str(threads), "DETECT_PRECISION": precision,
           "DETECT_CANVAS": settings.DETECT_CANVAS}  # fmt: skip
    proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env)
    answers = ping_queues(("detect",), timeout_s=90)
    if not answers["detect"]["ok"]:
        proc.kill()
        raise SystemExit("the detect worker did not start")
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def our_path(clip: Path, n_frames: int, in_flight: int, tasks_in_flight: int) -> float:
    camera = Camera.objects.create(
        name=f"bench-{time.time()}", source_url=str(clip), detect_fps=20.0, motion_gate=False, classes=ROAD_USER_CLASSES
    )
    reader = FrameReader(
        parse_source(camera.source_url),
        ReaderConfig(fps=20.0, realtime=False, loop_files=False, drop_when_busy=False),
        str(camera.pk),
    )
    capture = CaptureSettings(
        max_in_flight=in_flight,
        result_timeout_s=30,
        motion_keepalive_s=1,
        stall_timeout_s=30,
        wait_when_full=True,
        max_tasks_in_flight=tasks_in_flight,
    )
    done = []

    class Count:
        def process(self, frame):  # type: ignore[no-untyped-def]
            done.append(frame.seq)
            return []

    worker = CameraLoop(camera, session="bench", reader=reader, rules=Count(), capture=capture)
    started = time.perf_counter()
    worker.run(threading.Event())
    elapsed = time.perf_counter() - started
    if len(done) != n_frames or done != sorted(done):
        raise SystemExit(f"ours processed {len(done)} of {n_frames} frames (ordered: {done == sorted(done)})")
    print(f"  ours: {worker.counts['batched']} of {n_frames} frames went several to a detect task")
    return n_frames / elapsed


def idle_camera_cpu(still: Path, seconds: float = 10.0) -> float:
    from detection.capture.process import single_threaded_opencv

    camera = Camera.objects.create(
        name=f"idle-{time.time()}", source_url=str(still), detect_fps=5.0, motion_gate=True, classes=ROAD_USER_CLASSES
    )
    reader = FrameReader(parse_source(camera.source_url), ReaderConfig(fps=5.0), str(camera.pk))
    worker = CameraLoop(camera, session="idle", reader=reader, capture=CaptureSettings.from_settings())
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    threads = cv2.getNumThreads()
    single_threaded_opencv()  # as in a camera process (detection/capture/process.py)
    thread.start()
    time.sleep(2.0)  # connected and steady
    cpu0, wall0, tasks0 = time.process_time(), time.perf_counter(), _thread_cpu_s()
    time.sleep(seconds)
    wall = time.perf_counter() - wall0
    share = (time.process_time() - cpu0) / wall
    by_thread = {name: (cpu - tasks0.get(name, 0.0)) / wall for name, cpu in _thread_cpu_s().items()}
    stop.set()
    thread.join()
    cv2.setNumThreads(threads)
    print(f"  idle camera sent {worker.counts['sent']} keep-alive frames, skipped {worker.counts['static']} static; "
          f"by thread: reader {by_thread.get(reader.native_id or 0, 0) * 100:.2f} %, camera loop "
          f"{by_thread.get(thread.native_id or 0, 0) * 100:.2f} %, others "
          f"{(share - sum(by_thread.get(t.native_id or 0, 0) for t in (reader, thread))) * 100:.2f} %")  # fmt: skip
    return share


def _thread_cpu_s() -> dict[int, float]:
    """CPU seconds of each thread of this process so far, by native thread id (scheduler nanoseconds)."""
    spent = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            spent[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
    return spent


def idle_only(args: argparse.Namespace) -> None:
    """--only-idle: the idle cameras' CPU share alone (the first frame of the bench clip, and the empty street)."""
    (WORK / "videos").mkdir()
    first = [next(iter(clip_images(CLIP_CARS_TRUCK)))]
    cap = cv2.VideoCapture(str(write_clip(first, WORK / "videos" / "bench.mp4")))
    stills = idle_stills(cap.read()[1])
    cap.release()
    worker = start_worker(args.processes, 1, args.prefetch, "int8")
    try:
        shares = {scene: [idle_camera_cpu(still, args.seconds) for _ in range(args.repeat)]
                  for scene, still in stills.items()}  # fmt: skip
    finally:
        stop_worker(worker)
    for scene, values in shares.items():
        print(f"idle camera CPU (800x600 20 fps, motion gate, {scene}): {' '.join(f'{v * 100:.2f}' for v in values)} "
              f"% of one core")  # fmt: skip
    print(f"load average {os.getloadavg()}")


def pss_mb(pid: int) -> float:
    """Proportional set size of a process and its children: shared pages counted once over all."""
    total = 0
    for child in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    """Every descendant: the children of each thread (a camera's clip recorder starts its ffmpeg from one)."""
    direct: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            direct += [int(p) for p in (task / "children").read_text().split()]
    return [c for d in direct for c in (d, *_children(d))]


def _cameras_in(pid: int) -> list[int]:
    """The camera processes of a capture supervisor: the fork server's children."""
    return [c for c in _children(pid) if "forkserver" in _cmdline(c) and _cmdline(_parent(c)) == _cmdline(c)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class CamerasRun:
    dropped_share: float
    pss_capture: float  # the supervisor, its fork server and the camera processes (with their ffmpeg)
    pss_per_camera: float  # the mean PSS of one camera process with its children


def cameras_run(street: Path, n: int, seconds: float) -> CamerasRun:
    """N cameras under the real capture supervisor (``manage.py run_cameras``, as ./run starts it); the
    share of sampled frames dropped comes from the cameras' own metrics (multiprocess files)."""
    Camera.objects.all().delete()
    ids = [
        Camera.objects.create(name=f"box-{n}-{i}", source_url=str(street), detect_fps=5.0, motion_gate=True,
                              classes=ROAD_USER_CLASSES).pk
        for i in range(n)
    ]  # fmt: skip
    metrics_dir = Path(tempfile.mkdtemp(prefix="metrics-", dir=WORK))
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env.pop("METRICS_PORT", None)
    supervisor = subprocess.Popen([sys.executable, "manage.py", "run_cameras"], cwd=BASE_DIR, env=env)
    try:
        deadline = time.monotonic() + 60  # the run starts when every camera process does
        while len(_cameras_in(supervisor.pid)) < n and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(min(seconds * 0.75, seconds - 2))
        cameras = _cameras_in(supervisor.pid)
        pss_capture = pss_mb(supervisor.pid)
        per_camera = sum(pss_mb(c) for c in cameras) / max(len(cameras), 1)
        time.sleep(seconds - min(seconds * 0.75, seconds - 2))
    finally:
        supervisor.terminate()
        supervisor.wait(60)
    from prometheus_client import CollectorRegistry
    from prometheus_client import multiprocess as prom_multiprocess

    registry = CollectorRegistry()
    prom_multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    sampled = dropped = 0.0
    for camera_id in map(str, ids):
        sampled += registry.get_sample_value("trafficsite_frames_sampled_total", {"camera": camera_id}) or 0.0
        for reason in ("reader", "backpressure", "lost"):
            labels = {"camera": camera_id, "reason": reason}
            dropped += registry.get_sample_value("trafficsite_frames_dropped_total", labels) or 0.0
    if len(cameras) != n:
        print(f"  (only {len(cameras)} of {n} camera processes were running when measured)")
    return CamerasRun(dropped / max(sampled, 1), pss_capture, per_camera)


def rest_of_system_pss() -> dict[str, float]:
    """PSS of the processes ./run starts besides capture and the detect worker, idle: web, the llm,
    alerts and maintenance workers, beat and Flower (each from the process table, core/processes.py)."""
    import socket

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    options = Options(host="127.0.0.1", port=free_port(), beat_schedule=str(WORK / "celerybeat-schedule"))
    base = {**os.environ, "FLOWER_ADDRESS": "127.0.0.1", "FLOWER_PORT": str(free_port()),
            "FLOWER_BASIC_AUTH": "bench:bench-only-password"}  # fmt: skip
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for spec in PROCESSES:
            if spec.name in ("capture", "worker-detect"):
                continue
            env = spec.environ({**spec.env, **base})
            procs[spec.name] = subprocess.Popen(spec.argv(options, env), cwd=BASE_DIR, env=env,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        # Started: the workers answer a ping and web its health check; then their pools settle.
        answers = ping_queues(tuple(q for q in QUEUES if q != "detect"), timeout_s=120)
        web = f"http://127.0.0.1:{options.port}/healthz"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(web, timeout=2).close()
                break
            time.sleep(1)
        time.sleep(5)
        missing = [q for q, a in answers.items() if not a["ok"]]
        if missing:
            print(f"  (no worker answered on {', '.join(missing)}: their PSS is of a process still starting)")
        return {name: pss_mb(proc.pid) if proc.poll() is None else float("nan") for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def n_before(n: int, counts: list[int]) -> int:
    """The camera count tried before ``n`` (0 for the first): carried counts must follow each other."""
    index = counts.index(n)
    return counts[index - 1] if index else 0


def cameras_per_box(street: Path, args: argparse.Namespace) -> None:
    rest = rest_of_system_pss()
    pss_rest = sum(v for v in rest.values() if v == v)
    print("the rest of the system, idle (PSS): " + ", ".join(f"{k} {v:.0f} MB" for k, v in rest.items())
          + f"; {pss_rest:.0f} MB in all")  # fmt: skip
    print(f"cameras per box: demo street clip, 5 detect fps, motion gate on, {args.seconds:.0f} s each, "
          f"{args.processes} detect worker slots x 1 thread, cameras under the real capture supervisor")  # fmt: skip
    print(f"  {'precision':9} {'cameras':>7} {'dropped':>8} {'PSS capture':>12} {'per camera':>11} "
          f"{'PSS worker':>11} {'PSS system':>11}")  # fmt: skip
    for precision in ("fp32", "int8"):
        worker = start_worker(args.processes, 1, args.prefetch, precision)
        carried = 0
        try:
            for n in args.cameras:
                run = cameras_run(street, n, args.seconds)
                pss_worker = pss_mb(worker.pid)
                system = run.pss_capture + pss_worker + pss_rest
                print(f"  {precision:9} {n:7d} {run.dropped_share * 100:7.2f}% {run.pss_capture:9.0f} MB "
                      f"{run.pss_per_camera:8.0f} MB {pss_worker:8.0f} MB {system:8.0f} MB  "
                      f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
                if run.dropped_share >= 0.01:
                    if not args.keep_going:
                        break
                elif carried == n_before(n, args.cameras):
                    carried = n
        finally:
            stop_worker(worker)
        print(f"  {precision}: carries {carried} cameras (the most tried, and every count below it, with under 1 % "
              "dropped)")  # fmt: skip
    print("  PSS capture: the supervisor, its fork server and the camera processes with their clip recorders;"
          " PSS system: capture + the detect worker + the rest of the system above")  # fmt: skip


def make_street(street: Path) -> None:
    """The demo street scene as an IP camera streams it (H.264, no B-frames): the clip cache then copies
    packets, as it does for real cameras, instead of re-encoding the generator's MPEG-4 in every camera
    process."""
    from detection.scenarios.library import DEMO

    with open(os.devnull, "w") as quiet:
        call_command("make_scenarios", str(street.parent.parent), "--only", DEMO, stdout=quiet)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(street.with_name("video.mp4")), "-an", "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "40", str(street)],
                   check=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=3, help="times the two clips are repeated")
    cores = os.cpu_count() or 1
    parser.add_argument("--processes", type=int, default=detect_processes(), help="detect worker pool processes")
    parser.add_argument("--in-flight", type=int, default=2 * cores, help="K: detections in flight per camera")
    parser.add_argument(
        "--tasks-in-flight",
        type=int,
        default=settings.CAPTURE_MAX_TASKS_IN_FLIGHT,
        help="detect tasks in flight per camera before frames go several to a task (0: never)",
    )
    parser.add_argument("--prefetch", type=int, default=DETECT_PREFETCH, help="the detect worker's prefetch multiplier")
    parser.add_argument("--cameras", type=lambda v: [int(n) for n in v.split(",")], default=[4, 8, 10, 12, 16],
                        help="camera counts to try, ascending (stops at the first over 1 %% dropped)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each cameras-per-box run")
    parser.add_argument(
        "--no-cameras", action="store_true", help="skip the cameras-per-box table (and the demo street it needs)"
    )
    parser.add_argument("--keep-going", action="store_true",
                        help="try every camera count, past the first over 1 %% dropped (for PSS)")  # fmt: skip
    parser.add_argument("--only-idle", action="store_true",
                        help="only the idle camera's CPU share, --repeat times, over --seconds each")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="with --only-idle: how many idle windows")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    get_redis().flushdb()
    if args.only_idle:
        idle_only(args)
        return
    frames = decoded_frames(args.passes)
    (WORK / "videos").mkdir()
    clip = write_clip(frames, WORK / "videos" / "bench.mp4")
    # mp4v re-encoding changes pixels slightly; both sides get the frames decoded from this file.
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    stills = idle_stills(frames[0])
    from detection.scenarios.library import DEMO

    street = WORK / "videos" / DEMO / "camera.mp4"
    if not args.no_cameras:
        make_street(street)
    print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, {cores} cores, "
          f"load average at start {os.getloadavg()}")  # fmt: skip

    print("where a frame's time goes (ms per frame, each step alone, one thread):")
    for name, ms in profile(frames):
        print(f"  {name:46} {ms:7.2f}")
    bare_runs = {p: bare_parallel(clip, p, args.processes) for p in ("fp32", "int8")}
    ours_precision = settings.DETECT_PRECISION  # the machine's default (auto: int8 only with a dot product)
    limit = f"{ours_precision} {settings.DETECT_CANVAS}"  # the model and canvas our path runs
    if limit not in bare_runs:
        bare_runs[limit] = bare_parallel(clip, ours_precision, args.processes, settings.DETECT_CANVAS)
    bare = {p: fps for p, (fps, _) in bare_runs.items()}
    worker = start_worker(args.processes, 1, args.prefetch, ours_precision)
    try:
        cpu_before = (cpu_s(worker.pid), time.process_time())
        ours = our_path(clip, len(frames), args.in_flight, args.tasks_in_flight)
        worker_ms, camera_ms = ((cpu_s(worker.pid) - cpu_before[0]) * 1000 / len(frames),
                                (time.process_time() - cpu_before[1]) * 1000 / len(frames))  # fmt: skip
        idle = {scene: idle_camera_cpu(still) for scene, still in stills.items()}
    finally:
        stop_worker(worker)
    for precision, fps in bare.items():
        canvas = "" if " " in precision else " 640x640"
        print(f"bare onnxruntime {precision}{canvas}, {args.processes} processes x 1 thread: {fps:6.1f} fps")
    print(f"our detect path ({limit} canvas, {args.processes} worker slots x 1 thread, K={args.in_flight}, "
          f"batching after {args.tasks_in_flight or 'no'} tasks in flight, prefetch {args.prefetch}): "
          f"{ours:6.1f} fps")  # fmt: skip
    # CPU per frame is what the ratios come to on an idle machine; on a loaded one, wall-clock fps
    # favour whichever side runs more processes (each gets its share of the cores).
    ours_ms = worker_ms + camera_ms
    print(f"  CPU per frame: ours {ours_ms:.1f} ms (detect worker {worker_ms:.1f}, camera process "
          f"{camera_ms:.1f}; Redis not counted), bare int8 {bare_runs['int8'][1]:.1f}, "
          f"bare fp32 {bare_runs['fp32'][1]:.1f}, bare {limit} {bare_runs[limit][1]:.1f}")  # fmt: skip
    print(f"  by CPU per frame: ours / bare int8 {bare_runs['int8'][1] / ours_ms:.2f}, "
          f"ours / bare fp32 {bare_runs['fp32'][1] / ours_ms:.2f}, "
          f"ours / bare {limit} {bare_runs[limit][1] / ours_ms:.2f}")  # fmt: skip
    print(f"ratio ours / bare int8 parallel: {ours / bare['int8']:.2f}")
    print(f"ratio ours / bare fp32 parallel: {ours / bare['fp32']:.2f}")
    print(f"ratio ours / bare {limit} parallel: {ours / bare[limit]:.2f}")
    for scene, share in idle.items():
        print(f"idle camera CPU (800x600 20 fps, motion gate, {scene}): {share * 100:.1f} % of one core")
    print(f"load average after the throughput runs {os.getloadavg()}")
    if not args.no_cameras:
        cameras_per_box(street, args)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
